import Configuration
import Logging
import SluiceEntrypoints

/// The gateway's own settings. They come, highest first, from command-line flags, `SLUICE_*`
/// environment variables (`SLUICE_HTTP_PORT` for `http.port`), a settings file (JSON or YAML),
/// and these defaults.
public struct GatewaySettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8082
    /// PEM files for TLS on the gateway listener; both or neither.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var maxBodySize = 1 << 20
    /// How long a new connection has to send the head of its first request; past it, the
    /// connection is closed (a client that opens connections and sends nothing, or a head a byte
    /// at a time, holds no connection longer).
    public var requestHeadTimeout: Duration = .seconds(30)
    /// How long a keep-alive connection may stay idle (no request being read or answered, no live
    /// stream) before it is closed: idle connections hold no file descriptor for ever, and a later
    /// request's head sent a byte at a time holds none longer than this.
    public var idleTimeout: Duration = .seconds(60)
    public var webSocketMaxFrameSize = 65_536
    public var webSocketMaxMessageSize = 262_144
    /// A definition file or a directory of them.
    public var configPath: String?
    public var watchInterval: Duration = .seconds(1)
    /// How long open streams get to end at undeploy or shutdown.
    public var drainTimeout: Duration = .seconds(10)
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .text
    /// The management API's own listener; `management.enabled=false` turns it off.
    public var managementEnabled = true
    public var managementHost = "127.0.0.1"
    public var managementPort = 8083
    /// The management store: an SQLite file, or a `postgres://` URL shared by several nodes.
    public var managementDatabase = "sluice.db"
    /// How often a node applies the deployments of a shared (PostgreSQL) store.
    public var managementSyncInterval: Duration = .seconds(2)
    /// No authentication on the management API: allowed only on a loopback address.
    public var managementOpen = false
    /// Live fan-out: each subscriber's buffer and the slow-subscriber timeout.
    public var fanOut = FanOutSettings()

    public enum LogFormat: String, Sendable, CaseIterable {
        case text
        case json
    }

    public init() {}

    /// The settings keys, as they appear in a settings file (dotted) and in the environment
    /// (`SLUICE_` + upper case with `_`).
    public static let keys = [
        "http.host", "http.port", "http.maxBodySize", "http.requestHeadTimeoutMs", "http.idleTimeoutMs", "http.tls.certificate",
        "http.tls.key", "websocket.maxFrameSize", "websocket.maxMessageSize", "config.path", "config.watchIntervalMs",
        "shutdown.drainTimeoutSeconds", "log.level", "log.format", "management.enabled", "management.host", "management.port", "management.database", "management.open",
        "management.syncIntervalMs", "fanOut.subscriberBufferSize", "fanOut.slowSubscriberTimeoutMs",
    ]

    /// Reads the settings from a configuration reader; every bad value is reported at once.
    public init(config: ConfigReader) throws(SettingsError) {
        var problems: [String] = []
        func integer(_ key: String, _ current: Int, minimum: Int, maximum: Int = Int.max) -> Int {
            guard let raw = config.string(forKey: ConfigKey(key)) else {
                if let value = config.int(forKey: ConfigKey(key)) { return check(key, value, minimum, maximum) }
                return current
            }
            guard let value = Int(raw) else {
                problems.append("\(key): must be an integer, not '\(raw)'")
                return current
            }
            return check(key, value, minimum, maximum)
        }
        func check(_ key: String, _ value: Int, _ minimum: Int, _ maximum: Int) -> Int {
            guard value >= minimum, value <= maximum else {
                problems.append("\(key): must be between \(minimum) and \(maximum), not \(value)")
                return value
            }
            return value
        }
        host = config.string(forKey: "http.host", default: host)
        port = integer("http.port", port, minimum: 0, maximum: 65_535)
        tlsCertificatePath = config.string(forKey: "http.tls.certificate")
        tlsKeyPath = config.string(forKey: "http.tls.key")
        if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
            problems.append("http.tls: give both a certificate and a key, or neither")
        }
        maxBodySize = integer("http.maxBodySize", maxBodySize, minimum: 1)
        requestHeadTimeout = .milliseconds(integer("http.requestHeadTimeoutMs", 30_000, minimum: 100, maximum: 3_600_000))
        idleTimeout = .milliseconds(integer("http.idleTimeoutMs", 60_000, minimum: 100, maximum: 3_600_000))
        webSocketMaxFrameSize = integer("websocket.maxFrameSize", webSocketMaxFrameSize, minimum: 125, maximum: 1 << 24)
        webSocketMaxMessageSize = integer("websocket.maxMessageSize", webSocketMaxMessageSize, minimum: 125, maximum: 1 << 30)
        configPath = config.string(forKey: "config.path")
        watchInterval = .milliseconds(integer("config.watchIntervalMs", 1000, minimum: 100, maximum: 60_000))
        drainTimeout = .seconds(integer("shutdown.drainTimeoutSeconds", 10, minimum: 0, maximum: 600))
        if let level = config.string(forKey: "log.level") {
            if let parsed = Logger.Level(rawValue: level.lowercased()) {
                logLevel = parsed
            } else {
                problems.append("log.level: must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let format = config.string(forKey: "log.format") {
            if let parsed = LogFormat(rawValue: format.lowercased()) {
                logFormat = parsed
            } else {
                problems.append("log.format: must be text or json")
            }
        }
        func boolean(_ key: String, _ current: Bool) -> Bool {
            if let value = config.bool(forKey: ConfigKey(key)) { return value }
            guard let raw = config.string(forKey: ConfigKey(key)) else { return current }
            switch raw.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default:
                problems.append("\(key): must be true or false, not '\(raw)'")
                return current
            }
        }
        managementEnabled = boolean("management.enabled", managementEnabled)
        managementHost = config.string(forKey: "management.host", default: managementHost)
        managementPort = integer("management.port", managementPort, minimum: 0, maximum: 65_535)
        managementDatabase = config.string(forKey: "management.database", default: managementDatabase)
        managementOpen = boolean("management.open", managementOpen)
        managementSyncInterval = .milliseconds(integer("management.syncIntervalMs", 2000, minimum: 100, maximum: 60_000))
        fanOut.subscriberBufferSize = integer("fanOut.subscriberBufferSize", fanOut.subscriberBufferSize, minimum: 1, maximum: 1_000_000)
        fanOut.slowSubscriberTimeout = .milliseconds(integer("fanOut.slowSubscriberTimeoutMs", 10_000, minimum: 100, maximum: 3_600_000))
        if managementEnabled, managementOpen, !["127.0.0.1", "::1", "localhost"].contains(managementHost) {
            problems.append("management.open: an open (unauthenticated) management API listens on loopback only, not on \(managementHost)")
        }
        guard problems.isEmpty else { throw SettingsError(problems: problems) }
    }

    public var limits: EntrypointLimits {
        EntrypointLimits(maxBodySize: maxBodySize, maxWebSocketMessageSize: webSocketMaxMessageSize)
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public let problems: [String]
    public var description: String { "invalid settings: " + problems.joined(separator: "; ") }
}
