import Hummingbird
import NIOCore
import SluiceCore

/// HTTP GET (contract §3): a poll that streams up to a count of messages or for up to a duration,
/// in JSON, XML or text, resumable with `cursor`.
public enum HTTPGetEntrypoint {
    public static func handle(_ request: Request, context: EntrypointContext) async throws -> Response {
        let configuration = HTTPGetConfiguration(context.settings.configuration)
        let accept = request.headers[values: .accept]
        let acceptValue = accept.isEmpty ? nil : accept.joined(separator: ", ")
        guard let format = HTTPGetFormat.negotiate(accept: acceptValue) else {
            throw GatewayError(.unsupportedAccept, "Unsupported accept header: [\(acceptValue ?? "")]")
        }
        var limit = configuration.messagesLimitCount
        var limitParameter: String?
        if let raw = request.uri.queryParameters["limit"].map(String.init) {
            guard let value = Int(raw), value >= 1 else {
                throw GatewayError(.badRequest, "Invalid limit '\(raw.prefix(64))': must be a positive integer")
            }
            limit = min(limit, value)
            limitParameter = raw
        }
        let cursor = request.uri.queryParameters["cursor"].map(String.init)
        if let cursor, let problem = context.endpoint.cursorProblem(cursor) {
            throw GatewayError(.badRequest, "Invalid cursor '\(cursor.prefix(128))': \(problem)")
        }
        let subscription = try await context.endpoint.subscribe(context.subscribeRequest(resumeAfter: cursor))
        let encoder = HTTPGetEncoder(
            format: format, includeHeaders: configuration.headersInPayload, includeMetadata: configuration.metadataInPayload)
        let qos = context.settings.qos
        let stop = context.stop
        let connectionClosed = context.connectionClosed
        let duration = configuration.messagesLimitDuration
        let logger = context.logger
        let countLimit = limit
        let limitEcho = limitParameter

        let body = ResponseBody { writer in
            var buffer = ByteBuffer()
            encoder.start(into: &buffer)
            try await writer.send(buffer)
            var count = 0
            var nextCursor = cursor
            var failure: GatewayError?
            do {
                events: for try await event in streamEvents(subscription, tick: duration, stop: stop, connectionClosed: connectionClosed) {
                    switch event {
                    case .message(let message):
                        try await deliver(message, qos: qos) {
                            buffer.clear()
                            encoder.item(message, index: count, into: &buffer)
                            try await writer.send(buffer)
                        }
                        count += 1
                        if let id = message.id { nextCursor = id }
                        if count >= countLimit { break events }
                    case .tick, .stop, .end:
                        break events
                    }
                }
            } catch is ClientDisconnected {
                return
            } catch let error where !(error is CancellationError) {
                failure = GatewayError.from(error)
                logger.warning("HTTP GET stream failed", metadata: ["error": "\(failure!)"])
            }
            buffer.clear()
            encoder.finish(error: failure, pagination: HTTPGetPagination(nextCursor: nextCursor, limit: limitEcho), into: &buffer)
            try await writer.send(buffer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: format.contentType, .cacheControl: "no-cache"], body: body)
    }
}
