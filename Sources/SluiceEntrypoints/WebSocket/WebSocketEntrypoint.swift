import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import SluiceCore
import Synchronization

/// WebSocket (contract §3): text and binary frames in become messages (each acknowledged by the
/// endpoint before the next is read), consumed messages go out as binary frames.
public enum WebSocketEntrypoint {
    /// Close code for "try again later": the gateway or the API is stopping.
    public static let tryAgainLater = WebSocketErrorCode(codeNumber: 1013)

    enum Outcome: Sendable {
        case clientClosed
        case subscriptionEnded
        case stopped(StopSignal.Reason)
        case cancelled
    }

    /// Runs one WebSocket session until the client leaves, the stream ends or the API stops.
    /// Errors of the client's own frames (too large, malformed) are rethrown so that the WebSocket
    /// layer closes with the matching code (1009, 1002, ...).
    public static func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: EntrypointContext) async throws {
        let configuration = WebSocketConfiguration(context.settings.configuration)
        let qos = context.settings.qos
        let maxMessageSize = context.limits.maxWebSocketMessageSize
        let endpoint = context.endpoint
        let logger = context.logger
        let request = context.subscribeRequest(resumeAfter: nil)
        let stop = context.stop
        let channel = context.clientChannel
        // The live subscription writing to the connection, if any: stopped before the last frame.
        let live = LiveSource()
        do {
            try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    var messages = inbound.messages(maxSize: maxMessageSize).makeAsyncIterator()
                    while true {
                        let next: WebSocketMessage?
                        do {
                            next = try await messages.next()
                        } catch {
                            throw InboundFailure(error: error)
                        }
                        guard let message = next else { break }
                        guard configuration.publisherEnabled else {
                            throw WebSocketRefusal(code: .unacceptableData, reason: "Publishing is not enabled on this entrypoint")
                        }
                        let content: ByteBuffer
                        switch message {
                        case .text(let text): content = ByteBuffer(string: text)
                        case .binary(let buffer): content = buffer
                        }
                        // Fragments are bounded by the WebSocket layer; a single frame only by
                        // the frame limit, which may be the larger of the two.
                        guard content.readableBytes <= maxMessageSize else {
                            throw WebSocketRefusal(code: .messageTooLarge, reason: "Message larger than \(maxMessageSize) bytes")
                        }
                        try await endpoint.publish(Message(content: content))
                    }
                    return .clientClosed
                }
                if configuration.subscriberEnabled {
                    group.addTask {
                        let subscription = try await endpoint.subscribe(request)
                        if qos == .none, let source = subscription.wakeable, let channel {
                            // Live: the subscription writes the frames itself, from the
                            // connection's event loop; this task only waits for the end.
                            live.source.withLock { $0 = source }
                            let passage = try? await channel.eventLoop.submit {
                                EncoderBypass(encoder: try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self))
                            }.get()
                            source.deliver(to: WebSocketLiveConnection(channel: channel, passage: passage))
                            let waker = StreamWaker()
                            do {
                                while case .woken = try await source.next(wakingOn: waker) {}
                            } catch {
                                await source.stopDelivering()
                                throw error
                            }
                            await source.stopDelivering()
                            return .subscriptionEnded
                        }
                        do {
                            for try await message in subscription {
                                try await deliver(message, qos: qos) {
                                    do {
                                        try await outbound.write(.binary(message.content))
                                    } catch {
                                        throw ClientDisconnected()
                                    }
                                }
                            }
                        } catch is ClientDisconnected {
                            // A write failed: the client is gone, which is no failure of the session.
                            return .clientClosed
                        }
                        return .subscriptionEnded
                    }
                }
                group.addTask {
                    if let reason = await stop.wait() { return .stopped(reason) }
                    return .cancelled
                }
                while let outcome = try await group.next() {
                    if let source = live.source.withLock({ $0 }) { await source.stopDelivering() }
                    switch outcome {
                    case .subscriptionEnded where configuration.publisherEnabled:
                        continue  // the client may still publish
                    case .subscriptionEnded:
                        group.cancelAll()
                        try? await outbound.close(.normalClosure, reason: "The stream has ended")
                    case .stopped(let reason):
                        group.cancelAll()
                        try? await outbound.close(
                            tryAgainLater, reason: reason == .shutdown ? "The gateway is stopping" : "The API was redeployed or undeployed")
                    case .clientClosed, .cancelled:
                        group.cancelAll()
                    }
                    return
                }
            }
        } catch let failure as InboundFailure {
            throw failure.error
        } catch let refusal as WebSocketRefusal {
            try? await outbound.close(refusal.code, reason: refusal.reason)
        } catch is CancellationError {
            return
        } catch {
            let failure = GatewayError.from(error)
            if failure.code == .slowSubscriber {
                logger.info("WebSocket session failed", metadata: ["error": "\(failure)"])
                try? await outbound.close(.policyViolation, reason: "Too slow: the subscriber's buffer stayed full")
                return
            }
            logger.warning("WebSocket session failed", metadata: ["error": "\(failure)"])
            try? await outbound.close(.unexpectedServerError, reason: String(failure.message.utf8.prefix(120)) ?? "Error")
        }
    }

    /// The client's frames could not be read.
    struct InboundFailure: Error {
        let error: any Error
    }

    struct WebSocketRefusal: Error {
        let code: WebSocketErrorCode
        let reason: String
    }
}

/// The live subscription of a session, once it writes to the connection.
private final class LiveSource: Sendable {
    let source = Mutex<(any WakeableMessageSource)?>(nil)
}

/// A live WebSocket session's connection, written by its subscription from the connection's
/// event loop: each message is one binary frame. With a ``FramedPassage`` the frames go past the
/// WebSocket handlers, each framed once for every subscriber (a server's frames are not masked,
/// so every client gets the same bytes); otherwise through the channel.
final class WebSocketLiveConnection: LiveConnection {
    let channel: any Channel
    private let passage: (any FramedPassage)?

    init(channel: any Channel, passage: (any FramedPassage)? = nil) {
        self.channel = channel
        self.passage = passage
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    var isWritable: Bool { channel.isWritable }

    func write<Messages: Collection<Message>>(_ messages: Messages, promise: EventLoopPromise<Void>?) {
        if let passage {
            CoalescedWrites.write(messages, promise: promise, encode: Self.framed) { passage.writeFramed($0, promise: $1) }
            return
        }
        var remaining = messages.count
        for message in messages {
            remaining -= 1
            channel.write(WebSocketFrame(fin: true, opcode: .binary, data: message.content), promise: remaining == 0 ? promise : nil)
        }
    }

    func flush() {
        if let passage { passage.flush() } else { channel.flush() }
    }

    static let framedKey = "websocket/binary-frame"

    private static func framed(_ message: Message) -> ByteBuffer {
        message.wireEncoding(framedKey) { WebSocketFraming.binaryFrame(message.content) }
    }
}

/// Server-to-client WebSocket frames (RFC 6455 §5.2), for ``FramedPassage``.
enum WebSocketFraming {
    /// `payload` as one unmasked, final binary frame.
    static func binaryFrame(_ payload: ByteBuffer) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(UInt8(0x82))  // FIN, opcode 2 (binary)
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(payload)
        return frame
    }
}
