import NIOCore
import SluiceCore

/// Writes bytes already framed for the connection's protocol (HTTP/1.1 chunks, WebSocket frames)
/// straight to its transport, below the protocol's encoder (and above TLS). A stream that writes
/// the same bytes to many connections frames them once and shares the buffer; each connection
/// then costs one write into its socket's queue, not a walk through the protocol's handlers
/// with a header of its own.
///
/// Called on the connection's event loop only. What goes this way and what goes through the
/// channel (heads, heartbeats, control frames, the last chunk) stay in the order they were
/// written: both reach the socket's queue at once, on the loop.
public protocol FramedPassage: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// Queues framed bytes (one or more frames or chunks, back to back).
    func writeFramed(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?)
    func flush()
}

/// The passage from an encoder's own place in the pipeline: what is written here goes to the
/// handler below the encoder, as the encoder's output does.
///
/// `@unchecked Sendable`: the context is used on the channel's event loop only.
public final class EncoderBypass: FramedPassage, @unchecked Sendable {
    private let encoder: ChannelHandlerContext

    /// `encoder`: the context of the protocol's encoder in the connection's pipeline.
    public init(encoder: ChannelHandlerContext) {
        self.encoder = encoder
    }

    public var eventLoop: any EventLoop { encoder.eventLoop }

    public func writeFramed(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        eventLoop.assertInEventLoop()
        // Once the channel has closed, the context fails the write (ioOnClosedChannel).
        encoder.write(NIOAny(bytes), promise: promise)
    }

    public func flush() {
        eventLoop.assertInEventLoop()
        encoder.flush()
    }
}

/// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) of body bytes, for ``FramedPassage``.
public enum ChunkedFraming {
    /// `bytes` as one chunk: its size in hex, CRLF, the bytes, CRLF. Empty bytes frame to
    /// nothing: an empty chunk would end the body.
    public static func frame(_ bytes: ByteBuffer) -> ByteBuffer {
        guard bytes.readableBytes > 0 else { return ByteBuffer() }
        let size = String(bytes.readableBytes, radix: 16)
        var framed = ByteBuffer()
        framed.reserveCapacity(size.utf8.count + bytes.readableBytes + 4)
        framed.writeString(size)
        framed.writeStaticString("\r\n")
        framed.writeImmutableBuffer(bytes)
        framed.writeStaticString("\r\n")
        return framed
    }
}

/// Writes of a live connection's messages: those that fit in ``limit`` bytes go out in one
/// write; past that, each goes as it is, its buffer shared with every other subscriber, so that
/// a client that fell far behind holds no copy of its backlog. (Frames or chunks back to back
/// are still frames or chunks.)
enum CoalescedWrites {
    /// The most bytes copied into one write.
    static let limit = 16 * 1024

    static func write<Messages: Collection<Message>>(
        _ messages: Messages, promise: EventLoopPromise<Void>?, encode: (Message) -> ByteBuffer,
        emit: (ByteBuffer, EventLoopPromise<Void>?) -> Void
    ) {
        var pending: ByteBuffer?
        var oneByOne = false
        var left = messages.count
        for message in messages {
            left -= 1
            let bytes = encode(message)
            let done = left == 0 ? promise : nil
            if oneByOne {
                emit(bytes, done)
            } else if var joined = pending {
                pending = nil
                if joined.readableBytes + bytes.readableBytes <= limit {
                    joined.writeImmutableBuffer(bytes)  // the first append copies the shared buffer
                    pending = joined
                } else {
                    oneByOne = true
                    emit(joined, nil)
                    emit(bytes, done)
                }
            } else {
                pending = bytes
            }
        }
        if let pending { emit(pending, promise) }
    }
}
