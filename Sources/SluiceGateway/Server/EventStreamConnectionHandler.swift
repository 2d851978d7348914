import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import SluiceCore
import SluiceEntrypoints
import Synchronization

/// Serves a connection whose first request asks for an event stream (``GatewayChildChannel``)
/// from its event loop, one request after another: each is answered by the gateway's responder
/// in one task on that loop, which writes the response as it comes (``EventLoopResponseWriter``).
/// A live stream hands its body over to the loop and the task ends, so an idle stream holds no
/// task at all.
///
/// Requests are answered in order: what arrives while one is answered waits (and reading pauses
/// then). Request bodies are collected, within the gateway's body limit.
final class EventStreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let respond: LoopResponder
    private let maxBodySize: Int
    /// The HTTP/1.1 response encoder's place in the pipeline, once a response needed it.
    private var encoder: ChannelHandlerContext?

    private enum State {
        case awaitingHead
        case collecting(HTTPRequest, ByteBuffer?)
        /// A body over the limit was refused; the rest of the request is skipped, then the
        /// connection closes.
        case refused
        case answering
    }

    private var state = State.awaitingHead
    /// What arrives while a request is answered.
    private var held = HeldRequestParts()
    /// The server asked the connection to close: it does after the response being written.
    private var quiescing = false
    /// The client closed its side: no request comes any more.
    private var inputClosed = false
    /// The response being written, if any.
    private var writer: EventLoopResponseWriter?
    private var executor: EventLoopTaskExecutor?
    /// Closes the connection once idle for `http.idleTimeoutMs` between requests (a live stream
    /// is a request being answered).
    private var idle: IdleConnectionTimer

    init(maxBodySize: Int, idleTimeout: TimeAmount, respond: @escaping LoopResponder) {
        self.maxBodySize = maxBodySize
        self.respond = respond
        idle = IdleConnectionTimer(timeout: idleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idle.stop()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if answering {
            held.hold(.success(part))
            return
        }
        receive(part, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answering {
            held.hold(.failure(error))
            return
        }
        refuseMalformed(context: context)
    }

    /// A request the decoder could not read: `400`, then the connection closes (after the
    /// responses to the requests before it).
    private func refuseMalformed(context: ChannelHandlerContext) {
        state = .refused
        let head = HTTPResponse(status: .badRequest, headerFields: [.contentLength: "0", .connection: "close"])
        let channel = context.channel
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.awaitingHead, .head(let head)):
            idle.becameBusy()
            guard head.headerFields[.upgrade] == nil else {
                state = .refused
                refuse(.badRequest, "An upgrade needs a connection of its own: this one serves event streams", context: context)
                return
            }
            state = .collecting(head, nil)
        case (.collecting(let head, var body), .body(var chunk)):
            guard (body?.readableBytes ?? 0) + chunk.readableBytes <= maxBodySize else {
                state = .refused
                refuse(.contentTooLarge, "The request body is larger than \(maxBodySize) bytes", context: context)
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            state = .collecting(head, body)
        case (.collecting(let head, let body), .end):
            state = .answering
            answer(head, body: body ?? ByteBuffer(), context: context)
        case (.refused, _):
            break
        case (.awaitingHead, _), (.collecting, .head), (.answering, _):
            context.close(promise: nil)  // not what the decoder sends
        }
    }

    /// A request this connection cannot serve: `status` with `reason`, then the connection closes.
    private func refuse(_ status: HTTPResponse.Status, _ reason: String, context: ChannelHandlerContext) {
        let body = ByteBuffer(string: reason)
        let head = HTTPResponse(
            status: status,
            headerFields: [.contentType: "text/plain; charset=utf-8", .contentLength: "\(body.readableBytes)", .connection: "close"])
        let channel = context.channel
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func answer(_ head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        let channel = context.channel
        let respond = self.respond
        let request = Request(head: head, body: RequestBody(buffer: body))
        let closing = head.headerFields[.connection]?.lowercased() == "close"
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if encoder == nil { encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) }
        // A HEAD or CONNECT response has no body for the encoder to frame.
        let bypass = head.method == .head || head.method == .connect ? nil : encoder.map(EncoderBypass.init)
        let writer = EventLoopResponseWriter(channel: channel, bypass: bypass) { complete in
            let (handler, context) = loopBound.value
            handler.responseEnded(complete: complete, closing: closing, context: context)
        } handedOver: {
            // A client that closed its side while the stream was set up has left it already.
            let (handler, context) = loopBound.value
            if handler.inputClosed { context.close(promise: nil) }
        }
        self.writer = writer
        if executor == nil { executor = EventLoopTaskExecutor(context.eventLoop) }
        Task(executorPreference: executor) {
            let response = await respond(request, channel)
            var head = response.head
            if closing { head.headerFields[.connection] = "close" }
            writer.writeHead(head)
            do {
                try await response.body.write(writer)
                writer.bodyReturned()
            } catch {
                writer.failed()
            }
        }
    }

    /// On the loop, once a response has ended: the next request, or the connection's end.
    private func responseEnded(complete: Bool, closing: Bool, context: ChannelHandlerContext) {
        writer = nil
        guard complete, !closing, !quiescing else {
            context.close(promise: nil)
            return
        }
        state = .awaitingHead
        while !answering, let part = held.next() {
            switch part {
            case .success(let part): receive(part, context: context)
            case .failure: refuseMalformed(context: context)
            }
            if case .refused = state { return }
        }
        // A client that closed its side gets the answers to what it sent, then the connection ends.
        if !answering, inputClosed {
            context.close(promise: nil)
            return
        }
        if case .awaitingHead = state { idle.becameIdle(context: context) }
        if held.releasesRead(answering: answering) { context.read() }
    }

    /// A request is being answered.
    private var answering: Bool {
        if case .answering = state { return true }
        return false
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A stream ends when the gateway stops it, and the connection with it; a request not yet
        // complete has started nothing.
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .answering = state { return }
            context.close(promise: nil)
            return
        }
        // The server allows half-closed connections. A client that closes its side has left a
        // stream handed over to the loop (an event-stream client never half-closes to go on
        // reading): the connection closes, and the stream ends, at once. A response still being
        // produced goes out first.
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            if case .answering = state, writer?.handedOver == nil { return }
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// While a request is answered the connection goes on reading, so that a client that leaves
    /// is noticed at once (its stream ends); once a request waits behind it, reading pauses
    /// (``HeldRequestParts``).
    func read(context: ChannelHandlerContext) {
        if held.allowsRead(answering: answering) { context.read() }
    }
}

/// Writes a response body to a connection served from its event loop, as it comes. A live
/// stream may hand the rest over to the loop (``EventLoopBodyWriter``). Tells the connection
/// when the response has ended (`complete`: its last chunk went out), on the loop.
final class EventLoopResponseWriter: EventLoopBodyWriter {
    let channel: any Channel
    private let bypass: EncoderBypass?
    private let ended: @Sendable (_ complete: Bool) -> Void
    private let wasHandedOver: @Sendable () -> Void
    /// Set once the head shows that the body goes out in chunks.
    private let chunked = Atomic(false)

    private enum State {
        case writing
        case finished
        case handedOver(HandedOverBody)
    }

    private let state = Mutex(State.writing)

    /// `ended` and `handedOver` are called on the event loop. `bypass`: the way past the
    /// connection's HTTP handlers, offered to the body when it goes out in chunks
    /// (``chunkedPassage``); nil for a request whose response has no body (HEAD, CONNECT).
    init(
        channel: any Channel, bypass: EncoderBypass? = nil, ended: @escaping @Sendable (_ complete: Bool) -> Void,
        handedOver: @escaping @Sendable () -> Void
    ) {
        self.channel = channel
        self.bypass = bypass
        self.ended = ended
        wasHandedOver = handedOver
    }

    /// Writes the response's head, before its body.
    func writeHead(_ head: HTTPResponse) {
        if bypass != nil, Self.isChunked(head) { chunked.store(true, ordering: .releasing) }
        channel.write(HTTPResponsePart.head(head), promise: nil)
    }

    /// Whether the connection's HTTP/1.1 encoder (NIO's, answering in HTTP/1.1) sends this
    /// response's body in chunks (for a request other than HEAD or CONNECT): it may have a body,
    /// and has no `Content-Length` (the encoder then sets chunked coding, whatever
    /// `Transfer-Encoding` said).
    static func isChunked(_ head: HTTPResponse) -> Bool {
        guard head.headerFields[.contentLength] == nil else { return false }
        switch head.status.code {
        case 100..<200, 204, 304: return false
        default: return true
        }
    }

    var chunkedPassage: (any FramedPassage)? { chunked.load(ordering: .acquiring) ? bypass : nil }

    func write(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(HTTPResponsePart.body(buffer)).get()
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {
        state.withLock { $0 = .finished }
        let ended = self.ended
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: written)
        written.futureResult.whenComplete { result in
            if case .success = result { ended(true) } else { ended(false) }
        }
        try await written.futureResult.get()
    }

    func handOver() -> HandedOverBody {
        let channel = self.channel
        let ended = self.ended
        let body = HandedOverBody {
            channel.writeAndFlush(HTTPResponsePart.end(nil)).whenComplete { result in
                if case .success = result { ended(true) } else { ended(false) }
            }
        }
        state.withLock { $0 = .handedOver(body) }
        let handedOver = wasHandedOver
        channel.eventLoop.execute { handedOver() }
        return body
    }

    var handedOver: HandedOverBody? {
        state.withLock { state in
            if case .handedOver(let body) = state { return body }
            return nil
        }
    }

    /// The body's closure returned: unless it finished or handed over, the response cannot be
    /// completed, and the connection ends.
    func bodyReturned() {
        guard case .writing = state.withLock({ $0 }) else { return }
        failed()
    }

    /// Writing the body failed: the connection ends.
    func failed() {
        let ended = self.ended
        channel.eventLoop.execute { ended(false) }
    }
}
