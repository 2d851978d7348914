//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: primitive wire types.
//
// Every integer on the wire is big-endian (network order). A payload reader
// works on the slice of one frame payload, so a length field can never make
// the decoder read (or allocate for) more bytes than the frame holds.
//===----------------------------------------------------------------------===//

import NIOCore

/// Reads AMQP primitive types from one frame payload. Running out of bytes is
/// an error (the frame is complete, so missing bytes mean truncated fields).
struct AMQPPayloadReader {
    var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    var remaining: Int { self.buffer.readableBytes }

    mutating func readOctet(_ what: StaticString) throws(AMQPCodecError) -> UInt8 {
        guard let value = self.buffer.readInteger(as: UInt8.self) else {
            throw .truncated("\(what)")
        }
        return value
    }

    mutating func readShort(_ what: StaticString) throws(AMQPCodecError) -> UInt16 {
        guard let value = self.buffer.readInteger(endianness: .big, as: UInt16.self) else {
            throw .truncated("\(what)")
        }
        return value
    }

    mutating func readLong(_ what: StaticString) throws(AMQPCodecError) -> UInt32 {
        guard let value = self.buffer.readInteger(endianness: .big, as: UInt32.self) else {
            throw .truncated("\(what)")
        }
        return value
    }

    mutating func readLongLong(_ what: StaticString) throws(AMQPCodecError) -> UInt64 {
        guard let value = self.buffer.readInteger(endianness: .big, as: UInt64.self) else {
            throw .truncated("\(what)")
        }
        return value
    }

    /// Reads one octet of packed bits. Bit 0 (least significant) holds the
    /// first bit field of a run of consecutive bit fields.
    mutating func readBits(_ what: StaticString) throws(AMQPCodecError) -> AMQPPackedBits {
        AMQPPackedBits(octet: try self.readOctet(what))
    }

    mutating func readBytes(count: Int, _ what: StaticString) throws(AMQPCodecError) -> [UInt8] {
        guard count <= self.buffer.readableBytes, let bytes = self.buffer.readBytes(length: count) else {
            throw .lengthExceedsFrame("\(what)", declared: UInt64(count), available: self.buffer.readableBytes)
        }
        return bytes
    }

    mutating func readShortString(_ what: StaticString) throws(AMQPCodecError) -> AMQPShortString {
        let length = Int(try self.readOctet(what))
        return AMQPShortString(bytes: try self.readBytes(count: length, what))
    }

    mutating func readLongString(_ what: StaticString) throws(AMQPCodecError) -> AMQPLongString {
        AMQPLongString(bytes: try self.readLongBytes(what))
    }

    /// A 32-bit length followed by that many octets.
    mutating func readLongBytes(_ what: StaticString) throws(AMQPCodecError) -> [UInt8] {
        let length = try self.readLong(what)
        guard UInt64(length) <= UInt64(self.buffer.readableBytes) else {
            throw .lengthExceedsFrame("\(what)", declared: UInt64(length), available: self.buffer.readableBytes)
        }
        return try self.readBytes(count: Int(length), what)
    }

    /// Splits off a 32-bit length-prefixed region (table or array body).
    mutating func readLengthPrefixedSlice(_ what: StaticString) throws(AMQPCodecError) -> ByteBuffer {
        let length = try self.readLong(what)
        guard UInt64(length) <= UInt64(self.buffer.readableBytes),
            let slice = self.buffer.readSlice(length: Int(length))
        else {
            throw .lengthExceedsFrame("\(what)", declared: UInt64(length), available: self.buffer.readableBytes)
        }
        return slice
    }

    mutating func readTable(_ what: StaticString) throws(AMQPCodecError) -> AMQPFieldTable {
        let slice = try self.readLengthPrefixedSlice(what)
        return try AMQPFieldTable.decodeBody(slice, depth: 1)
    }

    /// Fails if bytes are left after the last field.
    func expectEnd(_ what: String) throws(AMQPCodecError) {
        if self.buffer.readableBytes != 0 {
            throw .syntaxError(
                .trailingBytes,
                "\(self.buffer.readableBytes) unexpected bytes after the last field of \(what)"
            )
        }
    }
}

/// One octet of packed bit fields: the first bit field of a run is the least
/// significant bit. Up to 8 consecutive bit fields share one octet.
struct AMQPPackedBits {
    var octet: UInt8

    subscript(index: Int) -> Bool {
        (self.octet >> UInt8(index)) & 1 == 1
    }
}

extension ByteBuffer {
    /// Writes a run of consecutive bit fields, 8 to an octet, least
    /// significant bit first.
    mutating func writeAMQPBits(_ bits: Bool...) {
        var octet: UInt8 = 0
        var used = 0
        for bit in bits {
            if used == 8 {
                self.writeInteger(octet)
                octet = 0
                used = 0
            }
            if bit { octet |= 1 << UInt8(used) }
            used += 1
        }
        if used > 0 { self.writeInteger(octet) }
    }

    mutating func writeAMQPShort(_ value: UInt16) {
        self.writeInteger(value, endianness: .big)
    }

    mutating func writeAMQPLong(_ value: UInt32) {
        self.writeInteger(value, endianness: .big)
    }

    mutating func writeAMQPLongLong(_ value: UInt64) {
        self.writeInteger(value, endianness: .big)
    }

    mutating func writeAMQPShortString(_ value: AMQPShortString) throws(AMQPCodecError) {
        guard value.bytes.count <= AMQPShortString.maximumLength else {
            throw .valueTooLarge(
                "short string of \(value.bytes.count) bytes exceeds \(AMQPShortString.maximumLength) bytes"
            )
        }
        self.writeInteger(UInt8(value.bytes.count))
        self.writeBytes(value.bytes)
    }

    mutating func writeAMQPLongBytes(_ bytes: [UInt8]) throws(AMQPCodecError) {
        guard let length = UInt32(exactly: bytes.count) else {
            throw .valueTooLarge("long string of \(bytes.count) bytes exceeds the 32-bit length field")
        }
        self.writeInteger(length, endianness: .big)
        self.writeBytes(bytes)
    }

    mutating func writeAMQPLongString(_ value: AMQPLongString) throws(AMQPCodecError) {
        try self.writeAMQPLongBytes(value.bytes)
    }

    mutating func writeAMQPTable(_ table: AMQPFieldTable) throws(AMQPCodecError) {
        try table.encode(into: &self, depth: 1)
    }

    /// Reserves a 32-bit length, runs `body`, then back-fills the length with
    /// the number of bytes `body` wrote.
    mutating func writeAMQPLengthPrefixed(
        _ what: StaticString,
        _ body: (inout ByteBuffer) throws(AMQPCodecError) -> Void
    ) throws(AMQPCodecError) {
        let lengthIndex = self.writerIndex
        self.writeInteger(UInt32(0))
        let start = self.writerIndex
        try body(&self)
        let written = self.writerIndex - start
        guard let length = UInt32(exactly: written) else {
            throw .valueTooLarge("\(what) of \(written) bytes exceeds the 32-bit length field")
        }
        self.setInteger(length, at: lengthIndex, endianness: .big)
    }
}

// MARK: - Field tables

extension AMQPFieldTable {
    /// Decodes a field table (32-bit byte size followed by entries) from the
    /// front of `buffer`, consuming it. On error the buffer is left untouched.
    ///
    /// `buffer` must hold the whole table; a table that claims more bytes than
    /// the buffer holds is an error, not a request for more data.
    public static func decode(from buffer: inout ByteBuffer) throws(AMQPCodecError) -> AMQPFieldTable {
        var reader = AMQPPayloadReader(buffer)
        let table = try reader.readTable("field table")
        buffer = reader.buffer
        return table
    }

    /// Encodes the table (32-bit byte size followed by entries) into `buffer`.
    /// Fails if a key is longer than 255 bytes, the nesting is deeper than
    /// ``maximumNestingDepth``, or a size does not fit 32 bits.
    public func encode(into buffer: inout ByteBuffer) throws(AMQPCodecError) {
        try self.encode(into: &buffer, depth: 1)
    }

    /// The encoded size in bytes (including the 32-bit size prefix).
    public func encodedSize() throws(AMQPCodecError) -> Int {
        var buffer = ByteBuffer()
        try self.encode(into: &buffer)
        return buffer.readableBytes
    }

    static func decodeBody(_ body: ByteBuffer, depth: Int) throws(AMQPCodecError) -> AMQPFieldTable {
        guard depth <= AMQPFieldTable.maximumNestingDepth else {
            throw .syntaxError(
                .nestingTooDeep,
                "field tables/arrays nested deeper than \(AMQPFieldTable.maximumNestingDepth) levels"
            )
        }
        var reader = AMQPPayloadReader(body)
        var entries: [Entry] = []
        while reader.remaining > 0 {
            let key = try reader.readShortString("field table key")
            let value = try AMQPFieldValue.decode(from: &reader, depth: depth)
            entries.append(Entry(key: key, value: value))
        }
        return AMQPFieldTable(entries)
    }

    func encode(into buffer: inout ByteBuffer, depth: Int) throws(AMQPCodecError) {
        guard depth <= AMQPFieldTable.maximumNestingDepth else {
            throw AMQPCodecError(
                code: .nestingTooDeep,
                message: "cannot encode field tables/arrays nested deeper than \(AMQPFieldTable.maximumNestingDepth) levels",
                replyCode: nil
            )
        }
        let entries = self.entries
        try buffer.writeAMQPLengthPrefixed("field table") { (buffer: inout ByteBuffer) throws(AMQPCodecError) in
            for entry in entries {
                try buffer.writeAMQPShortString(entry.key)
                try entry.value.encode(into: &buffer, depth: depth)
            }
        }
    }
}

extension AMQPFieldValue {
    /// Decodes one tagged value. `depth` is the depth of the table or array
    /// that contains it.
    static func decode(from reader: inout AMQPPayloadReader, depth: Int) throws(AMQPCodecError) -> AMQPFieldValue {
        let tag = try reader.readOctet("field value type")
        switch tag {
        case UInt8(ascii: "t"):
            return .bool(try reader.readOctet("boolean field value") != 0)
        case UInt8(ascii: "b"):
            return .int8(Int8(bitPattern: try reader.readOctet("int8 field value")))
        case UInt8(ascii: "B"):
            return .uint8(try reader.readOctet("uint8 field value"))
        case UInt8(ascii: "s"):
            return .int16(Int16(bitPattern: try reader.readShort("int16 field value")))
        case UInt8(ascii: "u"):
            return .uint16(try reader.readShort("uint16 field value"))
        case UInt8(ascii: "I"):
            return .int32(Int32(bitPattern: try reader.readLong("int32 field value")))
        case UInt8(ascii: "i"):
            return .uint32(try reader.readLong("uint32 field value"))
        case UInt8(ascii: "l"):
            return .int64(Int64(bitPattern: try reader.readLongLong("int64 field value")))
        case UInt8(ascii: "f"):
            return .float(Float(bitPattern: try reader.readLong("float field value")))
        case UInt8(ascii: "d"):
            return .double(Double(bitPattern: try reader.readLongLong("double field value")))
        case UInt8(ascii: "D"):
            let scale = try reader.readOctet("decimal scale")
            let value = try reader.readLong("decimal value")
            return .decimal(AMQPDecimal(scale: scale, value: value))
        case UInt8(ascii: "S"):
            return .longString(try reader.readLongString("long string field value"))
        case UInt8(ascii: "x"):
            return .byteArray(try reader.readLongBytes("byte array field value"))
        case UInt8(ascii: "A"):
            let slice = try reader.readLengthPrefixedSlice("field array")
            return .array(try Self.decodeArrayBody(slice, depth: depth + 1))
        case UInt8(ascii: "T"):
            return .timestamp(try reader.readLongLong("timestamp field value"))
        case UInt8(ascii: "F"):
            let slice = try reader.readLengthPrefixedSlice("nested field table")
            return .table(try AMQPFieldTable.decodeBody(slice, depth: depth + 1))
        case UInt8(ascii: "V"):
            return .void
        default:
            throw .syntaxError(.unknownFieldType, "unknown field value type tag \(Self.describeTag(tag))")
        }
    }

    static func decodeArrayBody(_ body: ByteBuffer, depth: Int) throws(AMQPCodecError) -> [AMQPFieldValue] {
        guard depth <= AMQPFieldTable.maximumNestingDepth else {
            throw .syntaxError(
                .nestingTooDeep,
                "field tables/arrays nested deeper than \(AMQPFieldTable.maximumNestingDepth) levels"
            )
        }
        var reader = AMQPPayloadReader(body)
        var values: [AMQPFieldValue] = []
        while reader.remaining > 0 {
            values.append(try AMQPFieldValue.decode(from: &reader, depth: depth))
        }
        return values
    }

    /// Encodes the tag and the value. `depth` is the depth of the containing
    /// table or array.
    func encode(into buffer: inout ByteBuffer, depth: Int) throws(AMQPCodecError) {
        buffer.writeInteger(self.typeTag)
        switch self {
        case .bool(let v): buffer.writeInteger(UInt8(v ? 1 : 0))
        case .int8(let v): buffer.writeInteger(v)
        case .uint8(let v): buffer.writeInteger(v)
        case .int16(let v): buffer.writeInteger(v, endianness: .big)
        case .uint16(let v): buffer.writeInteger(v, endianness: .big)
        case .int32(let v): buffer.writeInteger(v, endianness: .big)
        case .uint32(let v): buffer.writeInteger(v, endianness: .big)
        case .int64(let v): buffer.writeInteger(v, endianness: .big)
        case .float(let v): buffer.writeInteger(v.bitPattern, endianness: .big)
        case .double(let v): buffer.writeInteger(v.bitPattern, endianness: .big)
        case .decimal(let v):
            buffer.writeInteger(v.scale)
            buffer.writeInteger(v.value, endianness: .big)
        case .longString(let v): try buffer.writeAMQPLongString(v)
        case .byteArray(let v): try buffer.writeAMQPLongBytes(v)
        case .array(let values):
            try Self.encodeArray(values, into: &buffer, depth: depth + 1)
        case .timestamp(let v): buffer.writeInteger(v, endianness: .big)
        case .table(let table): try table.encode(into: &buffer, depth: depth + 1)
        case .void: break
        }
    }

    static func encodeArray(_ values: [AMQPFieldValue], into buffer: inout ByteBuffer, depth: Int) throws(AMQPCodecError) {
        guard depth <= AMQPFieldTable.maximumNestingDepth else {
            throw AMQPCodecError(
                code: .nestingTooDeep,
                message: "cannot encode field tables/arrays nested deeper than \(AMQPFieldTable.maximumNestingDepth) levels",
                replyCode: nil
            )
        }
        try buffer.writeAMQPLengthPrefixed("field array") { (buffer: inout ByteBuffer) throws(AMQPCodecError) in
            for value in values {
                try value.encode(into: &buffer, depth: depth)
            }
        }
    }

    static func describeTag(_ tag: UInt8) -> String {
        if tag >= 0x21 && tag < 0x7F {
            return "'\(Character(Unicode.Scalar(tag)))' (0x\(String(tag, radix: 16)))"
        }
        return "0x\(String(tag, radix: 16))"
    }
}
