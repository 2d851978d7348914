import NIOCore
import NIOHTTPTypes

/// What a connection served on its event loop receives while one of its requests is being
/// answered (``CollectedPostHandler``, ``EventStreamConnectionHandler``). HTTP/1 answers
/// requests in the order they came, so the request parts (or the decoder's error) that arrive
/// meanwhile wait here, in order, and are taken again once the answer is out.
///
/// Reading goes on while nothing waits: a client that sends its next request only after the
/// answer, as most do, costs no pause and resume of the socket's read interest (two `epoll_ctl`
/// calls per request). Once something waits, a read asked for is held back until what waits has
/// been taken, so a pipelining client is held to what one read brings.
struct HeldRequestParts {
    private var parts: [Result<HTTPRequestPart, any Error>] = []
    private var readHeldBack = false

    var isEmpty: Bool { parts.isEmpty }

    mutating func hold(_ part: Result<HTTPRequestPart, any Error>) {
        parts.append(part)
    }

    /// The part that waited longest, if any.
    mutating func next() -> Result<HTTPRequestPart, any Error>? {
        parts.isEmpty ? nil : parts.removeFirst()
    }

    /// Whether a read asked for now goes to the socket; otherwise it is held back. `answering`:
    /// a request is being answered.
    mutating func allowsRead(answering: Bool) -> Bool {
        guard answering, !parts.isEmpty else { return true }
        readHeldBack = true
        return false
    }

    /// Whether a read held back goes to the socket now, after what waited was taken (as far as
    /// the connection could take it).
    mutating func releasesRead(answering: Bool) -> Bool {
        guard readHeldBack, allowsRead(answering: answering) else { return false }
        readHeldBack = false
        return true
    }
}
