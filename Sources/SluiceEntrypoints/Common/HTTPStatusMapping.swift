import SluiceCore

/// The one place where gateway error codes become HTTP statuses.
public enum HTTPStatusMapping {
    public static func status(for code: GatewayError.Code) -> Int {
        switch code {
        case .endpointConnectionFailed, .endpointConfigurationInvalid, .endpointUnknownError: return 500
        case .endpointUnsupported: return 501
        case .incompatibleQoS, .incompatibleQoSCapabilities, .badRequest, .unsupportedAccept: return 400
        case .notFound: return 404
        case .payloadTooLarge: return 413
        case .stopping, .slowSubscriber: return 503
        }
    }
}
