import HTTPTypes
import Hummingbird
import NIOHTTPTypes
import NIOCore
import SluiceCore
import Synchronization

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
        let channel = context.clientChannel
        // Silence is checked every half interval, so a heartbeat follows at most 1.5 intervals of silence.
        let tick = configuration.heartbeatInterval / 2

        let body = ResponseBody { writer in
            var buffer = ByteBuffer()
            SSEEncoder.retry(milliseconds: configuration.heartbeatIntervalMilliseconds, into: &buffer)
            try await writer.send(buffer)
            var lastWrite = ContinuousClock.now
            stream: do {
                if let source = subscription.wakeable, qos == .none {
                    if let loopWriter = writer as? any EventLoopBodyWriter {
                        // The connection is served from its event loop: so is the stream.
                        let connection = SSELiveConnection(
                            channel: loopWriter.channel, encoder: encoder, passage: loopWriter.chunkedPassage)
                        SSELoopStream(
                            source: source, connection: connection, body: loopWriter.handOver(),
                            heartbeatInterval: configuration.heartbeatInterval, stop: stop, connectionClosed: connectionClosed, logger: logger
                        ).start()
                        return
                    }
                    try await streamLive(
                        source, writer: &writer, encoder: encoder, heartbeatInterval: configuration.heartbeatInterval, stop: stop,
                        connectionClosed: connectionClosed, channel: channel)
                    break stream
                }
                events: for try await event in streamEvents(subscription, tick: tick, stop: stop, connectionClosed: connectionClosed) {
                    switch event {
                    case .message(let message):
                        try await deliver(message, qos: qos) {
                            buffer.clear()
                            encoder.message(message, into: &buffer)
                            try await writer.send(buffer)
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

    /// The stream of a live subscription (QoS none, shared): one wait for messages, heartbeats and
    /// stops, without a task per event source. With the client's channel at hand, the
    /// subscription writes the messages to it itself, from its event loop (``LiveConnection``);
    /// otherwise the messages already waiting go out in one write. Either way each is encoded
    /// once for every subscriber (``WireEncodings``).
    static func streamLive(
        _ source: any WakeableMessageSource, writer: inout some ResponseBodyWriter, encoder: SSEEncoder, heartbeatInterval: Duration,
        stop: StopSignal, connectionClosed: StopSignal, channel: (any Channel)?
    ) async throws {
        let waker = StreamWaker()
        let stopObserver = stop.addObserver { _ in waker.wake() }
        let closedObserver = connectionClosed.addObserver { _ in waker.wake() }
        defer {
            stop.removeObserver(stopObserver)
            connectionClosed.removeObserver(closedObserver)
        }
        let connection = channel.map { SSELiveConnection(channel: $0, encoder: encoder) }
        if let connection { source.deliver(to: connection) }
        let reason: StopSignal.Reason?
        do {
            reason = try await waitLive(
                source, writer: &writer, encoder: encoder, heartbeatInterval: heartbeatInterval, stop: stop, connectionClosed: connectionClosed,
                waker: waker, connection: connection)
        } catch {
            if connection != nil { await source.stopDelivering() }
            throw error
        }
        // Nothing is written to the connection behind the stream's back after this.
        if connection != nil { await source.stopDelivering() }
        guard let reason, reason != .clientClosed else { return }
        var buffer = ByteBuffer()
        SSEEncoder.event("goaway", data: reason == .shutdown ? "The gateway is stopping" : "The API was redeployed or undeployed", into: &buffer)
        try await writer.send(buffer)
    }

    /// Waits for the end of a live stream, writing heartbeats (and, unless `connection` takes
    /// them, messages); returns why it stopped (nil: the subscription ended).
    private static func waitLive(
        _ source: any WakeableMessageSource, writer: inout some ResponseBodyWriter, encoder: SSEEncoder, heartbeatInterval: Duration,
        stop: StopSignal, connectionClosed: StopSignal, waker: StreamWaker, connection: SSELiveConnection?
    ) async throws -> StopSignal.Reason? {
        var lastWrite = ContinuousClock.now
        let eventLoop = connection?.eventLoop
        var heartbeat = wake(waker, at: lastWrite + heartbeatInterval, on: eventLoop)
        defer { heartbeat.cancel() }
        let encodingKey = encoder.encodingKey
        func encoded(_ message: Message) -> ByteBuffer {
            message.wireEncoding(encodingKey) { encoder.encoded(message) }
        }
        var batch = ByteBuffer()
        while true {
            if let reason = connectionClosed.reason ?? stop.reason { return reason }
            switch try await source.next(wakingOn: waker) {
            case .message(let first):
                let bytes = encoded(first)
                guard let second = try source.nextReady() else {
                    try await writer.send(bytes)
                    lastWrite = .now
                    continue
                }
                // Several are waiting (the client fell behind): one write for all of them.
                batch.clear()
                batch.writeImmutableBuffer(bytes)
                batch.writeImmutableBuffer(encoded(second))
                var count = 2
                while count < 256, let next = try source.nextReady() {
                    batch.writeImmutableBuffer(encoded(next))
                    count += 1
                }
                try await writer.send(batch)
                lastWrite = .now
            case .woken:
                if let connection { lastWrite = max(lastWrite, connection.lastWrite) }
                if ContinuousClock.now - lastWrite >= heartbeatInterval {
                    var buffer = ByteBuffer()
                    SSEEncoder.heartbeat(into: &buffer)
                    try await writer.send(buffer)
                    lastWrite = .now
                }
                heartbeat.cancel()
                heartbeat = wake(waker, at: lastWrite + heartbeatInterval, on: eventLoop)
            case .end:
                return nil
            }
        }
    }

    /// Wakes `waker` at `deadline` unless cancelled first: a timer of the connection's event loop
    /// when there is one (much lighter than a task per idle stream), a sleeping task otherwise.
    private static func wake(_ waker: StreamWaker, at deadline: ContinuousClock.Instant, on eventLoop: (any EventLoop)?) -> WakeTimer {
        guard let eventLoop else {
            return .task(Task {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    waker.wake()
                } catch {}
            })
        }
        let (seconds, attoseconds) = (deadline - .now).components
        let delay = TimeAmount.nanoseconds(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        return .scheduled(eventLoop.scheduleTask(in: delay) { waker.wake() })
    }

    private enum WakeTimer {
        case task(Task<Void, Never>)
        case scheduled(Scheduled<Void>)

        func cancel() {
            switch self {
            case .task(let task): task.cancel()
            case .scheduled(let scheduled): scheduled.cancel()
            }
        }
    }
}

/// A live SSE stream's connection, written by its subscription from the connection's event loop.
/// With a ``FramedPassage`` the messages go past the HTTP handlers, framed as chunks once
/// for every subscriber; otherwise through the channel as body parts.
final class SSELiveConnection: LiveConnection {
    let channel: any Channel
    let encoder: SSEEncoder
    private let passage: (any FramedPassage)?
    private let lastFlush = Mutex(ContinuousClock.now)

    private let encodingKey: String
    private let framedKey: String

    init(channel: any Channel, encoder: SSEEncoder, passage: (any FramedPassage)? = nil) {
        self.channel = channel
        self.encoder = encoder
        self.passage = passage
        encodingKey = encoder.encodingKey
        framedKey = encoder.encodingKey + "+chunked"
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    var isWritable: Bool { channel.isWritable }

    func write<Messages: Collection<Message>>(_ messages: Messages, promise: EventLoopPromise<Void>?) {
        if let passage {
            CoalescedWrites.write(messages, promise: promise, encode: framed) { passage.writeFramed($0, promise: $1) }
        } else {
            CoalescedWrites.write(messages, promise: promise, encode: encoded) { channel.write(HTTPResponsePart.body($0), promise: $1) }
        }
    }

    private func encoded(_ message: Message) -> ByteBuffer {
        message.wireEncoding(encodingKey) { encoder.encoded(message) }
    }

    private func framed(_ message: Message) -> ByteBuffer {
        message.wireEncoding(framedKey) { ChunkedFraming.frame(encoded(message)) }
    }

    func flush() {
        if let passage { passage.flush() } else { channel.flush() }
        lastFlush.withLock { $0 = .now }
    }

    /// When messages were last written.
    var lastWrite: ContinuousClock.Instant { lastFlush.withLock { $0 } }
}
