import Hummingbird
import NIOCore
import Synchronization

/// The writer of a response body on a connection served from its event loop, with no task of its
/// own (the gateway serves event-stream connections so). A body that streams for as long as its
/// client stays can hand the rest of itself over to the loop (``handOver()``) and return: the
/// connection then holds no suspended task, only the state its stream keeps on the loop.
public protocol EventLoopBodyWriter: ResponseBodyWriter, AnyObject, Sendable {
    /// The client's connection. After ``handOver()`` the stream writes `HTTPResponsePart.body`
    /// parts to it (or framed chunks to ``chunkedPassage``), from its event loop.
    var channel: any Channel { get }
    /// Hands the rest of the body over. The body's closure then returns without finishing; the
    /// stream ends the response with ``HandedOverBody/end()``.
    func handOver() -> HandedOverBody
    /// The body handed over, if it was.
    var handedOver: HandedOverBody? { get }
    /// A way past the connection's HTTP handlers for the body's bytes, when the response goes
    /// out in HTTP/1.1 chunked coding on a connection that has one (nil otherwise). Known once
    /// the head is written, that is inside the body's closure.
    var chunkedPassage: (any ChunkedBodyPassage)? { get }
}

/// Writes a chunked response body's bytes straight to the connection's transport, below its
/// HTTP/1.1 encoder (and above TLS), already framed as chunks (``ChunkedFraming``). A stream
/// that writes the same bytes to many connections frames them once and shares the buffer, and
/// each connection then costs one write into its socket's queue, not a walk through the HTTP
/// handlers with a chunk header of its own.
///
/// Called on the connection's event loop only. What goes this way and what goes through the
/// channel (the head, heartbeats, the last chunk) stay in the order they were written: both
/// reach the socket's queue at once, on the loop.
public protocol ChunkedBodyPassage: AnyObject, Sendable {
    var eventLoop: any EventLoop { get }
    /// Queues framed chunks (one or more, back to back).
    func writeFramed(_ chunks: ByteBuffer, promise: EventLoopPromise<Void>?)
    func flush()
}

/// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) of body bytes, for ``ChunkedBodyPassage``.
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

/// A response body that goes on from the connection's event loop (``EventLoopBodyWriter``).
public final class HandedOverBody: Sendable {
    private let finish: @Sendable () -> Void
    private let state = Mutex<(ended: Bool, actions: [@Sendable () -> Void])>((false, []))

    /// `finish` ends the response (the last chunk, and whatever the connection does then).
    public init(finish: @escaping @Sendable () -> Void) {
        self.finish = finish
    }

    /// Ends the response, then runs the end actions; later calls do nothing.
    public func end() {
        let actions = state.withLock { state -> [@Sendable () -> Void]? in
            guard !state.ended else { return nil }
            state.ended = true
            defer { state.actions = [] }
            return state.actions
        }
        guard let actions else { return }
        finish()
        for action in actions { action() }
    }

    /// Runs `action` once the body has ended (at once if it has).
    public func whenEnded(_ action: @escaping @Sendable () -> Void) {
        let ended = state.withLock { state -> Bool in
            if !state.ended { state.actions.append(action) }
            return state.ended
        }
        if ended { action() }
    }

    public var hasEnded: Bool { state.withLock { $0.ended } }
}
