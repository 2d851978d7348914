import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import SluiceCore

/// The publish path's HTTP/1 transport. A POST whose body is declared by `Content-Length` and
/// fits the body limit is read on the connection's event loop and answered by the gateway's
/// responder in one task that runs on that same loop (``EventLoopTaskExecutor``), which writes
/// the response: no connection task, no async request stream, no hop to the cooperative pool.
/// Every other request goes on to Hummingbird unchanged; the responder, and so every check and
/// error, is the same for both.
///
/// Order is kept as HTTP/1 requires: a POST is taken only when no request handed on is still
/// unanswered, and while a taken POST is in flight nothing is handed on: what arrives waits, and
/// reading pauses once something waits.
final class CollectedPostHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let respond: LoopResponder
    private let maxBodySize: Int
    /// Closes the connection once idle for `http.idleTimeoutMs`: this handler sees every request
    /// of it, taken or handed on (Hummingbird's own idle timeout would not see those taken).
    private var idle: IdleConnectionTimer

    private enum State {
        /// Parts go on to Hummingbird; `unanswered` requests handed on have no response end yet.
        case handingOn(unanswered: Int)
        /// A taken POST's body is being read; `closing` when its client asked to close after it.
        case collecting(HTTPRequest, ByteBuffer?, closing: Bool)
        /// A taken POST is being answered; what arrives waits in `held`.
        case answering
    }

    private var state: State = .handingOn(unanswered: 0)
    /// What arrives while a taken POST is answered.
    private var held = HeldRequestParts()
    /// The server asked the connection to close while a taken POST was not yet answered.
    private var quiescing = false
    /// Runs the responder's tasks on this connection's event loop.
    private var executor: EventLoopTaskExecutor?
    /// The HTTP/1 encoder's place in the pipeline: a whole response, serialized, is written from
    /// there (``HTTP1ResponseBytes``).
    private var encoder: ChannelHandlerContext?

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
        context.fireErrorCaught(error)
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.handingOn(let unanswered), .head(let head)):
            idle.becameBusy()
            let facts = HeadFacts(head)
            // Nothing is still to be answered before this request: its interim answer can go now.
            if unanswered == 0, facts.getsContinue(maxBodySize: maxBodySize) { writeContinue(context: context) }
            if unanswered == 0, head.method == .post, facts.isPlain(maxBodySize: maxBodySize) {
                state = .collecting(head, nil, closing: facts.closing)
            } else {
                state = .handingOn(unanswered: unanswered + 1)
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.handingOn, _):
            context.fireChannelRead(wrapInboundOut(part))
        case (.collecting(let head, var body, let closing), .body(let chunk)):
            if body == nil {
                body = chunk
            } else {
                body!.writeImmutableBuffer(chunk)
            }
            state = .collecting(head, body, closing: closing)
        case (.collecting(let head, let body, let closing), .end):
            state = .answering
            answer(head, body: body ?? ByteBuffer(), closing: closing, context: context)
        case (.collecting, .head), (.answering, _):
            // The decoder never sends a head inside a request, and nothing is received while
            // answering: both would be a broken pipeline, which ends the connection.
            context.close(promise: nil)
        }
    }

    /// What the handler reads of a request head, in one pass over its fields rather than a lookup
    /// per name.
    struct HeadFacts {
        /// The declared body length, when declared once and well.
        var length: Int?
        /// `Content-Length` repeated, negative or malformed: left to the general path.
        var lengthInDoubt = false
        /// `close` among the `Connection` options.
        var closing = false
        /// `Expect: 100-continue` (RFC 9110 §10.1.1). An HTTP/1.0 request's never gets here
        /// (``HTTP1VersionRules``).
        var expectsContinue = false
        /// A transfer coding, an upgrade, or another expectation: for the general path.
        var asksMore = false

        init(_ head: HTTPRequest) {
            for field in head.headerFields {
                switch field.name {
                case .transferEncoding, .upgrade: asksMore = true
                case .expect:
                    if HeadFacts.isContinue(field.value) { expectsContinue = true } else { asksMore = true }
                case .contentLength:
                    if length == nil, !lengthInDoubt, let value = Int(field.value), value >= 0 {
                        length = value
                    } else {
                        length = nil
                        lengthInDoubt = true
                    }
                case .connection:
                    closing = closing || HeadFacts.asksToClose(field.value)
                default: continue
                }
            }
        }

        /// A request with a declared body within the limit, asking nothing else of the
        /// connection: a POST like this is taken.
        func isPlain(maxBodySize: Int) -> Bool {
            guard !asksMore, let length else { return false }
            return length <= maxBodySize
        }

        /// It gets `100 Continue`: unless its declared body is over the limit, when its final
        /// answer (`413`) comes instead.
        func getsContinue(maxBodySize: Int) -> Bool {
            expectsContinue && (length ?? 0) <= maxBodySize
        }

        static func isContinue(_ value: String) -> Bool {
            value.utf8.count == 12 && zip(value.utf8, "100-continue".utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 }
        }

        /// A `Connection` value is a list of options (RFC 9110 §7.6.1); `close` may be any of them.
        static func asksToClose(_ value: String) -> Bool {
            value.utf8.split(separator: UInt8(ascii: ",")).contains { option in
                let trimmed = option.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                    .reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                return trimmed.count == 5 && zip(trimmed.reversed(), "close".utf8).allSatisfy { $0 | 0x20 == $1 }
            }
        }
    }

    /// `100 Continue`, written as bytes from the encoder's place, as a serialized answer is.
    private func writeContinue(context: ChannelHandlerContext) {
        if encoder == nil { encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) }
        encoder?.writeAndFlush(NIOAny(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
    }

    private func answer(_ head: HTTPRequest, body: ByteBuffer, closing: Bool, context: ChannelHandlerContext) {
        let channel = context.channel
        let respond = self.respond
        let request = Request(head: head, body: RequestBody(buffer: body))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        if executor == nil { executor = EventLoopTaskExecutor(context.eventLoop) }
        Task(executorPreference: executor) {
            let response = await respond(request, channel)
            let collected = CollectedBody()
            let buffers: [ByteBuffer]?
            do {
                try await response.body.write(CollectingWriter(collected: collected))
                buffers = collected.finished ? collected.buffers : nil
            } catch {
                buffers = nil
            }
            // The task runs on the connection's loop, so this is normally a direct call.
            if channel.eventLoop.inEventLoop {
                let (handler, context) = loopBound.value
                handler.write(response.head, body: buffers, closing: closing, context: context)
            } else {
                channel.eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.write(response.head, body: buffers, closing: closing, context: context)
                }
            }
        }
    }

    private func write(_ head: HTTPResponse, body: [ByteBuffer]?, closing: Bool, context: ChannelHandlerContext) {
        guard let body else {
            // The body could not be produced: the response cannot be finished, so the
            // connection ends, as it does when Hummingbird's body writing fails.
            context.close(promise: nil)
            return
        }
        var head = head
        if closing || quiescing { head.headerFields[.connection] = "close" }
        if encoder == nil { encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) }
        if let encoder, let bytes = HTTP1ResponseBytes.serialized(head, body: body) {
            // Nothing between here and the encoder keeps state across responses.
            encoder.writeAndFlush(NIOAny(bytes), promise: nil)
        } else {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            for buffer in body {
                context.write(wrapOutboundOut(.body(buffer)), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        state = .handingOn(unanswered: 0)
        if closing || quiescing {
            context.close(promise: nil)
            return
        }
        // What came meanwhile, in order, until a request is taken again: a request whose head
        // was held is collected from what follows it in the queue, then from the socket.
        var replayed = false
        while !answering, let part = held.next() {
            replayed = true
            switch part {
            case .success(let part): receive(part, context: context)
            case .failure(let error): context.fireErrorCaught(error)
            }
        }
        if replayed { context.fireChannelReadComplete() }
        if case .handingOn(unanswered: 0) = state { idle.becameIdle(context: context) }
        if held.releasesRead(answering: answering) { context.read() }
    }

    /// A taken POST is being answered.
    private var answering: Bool {
        if case .answering = state { return true }
        return false
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The connection's state handler closes an idle connection at once when the server
        // quiesces; a taken POST being answered is invisible to it, so its answer goes first and
        // the connection closes after it. (One still being read has published nothing yet: it
        // ends with the connection, as a client that never finishes its body must not hold up
        // the shutdown.)
        if event is ChannelShouldQuiesceEvent, case .answering = state {
            quiescing = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .handingOn(let unanswered) = state, unanswered > 0 {
            state = .handingOn(unanswered: unanswered - 1)
            if unanswered == 1 { idle.becameIdle(context: context) }
        }
        context.write(data, promise: promise)
    }

    /// Reading pauses once something waits behind a POST being answered (``HeldRequestParts``).
    func read(context: ChannelHandlerContext) {
        if held.allowsRead(answering: answering) { context.read() }
    }
}

/// A response body, gathered in the responder's task.
private final class CollectedBody {
    var buffers: [ByteBuffer] = []
    var finished = false
}

private struct CollectingWriter: ResponseBodyWriter {
    let collected: CollectedBody

    mutating func write(_ buffer: ByteBuffer) async throws { collected.buffers.append(buffer) }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws { collected.finished = true }
}

/// The `Date` header's value, formatted once a second.
final class HTTPDateCache: Sendable {
    private let cached = NIOLockedValueBox<(second: Int, value: String)>((-1, ""))

    var now: String {
        let second = Int(Date().timeIntervalSince1970)
        return cached.withLockedValue { cached in
            if cached.second != second {
                cached = (second, Self.format(second))
            }
            return cached.value
        }
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate (RFC 9110 §5.6.7) of seconds since 1970.
    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
