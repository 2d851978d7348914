//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice.
//===----------------------------------------------------------------------===//

/// An AMQP 0-9-1 reply code, as carried by `connection.close`, `channel.close`
/// and `basic.return`.
///
/// The well-known constants are the ones defined by the AMQP 0-9-1
/// specification (and used unchanged by RabbitMQ). Any other value can be
/// represented through ``init(rawValue:)``.
public struct AMQPReplyCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// 200: the method completed successfully.
    public static let replySuccess = AMQPReplyCode(200)
    /// 311 (soft): the message was too large.
    public static let contentTooLarge = AMQPReplyCode(311)
    /// 312 (soft): a mandatory message could not be routed.
    public static let noRoute = AMQPReplyCode(312)
    /// 313 (soft): an immediate message had no consumer.
    public static let noConsumers = AMQPReplyCode(313)
    /// 320 (hard): the connection was forced closed by an operator.
    public static let connectionForced = AMQPReplyCode(320)
    /// 402 (hard): invalid virtual host path.
    public static let invalidPath = AMQPReplyCode(402)
    /// 403 (soft): access refused.
    public static let accessRefused = AMQPReplyCode(403)
    /// 404 (soft): entity not found.
    public static let notFound = AMQPReplyCode(404)
    /// 405 (soft): resource locked (exclusive use by another connection).
    public static let resourceLocked = AMQPReplyCode(405)
    /// 406 (soft): a precondition failed.
    public static let preconditionFailed = AMQPReplyCode(406)
    /// 501 (hard): a frame could not be parsed or violated framing rules.
    public static let frameError = AMQPReplyCode(501)
    /// 502 (hard): a frame contained illegal or malformed field values.
    public static let syntaxError = AMQPReplyCode(502)
    /// 503 (hard): an invalid or unknown method/command was received.
    public static let commandInvalid = AMQPReplyCode(503)
    /// 504 (hard): the channel number was invalid for the frame.
    public static let channelError = AMQPReplyCode(504)
    /// 505 (hard): a frame arrived that was not expected in the current state.
    public static let unexpectedFrame = AMQPReplyCode(505)
    /// 506 (hard): the peer ran out of a resource.
    public static let resourceError = AMQPReplyCode(506)
    /// 530 (hard): the operation is not allowed.
    public static let notAllowed = AMQPReplyCode(530)
    /// 540 (hard): the functionality is not implemented.
    public static let notImplemented = AMQPReplyCode(540)
    /// 541 (hard): internal error.
    public static let internalError = AMQPReplyCode(541)

    /// Whether the specification classifies this code as a hard (connection)
    /// error. Soft errors close only the channel.
    public var isHardError: Bool {
        switch self.rawValue {
        case 320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541:
            return true
        default:
            return false
        }
    }

    public var description: String {
        let name: String
        switch self.rawValue {
        case 200: name = "REPLY_SUCCESS"
        case 311: name = "CONTENT_TOO_LARGE"
        case 312: name = "NO_ROUTE"
        case 313: name = "NO_CONSUMERS"
        case 320: name = "CONNECTION_FORCED"
        case 402: name = "INVALID_PATH"
        case 403: name = "ACCESS_REFUSED"
        case 404: name = "NOT_FOUND"
        case 405: name = "RESOURCE_LOCKED"
        case 406: name = "PRECONDITION_FAILED"
        case 501: name = "FRAME_ERROR"
        case 502: name = "SYNTAX_ERROR"
        case 503: name = "COMMAND_INVALID"
        case 504: name = "CHANNEL_ERROR"
        case 505: name = "UNEXPECTED_FRAME"
        case 506: name = "RESOURCE_ERROR"
        case 530: name = "NOT_ALLOWED"
        case 540: name = "NOT_IMPLEMENTED"
        case 541: name = "INTERNAL_ERROR"
        default: return "\(self.rawValue)"
        }
        return "\(self.rawValue) \(name)"
    }
}

/// The single error type thrown by every decoding and encoding function of the
/// AMQP 0-9-1 codec.
///
/// `code` tells what went wrong in a machine-checkable way, `message` gives a
/// human readable explanation, and `replyCode` is the AMQP reply code a peer
/// should close the connection with (when the error was produced while
/// decoding input received from the peer). Errors that can only arise while
/// encoding values supplied by the local application carry no reply code.
public struct AMQPCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Hashable, Sendable {
        /// The 8-byte protocol header was not `"AMQP" 0 0 9 1` (or not even `"AMQP"`).
        case invalidProtocolHeader
        /// The frame type octet is not one of method (1), header (2), body (3), heartbeat (8).
        case unknownFrameType
        /// The octet following the payload was not the frame-end octet 0xCE.
        case invalidFrameEnd
        /// The frame, as declared by its header, exceeds the negotiated frame_max.
        case frameTooLarge
        /// A heartbeat frame was sent on a channel other than 0 or carried a payload.
        case invalidHeartbeat
        /// The class id / method id pair is not a known AMQP 0-9-1 (or RabbitMQ) method.
        case unknownMethod
        /// A content header named a class that has no content (only basic, 60, does).
        case unknownContentClass
        /// The payload ended before all declared fields were read.
        case truncated
        /// A length field (string, table, array, byte array) claims more bytes than the frame holds.
        case lengthExceedsFrame
        /// Bytes were left over after all fields of a method or header were read.
        case trailingBytes
        /// A field value tag in a table or array is not one RabbitMQ defines.
        case unknownFieldType
        /// Field tables / arrays are nested deeper than the configured bound.
        case nestingTooDeep
        /// Property flags name a property the class does not define.
        case invalidPropertyFlags
        /// A value is too large to be encoded (e.g. a short string over 255 bytes).
        case valueTooLarge
        /// A frame arrived that is not allowed in the current state (command assembly).
        case unexpectedFrame
        /// A frame arrived on a channel it is not allowed on.
        case invalidChannel
        /// A content body does not match the size declared by its header.
        case bodySizeMismatch
        /// A content body exceeds the configured maximum message size.
        case contentTooLarge
        /// An argument passed to an encoding function is unusable (e.g. a
        /// frame_max too small to hold any body byte, or content for a method
        /// that carries none).
        case invalidArgument
    }

    /// What went wrong.
    public var code: Code
    /// A human readable explanation.
    public var message: String
    /// The AMQP reply code to close the connection (or channel) with, where
    /// one applies.
    public var replyCode: AMQPReplyCode?

    public init(code: Code, message: String, replyCode: AMQPReplyCode?) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
    }

    public var description: String {
        if let replyCode {
            return "AMQPCodecError.\(self.code.rawValue) [\(replyCode)]: \(self.message)"
        }
        return "AMQPCodecError.\(self.code.rawValue): \(self.message)"
    }
}

extension AMQPCodecError {
    static func frameError(_ code: Code, _ message: String) -> AMQPCodecError {
        AMQPCodecError(code: code, message: message, replyCode: .frameError)
    }

    static func syntaxError(_ code: Code, _ message: String) -> AMQPCodecError {
        AMQPCodecError(code: code, message: message, replyCode: .syntaxError)
    }

    static func truncated(_ what: String) -> AMQPCodecError {
        AMQPCodecError(code: .truncated, message: "payload ended while reading \(what)", replyCode: .frameError)
    }

    static func lengthExceedsFrame(_ what: String, declared: UInt64, available: Int) -> AMQPCodecError {
        AMQPCodecError(
            code: .lengthExceedsFrame,
            message: "\(what) declares \(declared) bytes but only \(available) remain in the frame",
            replyCode: .frameError
        )
    }

    static func valueTooLarge(_ message: String) -> AMQPCodecError {
        AMQPCodecError(code: .valueTooLarge, message: message, replyCode: nil)
    }
}
