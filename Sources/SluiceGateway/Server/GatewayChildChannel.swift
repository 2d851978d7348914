import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Every connection of the gateway's HTTP/1 server starts here. The start of its first request
/// decides how it is served:
/// - a `GET` that accepts `text/event-stream` (and asks for no upgrade) is an event stream: the
///   connection is served from its event loop, by ``EventStreamConnectionHandler``, with no
///   connection task, so that an idle stream holds no suspended task;
/// - anything else goes to Hummingbird (`Base`), with the WebSocket upgrade and the POSTs taken
///   on the loop (``CollectedPostHandler``).
///
/// The bytes read while deciding are replayed to the handlers chosen, so each request is parsed
/// once. On both, ``HTTP1VersionRules`` states before the conversion to HTTP types what a
/// request's version decides (whether it closes its connection, whether it may expect
/// `100 Continue`).
struct GatewayChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let maxBodySize: Int
    /// How long the connection has to send its first request's head (`http.requestHeadTimeoutMs`).
    let requestHeadTimeout: TimeAmount
    /// How long a connection may stay idle between requests (`http.idleTimeoutMs`).
    let idleTimeout: TimeAmount
    let respond: LoopResponder

    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// Completes once the first request has decided.
        let route: EventLoopFuture<Route>
    }

    enum Route: Sendable {
        /// Hummingbird serves the connection once its first request has been decoded (true), not
        /// when it could not be (the connection is answered and closed then) or none came.
        case hummingbird(Base.Value, firstRequest: EventLoopFuture<Bool>)
        /// Served from the event loop, or closed before a request came: no task needed.
        case served
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let route = channel.eventLoop.makePromise(of: Route.self)
            // True once the first request's head has been read whole, false when it could not be
            // or the connection closed first; past the timeout the connection is closed. (Nothing
            // of this outlives the first head: an idle connection keeps no callback.)
            let firstHead = channel.eventLoop.makePromise(of: Bool.self)
            let deadline = channel.eventLoop.scheduleTask(in: requestHeadTimeout) {
                firstHead.succeed(false)
                channel.close(promise: nil)
            }
            firstHead.futureResult.whenComplete { _ in deadline.cancel() }
            route.futureResult.whenFailure { _ in firstHead.succeed(false) }
            let sniffer = ConnectionSniffer(route: route) { connection, channel in
                switch connection {
                case .eventStream:
                    // The sniffer decides on an event stream only once the head is whole.
                    firstHead.succeed(true)
                    // Malformed requests are answered by the handler, in their turn.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: false)
                    try channel.pipeline.syncOperations.addHandler(HTTP1VersionRules())
                    try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                    try channel.pipeline.syncOperations.addHandler(
                        EventStreamConnectionHandler(maxBodySize: maxBodySize, idleTimeout: idleTimeout, respond: respond))
                    return channel.eventLoop.makeSucceededFuture(.served)
                case .other:
                    return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
                        let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                        try channel.pipeline.syncOperations.addHandler(MalformedFirstRequestHandler(decoded: firstHead), position: .after(decoder))
                        return .hummingbird(value, firstRequest: firstHead.futureResult)
                    }
                }
            }
            try channel.pipeline.syncOperations.addHandler(sniffer)
            return Value(channel: channel, route: route.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard case .hummingbird(let base, let firstRequest)? = try? await value.route.get(),
            (try? await firstRequest.get()) == true
        else { return }
        await self.base.handle(value: base, logger: logger)
    }
}

/// Answers `400` and closes the connection when its first request cannot be decoded. Hummingbird
/// answers a malformed request itself once the connection has been found not to be a WebSocket
/// upgrade; before that, while its upgrade handler waits for the first request, a decoding error
/// went unanswered and the connection stayed open. `decoded` says which it was: true once the
/// first request's head has been decoded (and this leaves; it never reads what passes through,
/// which after an upgrade is no longer HTTP), false when it could not be or none came. So
/// Hummingbird's connection task starts only for a connection it can serve.
final class MalformedFirstRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    static let answer: StaticString = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

    private let decoded: EventLoopPromise<Bool>

    init(decoded: EventLoopPromise<Bool>) {
        self.decoded = decoded
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoded.succeed(true)
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        decoded.succeed(false)
        let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        encoder?.writeAndFlush(NIOAny(ByteBuffer(staticString: Self.answer)), promise: nil)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Closed before a request was decoded (or removed after one: then this does nothing).
        decoded.succeed(false)
    }
}

/// Reads the start of a connection's first request, has the connection set up for it (after
/// itself in the pipeline), replays what it read, and leaves.
final class ConnectionSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias Configure<Route> = (FirstRequest, any Channel) throws -> EventLoopFuture<Route>

    /// What the start of a first request asks for.
    enum FirstRequest: Equatable {
        case eventStream
        case other
    }

    /// Past this many bytes without the end of the head, the request goes to Hummingbird, whose
    /// decoder has the limits and the errors.
    static let headLimit = 16 * 1024

    private enum State {
        case sniffing(ByteBuffer?)
        /// The handlers chosen are being set up; what arrives meanwhile joins what was read.
        case configuring(ByteBuffer)
        case replayed
    }

    private var state = State.sniffing(nil)
    private let configure: (FirstRequest, any Channel) -> EventLoopFuture<Void>
    private let abandon: () -> Void

    init<Route: Sendable>(route: EventLoopPromise<Route>, configure: @escaping Configure<Route>) {
        self.configure = { request, channel in
            let configured: EventLoopFuture<Route>
            do {
                configured = try configure(request, channel)
            } catch {
                configured = channel.eventLoop.makeFailedFuture(error)
            }
            configured.cascade(to: route)
            return configured.map { _ in }
        }
        abandon = { route.fail(ChannelError.ioOnClosedChannel) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .replayed:
            context.fireChannelRead(data)
        case .configuring(var received):
            received.writeBuffer(&bytes)
            state = .configuring(received)
        case .sniffing(var received):
            if received == nil {
                received = bytes
            } else {
                received!.writeBuffer(&bytes)
            }
            guard let request = Self.classify(received!) else {
                state = .sniffing(received)
                return
            }
            state = .configuring(received!)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            configure(request, context.channel).hop(to: context.eventLoop).whenComplete { result in
                let (sniffer, context) = loopBound.value
                sniffer.configured(result, context: context)
            }
        }
    }

    /// The handlers chosen are after this one now: they get what was read, then this leaves.
    private func configured(_ result: Result<Void, any Error>, context: ChannelHandlerContext) {
        guard case .configuring(let received) = state else { return }
        state = .replayed
        guard case .success = result else {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(received))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .replayed = state { context.fireChannelReadComplete() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .sniffing = state {
            state = .replayed
            abandon()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server is stopping and no request has come: nothing to finish first.
        if case .sniffing = state, event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .sniffing = state {
            state = .replayed
            abandon()
        }
    }

    /// What the bytes of a first request ask for, or nil while its head is incomplete. Only the
    /// request line and the `Accept` and `Upgrade` headers count; the decoder chosen reads the
    /// request properly (and rejects it when it is malformed).
    static func classify(_ bytes: ByteBuffer) -> FirstRequest? {
        let view = bytes.readableBytesView
        let get: [UInt8] = Array("GET ".utf8)
        guard view.count >= get.count else { return view.elementsEqual(get.prefix(view.count)) ? nil : .other }
        guard view.prefix(get.count).elementsEqual(get) else { return .other }
        var acceptsEventStream = false
        var upgrade = false
        var lineStart = view.startIndex
        var firstLine = true
        var index = view.startIndex
        while index < view.endIndex {
            guard view[index] == UInt8(ascii: "\n") else {
                index += 1
                continue
            }
            var lineEnd = index
            if lineEnd > lineStart, view[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = view[lineStart..<lineEnd]
            if line.isEmpty, !firstLine {
                return acceptsEventStream && !upgrade ? .eventStream : .other
            }
            if !firstLine, let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let name = line[line.startIndex..<colon]
                if equalsIgnoringCase(name, "accept") {
                    acceptsEventStream = acceptsEventStream || contains(line[(colon + 1)...], "text/event-stream")
                } else if equalsIgnoringCase(name, "upgrade") {
                    upgrade = true
                }
            }
            firstLine = false
            index += 1
            lineStart = index
        }
        return view.count > headLimit ? .other : nil
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    private static func equalsIgnoringCase(_ bytes: ByteBufferView.SubSequence, _ lowercase: String) -> Bool {
        bytes.count == lowercase.utf8.count && zip(bytes, lowercase.utf8).allSatisfy { lowercased($0) == $1 }
    }

    private static func contains(_ bytes: ByteBufferView.SubSequence, _ lowercase: String) -> Bool {
        let needle = Array(lowercase.utf8)
        guard bytes.count >= needle.count else { return false }
        var start = bytes.startIndex
        while start + needle.count <= bytes.endIndex {
            if zip(bytes[start..<(start + needle.count)], needle).allSatisfy({ lowercased($0) == $1 }) { return true }
            start += 1
        }
        return false
    }
}
