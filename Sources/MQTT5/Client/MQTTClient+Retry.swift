import NIOCore
import NIOPosix

/// How often and how fast ``MQTTClient/connect(configuration:retry:eventLoopGroup:)`` retries,
/// and how an ``MQTTSession`` reconnects.
public struct MQTTRetryPolicy: Sendable, Hashable {
    /// Additional attempts after a failed one, clamped to 0...10. For an ``MQTTSession``: the
    /// number of consecutive failed reconnect attempts after which it gives up (0: it never
    /// reconnects); the count starts again after each successful connection.
    public var maximumRetries: Int
    /// Delay before the first retry; doubled for each further retry.
    public var initialBackoff: Duration
    /// Upper bound for the delay between attempts.
    public var maximumBackoff: Duration

    public init(maximumRetries: Int = 3, initialBackoff: Duration = .milliseconds(250), maximumBackoff: Duration = .seconds(10)) {
        self.maximumRetries = min(max(maximumRetries, 0), 10)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// The delay before retry number `retry` (1 for the first): `initialBackoff` doubled for
    /// each further retry, at most `maximumBackoff`.
    public func backoff(beforeRetry retry: Int) -> Duration {
        var delay = self.initialBackoff
        for _ in 1..<max(retry, 1) {
            guard delay < self.maximumBackoff else { break }
            delay *= 2
        }
        return min(delay, self.maximumBackoff)
    }

    /// Whether an error that ended a connection attempt (or an established connection) is
    /// worth another attempt: transport failures, timeouts and temporary server conditions
    /// yes; bad credentials, bans, redirections, protocol errors and the like no.
    ///
    /// Server DISCONNECT reason codes retried: 0x80 Unspecified error, 0x83 Implementation
    /// specific error, 0x89 Server busy, 0x8B Server shutting down, 0x8D Keep Alive timeout,
    /// 0x96 Message rate too high, 0x97 Quota exceeded, 0x9F Connection rate exceeded,
    /// 0xA0 Maximum connect time. Not retried, among others: 0x8E Session taken over (another
    /// client uses the identifier: reconnecting would take it back and forth), 0x98
    /// Administrative action, 0x9C/0x9D (use another server / server moved: not followed;
    /// the error carries the Server Reference) and errors the client caused (0x81–0x82,
    /// 0x87, 0x90–0x95, 0x99–0x9B, 0x9E, 0xA1, 0xA2).
    public func shouldRetry(after error: MQTTClientError) -> Bool {
        switch error.kind {
        case .connectionFailed, .connectTimeout, .connectionClosed, .keepAliveTimeout:
            return true
        case .serverDisconnected:
            return [.unspecifiedError, .implementationSpecificError, .serverBusy, .serverShuttingDown, .keepAliveTimeout,
                    .messageRateTooHigh, .quotaExceeded, .connectionRateExceeded, .maximumConnectTime]
                .contains(error.reasonCode ?? .unspecifiedError)
        case .connectionRefusedByServer:
            return [.serverUnavailable, .serverBusy, .connectionRateExceeded, .unspecifiedError, .implementationSpecificError]
                .contains(error.reasonCode ?? .unspecifiedError)
        default:
            return false
        }
    }
}

extension MQTTClient {
    /// ``connect(configuration:eventLoopGroup:)`` with up to `retry.maximumRetries` further
    /// attempts and exponential backoff. Throws the last attempt's error.
    public static func connect(
        configuration: MQTTClientConfiguration,
        retry: MQTTRetryPolicy,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(MQTTClientError) -> MQTTClient {
        var attempt = 0
        while true {
            do {
                return try await MQTTClient.connect(configuration: configuration, eventLoopGroup: eventLoopGroup)
            } catch {
                guard attempt < retry.maximumRetries, retry.shouldRetry(after: error) else { throw error }
            }
            attempt += 1
            do {
                try await Task.sleep(for: retry.backoff(beforeRetry: attempt))
            } catch {
                throw MQTTClientError(kind: .cancelled, message: "cancelled while waiting to reconnect")
            }
        }
    }
}
