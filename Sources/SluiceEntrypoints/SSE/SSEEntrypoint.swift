import HTTPTypes
import Hummingbird
import NIOCore
import SluiceCore

/// Server-Sent Events (contract §3): a stream of `message` events with ids, heartbeats after
/// silence, `Last-Event-ID` resume, `goaway` when the API or the gateway stops.
public enum SSEEntrypoint {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    public static func handle(_ request: Request, context: EntrypointContext) async throws -> Response {
        let configuration = SSEConfiguration(context.settings.configuration)
        let resumeAfter = request.headers[lastEventID]
        let subscription = try await context.endpoint.subscribe(context.subscribeRequest(resumeAfter: resumeAfter))
        let encoder = SSEEncoder(metadataAsComment: configuration.metadataAsComment, headersAsComment: configuration.headersAsComment)
        let qos = context.settings.qos
        let stop = context.stop
        let connectionClosed = context.connectionClosed
        let logger = context.logger
        // Silence is checked every half interval, so a heartbeat follows at most 1.5 intervals of silence.
        let tick = configuration.heartbeatInterval / 2

        let body = ResponseBody { writer in
            var buffer = ByteBuffer()
            SSEEncoder.retry(milliseconds: configuration.heartbeatIntervalMilliseconds, into: &buffer)
            try await writer.send(buffer)
            var lastWrite = ContinuousClock.now
            do {
                events: for try await event in streamEvents(subscription, tick: tick, stop: stop, connectionClosed: connectionClosed) {
                    switch event {
                    case .message(let message):
                        try await deliver(message, qos: qos) {
                            if let encodings = message.encodings {
                                // A message of many subscribers: encoded once, the bytes shared.
                                try await writer.send(encodings.encoding(encoder.encodingKey) { encoder.encoded(message) })
                            } else {
                                buffer.clear()
                                encoder.message(message, into: &buffer)
                                try await writer.send(buffer)
                            }
                        }
                        lastWrite = .now
                    case .tick:
                        guard ContinuousClock.now - lastWrite >= configuration.heartbeatInterval else { continue }
                        buffer.clear()
                        SSEEncoder.heartbeat(into: &buffer)
                        try await writer.send(buffer)
                        lastWrite = .now
                    case .stop(.clientClosed):
                        break events
                    case .stop(let reason):
                        buffer.clear()
                        SSEEncoder.event("goaway", data: reason == .shutdown ? "The gateway is stopping" : "The API was redeployed or undeployed", into: &buffer)
                        try await writer.send(buffer)
                        break events
                    case .end:
                        break events
                    }
                }
            } catch is ClientDisconnected {
                return
            } catch let error where !(error is CancellationError) {
                let failure = GatewayError.from(error)
                logger.log(level: failure.code == .slowSubscriber ? .info : .warning, "SSE stream failed", metadata: ["error": "\(failure)"])
                buffer.clear()
                // The safe detail (a broker's reason) too, as HTTP error responses carry it.
                SSEEncoder.event("error", data: failure.detail.map { "\(failure.message) (\($0))" } ?? failure.message, into: &buffer)
                try? await writer.send(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream;charset=UTF-8", .cacheControl: "no-cache", .connection: "keep-alive"],
            body: body)
    }
}
