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
    /// A way past the connection's HTTP handlers for the body's bytes framed as HTTP/1.1 chunks
    /// (``ChunkedFraming``), when the response goes out in chunked coding on a connection that
    /// has one (nil otherwise). Known once the head is written, that is inside the body's
    /// closure.
    var chunkedPassage: (any FramedPassage)? { get }
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
