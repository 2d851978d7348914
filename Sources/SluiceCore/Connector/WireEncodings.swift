import NIOCore
import Synchronization

/// The wire encodings of one message, made once and shared by every subscriber that gets it
/// (live fan-out): the first subscriber whose entrypoint needs an encoding makes it, the others
/// write the same buffer. A message has a few encodings at most (one per entrypoint setting), so
/// they are kept in a small list.
public final class WireEncodings: Sendable {
    private final class Encoding: Sendable {
        let key: String
        let bytes: ByteBuffer

        init(key: String, bytes: ByteBuffer) {
            self.key = key
            self.bytes = bytes
        }
    }

    /// The first encoding made, read without a lock: every subscriber of a message reads it,
    /// from every event loop at once, and most messages have no other.
    private let first = AtomicLazyReference<Encoding>()
    private let others = Mutex<[Encoding]>([])

    public init() {}

    /// The encoding named `key` (an entrypoint type and its settings, e.g. `sse/plain`), made by
    /// `encode` the first time.
    public func encoding(_ key: String, encode: () -> ByteBuffer) -> ByteBuffer {
        if let found = first.load() {
            if found.key == key { return found.bytes }
        } else {
            // Made outside any lock; two subscribers racing both encode, and the first one kept wins.
            let kept = first.storeIfNil(Encoding(key: key, bytes: encode()))
            if kept.key == key { return kept.bytes }
        }
        if let found = others.withLock({ list in list.first { $0.key == key }?.bytes }) { return found }
        let made = encode()
        return others.withLock { list in
            if let found = list.first(where: { $0.key == key }) { return found.bytes }
            list.append(Encoding(key: key, bytes: made))
            return made
        }
    }
}

extension Message {
    /// The encoding named `key`: shared through ``encodings`` when the message has them (made
    /// by `encode` once for every subscriber), otherwise made now.
    public func wireEncoding(_ key: String, encode: () -> ByteBuffer) -> ByteBuffer {
        encodings?.encoding(key, encode: encode) ?? encode()
    }
}
