import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SluiceCore
import SluiceEntrypoints

/// The request context of the gateway: Hummingbird's core context plus the caller's address,
/// which the client identifier is computed from.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Completes when the client's connection closes.
    public let connectionCloseFuture: EventLoopFuture<Void>
    /// Closes the client's connection.
    public let closeConnection: @Sendable () -> Void
    /// The client's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        connectionCloseFuture = source.channel.closeFuture
        let channel = source.channel
        self.channel = channel
        closeConnection = { channel.close(promise: nil) }
    }
}

/// Answers every HTTP request of the gateway: dispatch to an API and an entrypoint, the common
/// checks, then the entrypoint's handler. Errors become the contract's responses here.
public struct GatewayResponder: HTTPResponder {
    public typealias Context = GatewayRequestContext
    let dispatcher: Dispatcher

    public init(registry: ApiRegistry, limits: EntrypointLimits, logger: Logger) {
        dispatcher = Dispatcher(registry: registry, limits: limits, logger: logger)
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let requestId = RequestIdentifier.next()
        let transactionId =
            request.headers.first(GatewayHeaders.transactionId) ?? request.headers.first(GatewayHeaders.graviteeTransactionId) ?? requestId
        var response: Response
        var clientIdentifier: String?
        do {
            (response, clientIdentifier) = try await dispatch(request, context: context, requestId: requestId)
        } catch {
            let failure = GatewayError.from(error)
            if failure.code != .notFound {
                dispatcher.logger.debug(
                    "Request refused", metadata: ["request": "\(requestId)", "path": "\(request.uri.path)", "error": "\(failure)"])
            }
            response = Self.errorResponse(failure, acceptHeader: request.headers[values: .accept])
        }
        response.headers.put(GatewayHeaders.requestId, requestId)
        response.headers.put(GatewayHeaders.transactionId, transactionId)
        if let clientIdentifier { response.headers.put(GatewayHeaders.clientIdentifier, clientIdentifier) }
        return response
    }

    private func dispatch(_ request: Request, context: Context, requestId: String) async throws -> (Response, String?) {
        let api = try dispatcher.api(host: request.head.authority ?? request.headers.first(HTTPField.Name("Host")!), path: request.uri.path)
        let kind = Dispatcher.kind(method: request.method, headers: request.headers)
        guard let target = dispatcher.entrypoint(of: api, for: kind) else { throw GatewayError.noContextPath }
        try dispatcher.checkQoS(target)
        var clientIdentity = try dispatcher.clientIdentity(headers: request.headers, uri: request.uri, remoteAddress: context.remoteAddress)
        let subscribes = target.descriptor.modes(target.entrypoint.configuration).contains(.subscribe)
        // A subscriber's identifier is returned in a header; a publisher's is never needed.
        let clientIdentifier = subscribes ? clientIdentity.effective : nil
        if let clientIdentifier { clientIdentity = .known(clientIdentifier) }
        if kind == .webSocketUpgrade, target.entrypoint.type == "websocket" {
            // The upgrade was declined although every check passes: the API is going away.
            throw GatewayError(.stopping, "The API is being redeployed; try again")
        }
        guard let handler = EntrypointTypes.httpHandlers[target.entrypoint.type] else { throw GatewayError.noContextPath }
        let entrypointContext = dispatcher.context(
            for: target, clientIdentity: clientIdentity, requestId: requestId, closeConnection: context.closeConnection,
            clientChannel: context.channel)
        if subscribes {
            // A stream ends as soon as its client is gone. (Only for subscribing requests: the
            // callback lives as long as the connection.)
            let closed = entrypointContext.connectionClosed
            context.connectionCloseFuture.whenComplete { _ in closed.fire(.clientClosed) }
        }
        api.started()
        let response: Response
        do {
            response = try await handler(request, entrypointContext)
        } catch {
            api.finished()
            throw error
        }
        return (Self.tracking(response, api: api), clientIdentifier)
    }

    /// Keeps the API's in-flight count until the response body has been written, or, for a body
    /// handed over to its connection's event loop, until that stream ends.
    static func tracking(_ response: Response, api: DeployedApi) -> Response {
        let body = response.body
        guard body.contentLength != 0 else {
            // Nothing to write (an accepted POST): the request is done.
            api.finished()
            return response
        }
        var response = response
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let loopWriter = writer as? any EventLoopBodyWriter
            do {
                try await body.write(writer)
            } catch {
                api.finished()
                throw error
            }
            if let handedOver = loopWriter?.handedOver {
                handedOver.whenEnded { api.finished() }
            } else {
                api.finished()
            }
        }
        return response
    }

    /// The contract's error response: JSON `{message, http_status_code}` for clients that accept
    /// JSON, text otherwise; the 404 is always text and the QoS refusals always JSON.
    static func errorResponse(_ error: GatewayError, acceptHeader: [String]) -> Response {
        let status = HTTPStatusMapping.status(for: error.code)
        let alwaysJSON = error.code == .incompatibleQoS || error.code == .incompatibleQoSCapabilities
        let wantsJSON =
            alwaysJSON
            || error.code != .notFound && error.code != .unsupportedAccept
            && (acceptHeader.isEmpty || acceptHeader.contains { value in
                let lower = value.lowercased()
                return lower.contains("json") || lower.contains("*/*") || lower.contains("application/*")
            })
        var headers: HTTPFields = [:]
        let body: ByteBuffer
        if wantsJSON {
            var object: JSONObject = ["message": .string(error.message), "http_status_code": .integer(status)]
            if let detail = error.detail { object["detail"] = .string(detail) }
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: JSONWriter.string(.object(object)))
        } else {
            headers[.contentType] = "text/plain; charset=utf-8"
            body = ByteBuffer(string: error.detail.map { "\(error.message) (\($0))" } ?? error.message)
        }
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: body))
    }
}

extension HTTPFields {
    /// Sets a field that a response normally lacks: appended when absent (the subscript's setter
    /// rebuilds the fields), replacing it otherwise.
    mutating func put(_ name: HTTPField.Name, _ value: String) {
        if contains(name) { self[name] = value } else { append(HTTPField(name: name, value: value)) }
    }
}
