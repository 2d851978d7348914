/// Bounds-checked big-endian reader over untrusted bytes. Every read either succeeds or throws
/// `KeyStoreError.malformed`; nothing traps.
struct KeyStoreByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    let context: String

    init(_ bytes: [UInt8], end: Int? = nil, context: String) {
        self.bytes = bytes
        self.offset = 0
        self.end = min(end ?? bytes.count, bytes.count)
        self.context = context
    }

    var remaining: Int { self.end - self.offset }

    private func truncated(_ what: String, _ wanted: Int) -> KeyStoreError {
        .malformed("\(self.context) is truncated: reading \(what) at offset \(self.offset) needs \(wanted) bytes, \(self.remaining) left")
    }

    mutating func readBytes(_ count: Int, _ what: String) throws(KeyStoreError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= self.remaining else { throw self.truncated(what, count) }
        let slice = self.bytes[self.offset..<(self.offset + count)]
        self.offset += count
        return slice
    }

    mutating func readUInt16(_ what: String) throws(KeyStoreError) -> UInt16 {
        let b = try self.readBytes(2, what)
        return b.reduce(0) { ($0 << 8) | UInt16($1) }
    }

    mutating func readUInt32(_ what: String) throws(KeyStoreError) -> UInt32 {
        let b = try self.readBytes(4, what)
        return b.reduce(0) { ($0 << 8) | UInt32($1) }
    }

    mutating func readUInt64(_ what: String) throws(KeyStoreError) -> UInt64 {
        let b = try self.readBytes(8, what)
        return b.reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// A u32 length followed by that many bytes, refused above `limit`.
    mutating func readLengthPrefixed(_ what: String, limit: Int) throws(KeyStoreError) -> ArraySlice<UInt8> {
        let length = Int(try self.readUInt32("length of \(what)"))
        guard length <= limit else {
            throw .malformed("\(self.context): \(what) of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        return try self.readBytes(length, what)
    }
}
