/// The one error type of the gateway's vocabulary: a stable code, a message that is safe to show
/// a client (never a secret), and the underlying cause for the logs. The gateway maps codes to
/// HTTP statuses in one place.
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The broker could not be reached, refused the connection or the credentials.
        case endpointConnectionFailed = "endpoint_connection_failed"
        /// The endpoint's configuration cannot work (found at run time).
        case endpointConfigurationInvalid = "endpoint_configuration_invalid"
        /// The broker failed in some other way, or refused a message.
        case endpointUnknownError = "endpoint_unknown_error"
        /// The endpoint cannot do what the entrypoint asked (publish without producer, ...).
        case endpointUnsupported = "endpoint_unsupported"
        case incompatibleQoS = "incompatible_qos"
        case incompatibleQoSCapabilities = "incompatible_qos_capabilities"
        case badRequest = "bad_request"
        case notFound = "not_found"
        case payloadTooLarge = "payload_too_large"
        case unsupportedAccept = "unsupported_accept"
        /// The gateway or the API is going away.
        case stopping = "stopping"
        /// A live subscriber read more slowly than its messages came, for longer than allowed.
        case slowSubscriber = "slow_subscriber"
    }

    public let code: Code
    /// Safe for clients: no secrets, no internals.
    public let message: String
    /// A safe detail (a broker's reason string), shown after the message.
    public let detail: String?
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, detail: String? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.underlying = underlying
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let detail { text += " (\(detail))" }
        return text
    }

    public static func connectionFailed(detail: String? = nil, underlying: (any Error & Sendable)? = nil) -> GatewayError {
        GatewayError(.endpointConnectionFailed, "Endpoint connection failed", detail: detail, underlying: underlying)
    }

    public static func configurationInvalid(detail: String? = nil) -> GatewayError {
        GatewayError(.endpointConfigurationInvalid, "Endpoint configuration invalid", detail: detail)
    }

    public static func unknown(detail: String? = nil, underlying: (any Error & Sendable)? = nil) -> GatewayError {
        GatewayError(.endpointUnknownError, "Endpoint unknown error", detail: detail, underlying: underlying)
    }

    public static let incompatibleQoS = GatewayError(.incompatibleQoS, "Incompatible Qos between entrypoint and endpoint")
    public static let incompatibleQoSCapabilities = GatewayError(
        .incompatibleQoSCapabilities, "Incompatible Qos capabilities between entrypoint requirements and endpoint supports")
    public static let noContextPath = GatewayError(.notFound, "No context-path matches the request URI.")
}
