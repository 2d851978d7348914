#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Starting and stopping the brokers the tests run, shared by the test targets.
public enum TestProcesses {
    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts a daemon in the background with default signal handling and an empty signal mask
    /// (the test process blocks or ignores SIGTERM, and a child started by `Process` would
    /// inherit that and never see a graceful stop), without the test process's descriptors,
    /// stdout and stderr appended to `output`.
    public static func spawn(_ arguments: [String], output: String, environment: [String: String] = [:]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Closing a descriptor that is no longer open by then is not an error.
        let openDescriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in openDescriptors.compactMap(Int32.init) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SpawnError(description: "posix_spawn \(arguments[0]) failed: \(result)")
        }
        return pid
    }

    /// Stops a spawned process (SIGTERM, or SIGKILL when not `graceful`; SIGKILL anyway after
    /// five seconds) and reaps it.
    public static func stop(_ pid: pid_t, graceful: Bool) {
        guard pid > 0 else { return }
        kill(pid, graceful ? SIGTERM : SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline { kill(pid, SIGKILL) }
            usleep(10_000)
        }
    }

    /// Runs a command to its end, blocking the calling thread (see ``runDetached(_:environment:)``),
    /// and returns its exit status and what it printed.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-run-\(getpid())-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let pid = try spawn(arguments, output: log, environment: environment)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// ``run(_:environment:)`` on a thread of its own, so that a long command (a broker's
    /// start-up) never blocks the cooperative thread pool the tests run on.
    public static func runDetached(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try run(arguments, environment: environment) })
            }.start()
        }
    }

    /// Whether the process has exited (and is reaped now).
    public static func hasExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }

    /// Throws unless every port is free (waiting up to `seconds` for a process that is going):
    /// a server left over from an earlier run would answer in place of the one a test starts,
    /// with that run's state.
    public static func requireFree(ports: [Int], seconds: Double = 3) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while let taken = ports.first(where: canConnect) {
            guard Date() < deadline else {
                throw SpawnError(description: "127.0.0.1:\(taken) is already in use: another process (a server left over from an earlier run?) would answer in place of the one this test starts")
            }
            usleep(50_000)
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func canConnect(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        // A listener that does not accept (its backlog full) would hold connect() for the
        // kernel's SYN retries, a minute or more: give up after a second (Linux applies the send
        // time-out to connect).
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
