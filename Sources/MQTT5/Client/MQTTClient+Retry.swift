import NIOCore
import NIOPosix

/// How often and how fast ``MQTTClient/connect(configuration:retry:eventLoopGroup:)`` retries.
public struct MQTTRetryPolicy: Sendable, Hashable {
    /// Additional attempts after the first one, clamped to 0...10.
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

    /// Whether an error of a failed attempt is worth another attempt: transport failures and
    /// temporary server refusals yes; bad credentials, bans and the like no.
    public func shouldRetry(after error: MQTTClientError) -> Bool {
        switch error.kind {
        case .connectionFailed, .connectTimeout, .connectionClosed, .serverDisconnected, .keepAliveTimeout:
            return true
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
        var backoff = retry.initialBackoff
        var attempt = 0
        while true {
            do {
                return try await MQTTClient.connect(configuration: configuration, eventLoopGroup: eventLoopGroup)
            } catch {
                guard attempt < retry.maximumRetries, retry.shouldRetry(after: error) else { throw error }
            }
            attempt += 1
            do {
                try await Task.sleep(for: backoff)
            } catch {
                throw MQTTClientError(kind: .cancelled, message: "cancelled while waiting to reconnect")
            }
            backoff = min(backoff * 2, retry.maximumBackoff)
        }
    }
}
