import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore

/// HTTP POST (contract §3): one request is one message, answered `202` once the endpoint has
/// acknowledged it.
public enum HTTPPostEntrypoint {
    /// Headers that describe the HTTP exchange rather than the message; never copied into it.
    static let hopHeaders: Set<HTTPField.Name> = [
        .connection, .contentLength, .transferEncoding, HTTPField.Name("Host")!, .te, .upgrade, .proxyAuthorization, .authorization, .cookie,
    ]

    public static func handle(_ request: Request, context: EntrypointContext) async throws -> Response {
        let configuration = HTTPPostConfiguration(context.settings.configuration)
        let limit = context.limits.maxBodySize
        if let length = request.headers.first(.contentLength).flatMap(Int.init), length > limit {
            throw tooLarge(limit)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            // A body without Content-Length (chunked) that grows past the limit.
            throw tooLarge(limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge(limit)
        }
        var headers = MessageHeaders()
        if configuration.requestHeadersToMessage {
            for field in request.headers where !hopHeaders.contains(field.name) {
                headers.add(name: field.name.canonicalName, value: field.value)
            }
        }
        try await context.endpoint.publish(Message(content: body, headers: headers))
        return Response(status: .accepted)
    }

    static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(.payloadTooLarge, "Request body is larger than the limit of \(limit) bytes")
    }
}
