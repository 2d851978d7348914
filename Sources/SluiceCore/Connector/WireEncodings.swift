import NIOCore
import Synchronization

/// The wire encodings of one message, made once and shared by every subscriber that gets it
/// (live fan-out): the first subscriber whose entrypoint needs an encoding makes it, the others
/// write the same buffer. A message has a few encodings at most (one per entrypoint setting), so
/// they are kept in a small list.
public final class WireEncodings: Sendable {
    private let encodings = Mutex<[(key: String, bytes: ByteBuffer)]>([])

    public init() {}

    /// The encoding named `key` (an entrypoint type and its settings, e.g. `sse/plain`), made by
    /// `encode` the first time.
    public func encoding(_ key: String, encode: () -> ByteBuffer) -> ByteBuffer {
        if let found = encodings.withLock({ list in list.first { $0.key == key }?.bytes }) { return found }
        // Made outside the lock; two subscribers racing both encode, and the first one kept wins.
        let made = encode()
        return encodings.withLock { list in
            if let found = list.first(where: { $0.key == key }) { return found.bytes }
            list.append((key, made))
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
