/// Errors surfaced by the MQTT client and its connection state machine.
public struct MQTTClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// The TCP connection could not be established (e.g. connection refused, unreachable).
        case connectionFailed
        /// No CONNACK (or no TCP connection) within the configured connect timeout.
        case connectTimeout
        /// The TLS handshake or TLS layer failed.
        case tlsFailure
        /// The server refused the connection with a CONNACK error reason code.
        case connectionRefusedByServer
        /// The server sent DISCONNECT.
        case serverDisconnected
        /// The connection closed (or was closed) while the operation was pending.
        case connectionClosed
        /// No PINGRESP within the keep-alive timeout.
        case keepAliveTimeout
        /// The peer violated the protocol, or a packet could not be decoded.
        case protocolError
        /// A PUBACK/PUBREC/PUBCOMP carried an error reason code.
        case publishFailed
        /// A SUBACK carried an error reason code.
        case subscribeFailed
        /// An UNSUBACK carried an error reason code.
        case unsubscribeFailed
        /// The request is not allowed by the server's limits (QoS, retain, packet size) or is invalid.
        case invalidRequest
        /// The operation needs a connected client.
        case notConnected
        /// The waiting task was cancelled.
        case cancelled
    }

    public var kind: Kind
    /// The MQTT reason code involved, if any (CONNACK, DISCONNECT, acknowledgement).
    public var reasonCode: MQTTReasonCode?
    /// The Reason String property the server sent, if any.
    public var reasonString: String?
    /// The Server Reference property the server sent, if any (CONNACK 0x9C/0x9D, DISCONNECT).
    public var serverReference: String?
    public var message: String

    public init(
        kind: Kind,
        reasonCode: MQTTReasonCode? = nil,
        reasonString: String? = nil,
        serverReference: String? = nil,
        message: String
    ) {
        self.kind = kind
        self.reasonCode = reasonCode
        self.reasonString = reasonString
        self.serverReference = serverReference
        self.message = message
    }

    public var description: String {
        var text = "MQTTClientError.\(self.kind.rawValue): \(self.message)"
        if let code = self.reasonCode {
            text += " (reason code 0x\(String(code.rawValue, radix: 16, uppercase: true)) \(code))"
        }
        if let reason = self.reasonString { text += " reason string: \(reason)" }
        if let reference = self.serverReference { text += " server reference: \(reference)" }
        return text
    }

    static func closed(_ message: String = "connection closed") -> MQTTClientError {
        MQTTClientError(kind: .connectionClosed, message: message)
    }
}
