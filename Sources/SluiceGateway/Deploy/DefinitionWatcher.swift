import Logging
import ServiceLifecycle
import SluiceCore

/// Keeps the deployed APIs in step with the definition files: a new or changed definition is
/// deployed, a removed one undeployed, an invalid one refused (its problems logged) while the
/// version before it keeps serving. The path is polled, so editors that replace files, network
/// file systems and directories created later all work.
public actor DefinitionWatcher: Service {
    let path: String
    let registry: ApiRegistry
    let validator: DefinitionValidator
    let interval: Duration
    let logger: Logger
    /// Scans run one at a time: ``run()`` is the only caller after start-up.
    private var state = State()

    struct FileState {
        /// Digest of the content last read ("" when it could not be read).
        var digest: String
        /// The API ids this file deployed.
        var apiIds: [String]
        /// False when some definition of the file was refused: it is tried again whenever
        /// another file changes (a conflict may have gone).
        var complete: Bool
    }

    struct State {
        var files: [String: FileState] = [:]
        var pathMissingReported = false
    }

    public init(path: String, registry: ApiRegistry, interval: Duration, logger: Logger) {
        self.path = path
        self.registry = registry
        self.validator = DefinitionValidator(catalog: registry.catalog)
        self.interval = interval
        self.logger = logger
    }

    public nonisolated func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.scan()
            }
        }
    }

    /// Reads the path once and applies every change. Called at start-up and then periodically.
    public func scan() async {
        let files: [String]
        do {
            files = try DefinitionFiles.list(path)
            state.pathMissingReported = false
        } catch {
            if !state.pathMissingReported {
                logger.error("Cannot read the definitions", metadata: ["path": "\(path)", "reason": "\(error.reason)"])
                state.pathMissingReported = true
            }
            return
        }
        var changed = false
        // Removed files: their APIs go, unless another file took them over.
        for (file, known) in state.files where !files.contains(file) {
            state.files[file] = nil
            changed = true
            let stillDefined = Set(state.files.values.flatMap(\.apiIds))
            for id in known.apiIds where !stillDefined.contains(id) {
                registry.undeploy(id: id)
            }
            logger.info("Definition file removed", metadata: ["file": "\(file)"])
        }
        var retry: [String] = []
        for file in files {
            if await load(file) {
                changed = true
            } else if state.files[file]?.complete == false {
                retry.append(file)
            }
        }
        if changed {
            for file in retry { await load(file, force: true) }
        }
    }

    /// Reads one file and applies it when its content changed (or when forced). Returns whether
    /// it was applied.
    @discardableResult
    private func load(_ file: String, force: Bool = false) async -> Bool {
        let known = state.files[file]
        switch DefinitionFiles.read(file) {
        case .failure(let error):
            if known?.digest != "" {
                logger.error("Definition file cannot be read", metadata: ["file": "\(file)", "problem": "\(error.reason)"])
            }
            state.files[file] = FileState(digest: "", apiIds: known?.apiIds ?? [], complete: false)
            return false
        case .success(let (text, digest)):
            if known?.digest == digest, !force { return false }
            let previous = known?.apiIds ?? []
            switch DefinitionFiles.parse(text, file: file, validator: validator) {
            case .failure(let error):
                logger.error(
                    "Definition file refused; the previous version keeps serving", metadata: ["file": "\(file)", "problem": "\(error.reason)"])
                state.files[file] = FileState(digest: digest, apiIds: previous, complete: false)
            case .success(let entries):
                state.files[file] = FileState(digest: digest, apiIds: previous, complete: false)
                let (owned, complete) = await apply(entries, file: file, previous: previous)
                state.files[file] = FileState(digest: digest, apiIds: owned, complete: complete)
            }
            return true
        }
    }

    /// Deploys the valid definitions of one file and undeploys the APIs the file no longer has.
    /// Returns the API ids the file now owns.
    private func apply(_ entries: [DefinitionFiles.Entry], file: String, previous: [String]) async -> (owned: [String], complete: Bool) {
        var owned: [String] = []
        var complete = true
        let takenElsewhere = Dictionary(
            state.files.filter { $0.key != file }.flatMap { entry in entry.value.apiIds.map { ($0, entry.key) } },
            uniquingKeysWith: { first, _ in first })
        for entry in entries {
            switch entry.outcome {
            case .invalid(let problems):
                complete = false
                logger.error(
                    "API definition refused; the previous version keeps serving",
                    metadata: [
                        "file": "\(file)", "at": "\(entry.path)",
                        "problems": .array(problems.filter { $0.severity == .error }.map { .string($0.description) }),
                    ])
            case .valid(let api):
                if let other = takenElsewhere[api.id] {
                    complete = false
                    logger.error("API definition refused: its id is used in another file", metadata: ["file": "\(file)", "api": "\(api.id)", "other": "\(other)"])
                    continue
                }
                for warning in api.warnings {
                    logger.warning("API definition warning", metadata: ["file": "\(file)", "api": "\(api.id)", "problem": "\(warning)"])
                }
                do {
                    try await registry.deploy(api, origin: .file(file))
                    owned.append(api.id)
                } catch {
                    complete = false
                    logger.error("API deployment failed; the previous version keeps serving", metadata: ["file": "\(file)", "api": "\(api.id)", "reason": "\(error)"])
                    if registry.api(id: api.id) != nil { owned.append(api.id) }
                }
            }
        }
        // An API that disappeared from a file that now reads cleanly is undeployed; when some
        // definitions of the file were refused, the file's earlier APIs are kept.
        for id in previous where !owned.contains(id) {
            if complete {
                registry.undeploy(id: id)
            } else {
                owned.append(id)
            }
        }
        return (owned, complete)
    }
}

