import ArgumentParser
import Configuration
import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceGateway
import SluiceManagement
import SystemPackage

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "An event-native API gateway: message brokers behind HTTP, SSE and WebSocket.",
        subcommands: [Serve.self, Validate.self, Catalog.self])
}

/// Options shared by commands that read gateway settings.
struct SettingsOptions: ParsableArguments {
    @Option(name: .long, help: "A settings file (JSON or YAML) with keys such as http.port, log.level.")
    var settings: String?

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (default 8082).")
    var port: Int?

    @Option(name: .long, help: "PEM certificate chain for TLS on the listener.")
    var tlsCertificate: String?

    @Option(name: .long, help: "PEM private key for TLS on the listener.")
    var tlsKey: String?

    @Option(name: .long, help: "Largest request body in bytes (default 1048576).")
    var maxBodySize: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: String?

    @Option(name: .long, help: "Address of the management API (default 127.0.0.1).")
    var managementHost: String?

    @Option(name: .long, help: "Port of the management API (default 8083).")
    var managementPort: Int?

    @Option(name: .long, help: "SQLite file of the management API (default sluice.db).")
    var managementDatabase: String?

    @Flag(name: .long, help: "No authentication on the management API (loopback only).")
    var managementOpen = false

    @Flag(name: .long, help: "Do not start the management API.")
    var noManagement = false

    /// Flags first, then SLUICE_* environment variables, then the settings file, then defaults.
    func resolve(configPath: String?) async throws -> GatewaySettings {
        var flags: [AbsoluteConfigKey: ConfigValue] = [:]
        func set(_ key: AbsoluteConfigKey, _ value: String?) {
            if let value { flags[key] = .init(.string(value), isSecret: false) }
        }
        set("http.host", host)
        set("http.port", port.map(String.init))
        set("http.tls.certificate", tlsCertificate)
        set("http.tls.key", tlsKey)
        set("http.maxBodySize", maxBodySize.map(String.init))
        set("log.level", logLevel)
        set("log.format", logFormat)
        set("config.path", configPath)
        set("management.host", managementHost)
        set("management.port", managementPort.map(String.init))
        set("management.database", managementDatabase)
        if managementOpen { set("management.open", "true") }
        if noManagement { set("management.enabled", "false") }
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: flags),
            EnvironmentVariablesProvider().prefixKeys(with: "sluice"),
        ]
        if let settings {
            guard FileManager.default.fileExists(atPath: settings) else {
                throw ValidationError("settings file \(settings) does not exist")
            }
            if settings.lowercased().hasSuffix(".json") {
                providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(settings)))
            } else {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(settings)))
            }
        }
        return try GatewaySettings(config: ConfigReader(providers: providers))
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the APIs defined in a file or directory, redeploying them as the files change.")

    @Option(name: .long, help: "A definition file or a directory of them (JSON or YAML).")
    var config: String?

    @OptionGroup var options: SettingsOptions

    func run() async throws {
        let settings = try await options.resolve(configPath: config)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                settings.logFormat == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "sluice")
        let registry = ApiRegistry(catalog: GatewayCatalog.standard, logger: logger, drainTimeout: settings.drainTimeout, fanOut: settings.fanOut)
        var services: [any Service] = []
        if let path = settings.configPath {
            let watcher = DefinitionWatcher(path: path, registry: registry, interval: settings.watchInterval, logger: logger)
            await watcher.scan()
            services.append(watcher)
        } else if !settings.managementEnabled {
            logger.warning("No --config given and no management API: no API is served")
        }
        // Definition files first: they win over the management API's deployments of the same id.
        var management: (service: ManagementService, store: any ManagementStore)?
        if settings.managementEnabled {
            let shared = PostgresManagementStore.Location.isPostgres(settings.managementDatabase)
            let store: any ManagementStore =
                shared
                ? try await PostgresManagementStore.open(try PostgresManagementStore.Location(url: settings.managementDatabase), logger: logger)
                : try await SQLiteManagementStore.open(path: settings.managementDatabase, logger: logger)
            let started = try await ManagementService.start(
                store: store, registry: registry, adminPassword: ProcessInfo.processInfo.environment["SLUICE_ADMIN_PASSWORD"], logger: logger)
            if let password = started.generatedPassword {
                // Shown once, on the terminal only (never logged): the store keeps only its hash.
                FileHandle.standardError.write(
                    Data(
                        "\nManagement API: user admin, password \(password)\n(shown once; set SLUICE_ADMIN_PASSWORD to choose it)\n\n".utf8))
            }
            management = (started.service, store)
            if shared { services.append(ManagementSynchroniser(service: started.service, interval: settings.managementSyncInterval)) }
            services.append(
                ManagementServer.makeApplication(
                    service: started.service, host: settings.managementHost, port: settings.managementPort, open: settings.managementOpen,
                    logger: logger,
                    onServerRunning: { channel in
                        logger.info(
                            "Management API is listening",
                            metadata: ["address": "\(channel.localAddress?.description ?? "?")", "open": "\(settings.managementOpen)"])
                    }))
        }
        let application = try GatewayServer.makeApplication(
            settings: settings, registry: registry, logger: logger,
            onServerRunning: { channel in
                logger.info(
                    "Sluice is listening",
                    metadata: ["address": "\(channel.localAddress?.description ?? "?")", "tls": "\(settings.tlsCertificatePath != nil)"])
            })
        // Shut down in reverse order: the gateway service first ends every stream, then the
        // watcher stops and the server stops accepting and drains.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: application), .init(service: GatewayService(registry: registry)),
            ] + services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.drainTimeout + .seconds(3)
        try await ServiceGroup(configuration: configuration).run()
        await management?.store.close()
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check API definitions: print every problem with its path and exit 1, or one line per API and exit 0.")

    @Argument(help: "Definition files or directories.")
    var paths: [String]

    func run() async throws {
        let report = ValidationReport.check(paths: paths, validator: DefinitionValidator(catalog: GatewayCatalog.standard))
        for line in report.lines { print(line) }
        if report.errorCount > 0 {
            FileHandle.standardError.write(Data("\(report.errorCount) problem(s) found\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Catalog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every endpoint and entrypoint type with its JSON Schemas.")

    func run() async throws {
        let catalog = GatewayCatalog.standard
        let entries: [JSONValue] =
            catalog.endpoints.keys.sorted().compactMap { catalog.endpoints[$0]?.catalogueEntry }
            + catalog.entrypoints.keys.sorted().compactMap { catalog.entrypoints[$0]?.catalogueEntry }
        print(JSONWriter.string(.array(entries), pretty: true))
    }
}
