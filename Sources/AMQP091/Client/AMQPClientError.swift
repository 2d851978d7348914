//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: the client's typed error.
//===----------------------------------------------------------------------===//

/// The one error type of the AMQP client. `code` says what went wrong;
/// broker-initiated closes also carry the AMQP reply code and text.
public struct AMQPClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The TCP connection could not be established (refused, unreachable).
        case connectFailed
        /// The connection attempt did not finish within the connect timeout.
        case connectTimeout
        /// The TLS handshake failed.
        case tlsFailure
        /// The broker refused the credentials (403 ACCESS_REFUSED, or the
        /// socket closed during the handshake by a broker without
        /// `authentication_failure_close`).
        case authenticationFailed
        /// The broker refused the virtual host (530 NOT_ALLOWED).
        case virtualHostNotAllowed
        /// The broker offers none of the SASL mechanisms the client can use.
        case mechanismNotSupported
        /// The broker closed the connection (`connection.close`).
        case connectionClosedByServer
        /// The broker closed the channel (`channel.close`), e.g. 406 PRECONDITION_FAILED.
        case channelClosedByServer
        /// The connection was lost (socket closed, I/O error).
        case connectionLost
        /// No frame arrived from the broker within two heartbeat intervals.
        case heartbeatTimeout
        /// The broker sent something the protocol does not allow.
        case protocolError
        /// The broker negatively acknowledged a published message (`basic.nack`).
        case publishNacked
        /// A mandatory message could not be routed (`basic.return`).
        case publishReturned
        /// The consumer was cancelled by the broker (`basic.cancel`).
        case consumerCancelled
        /// The operation is not possible in the current state (closed channel, etc.).
        case invalidState
        /// No channel number is free (channel_max reached).
        case noFreeChannel
        /// The connection or channel was closed by this client.
        case closed
    }

    public var code: Code
    public var message: String
    /// The AMQP reply code, for closes and returns sent by the broker.
    public var replyCode: UInt16?
    /// The AMQP reply text, for closes and returns sent by the broker.
    public var replyText: String?

    public init(code: Code, message: String, replyCode: UInt16? = nil, replyText: String? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.replyText = replyText
    }

    public var description: String {
        if let replyCode {
            return "AMQPClientError(\(self.code.rawValue), \(replyCode)): \(self.message)"
        }
        return "AMQPClientError(\(self.code.rawValue)): \(self.message)"
    }

    static func connectionClose(_ close: AMQPMethod.Connection.Close, duringHandshake: Bool) -> AMQPClientError {
        let text = close.replyText.string ?? close.replyText.description
        switch close.replyCode {
        case AMQPReplyCode.accessRefused.rawValue:
            return AMQPClientError(
                code: .authenticationFailed,
                message: "the broker refused the credentials (403 ACCESS_REFUSED): \(text)",
                replyCode: close.replyCode,
                replyText: text
            )
        case AMQPReplyCode.notAllowed.rawValue where duringHandshake:
            return AMQPClientError(
                code: .virtualHostNotAllowed,
                message: "the broker refused the virtual host (530 NOT_ALLOWED): \(text)",
                replyCode: close.replyCode,
                replyText: text
            )
        default:
            return AMQPClientError(
                code: .connectionClosedByServer,
                message: "the broker closed the connection (\(close.replyCode)): \(text)",
                replyCode: close.replyCode,
                replyText: text
            )
        }
    }

    static func channelClose(_ close: AMQPMethod.Channel.Close, channel: UInt16) -> AMQPClientError {
        let text = close.replyText.string ?? close.replyText.description
        return AMQPClientError(
            code: .channelClosedByServer,
            message: "the broker closed channel \(channel) (\(close.replyCode)): \(text)",
            replyCode: close.replyCode,
            replyText: text
        )
    }
}
