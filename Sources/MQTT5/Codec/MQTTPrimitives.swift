import NIOCore

/// Variable Byte Integer (§1.5.5): 7 bits per byte, least significant group first, at most
/// four bytes, so at most 268,435,455. Encodings must be minimal.
public enum MQTTVariableByteInteger {
    /// The largest value a Variable Byte Integer can hold.
    public static let maxValue: UInt32 = 268_435_455

    /// The number of bytes `value` takes when encoded (1...4). Values above ``maxValue``
    /// report 5, which no encoder will write.
    public static func encodedSize(of value: UInt32) -> Int {
        switch value {
        case 0..<128: return 1
        case 128..<16_384: return 2
        case 16_384..<2_097_152: return 3
        case 2_097_152...maxValue: return 4
        default: return 5
        }
    }

    /// Writes `value` and returns the number of bytes written.
    @discardableResult
    public static func write(_ value: UInt32, to buffer: inout ByteBuffer) throws(MQTTCodecError) -> Int {
        guard value <= maxValue else {
            throw .malformed(.malformedVariableByteInteger, "value \(value) exceeds the Variable Byte Integer maximum \(maxValue)")
        }
        return writeUnchecked(value, to: &buffer)
    }

    @discardableResult
    static func writeUnchecked(_ value: UInt32, to buffer: inout ByteBuffer) -> Int {
        var remaining = value
        var count = 0
        repeat {
            var byte = UInt8(truncatingIfNeeded: remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            buffer.writeInteger(byte)
            count += 1
        } while remaining > 0
        return count
    }

    /// Reads a Variable Byte Integer starting at `index` without moving the reader index.
    ///
    /// - Returns: the value and its encoded length, or `nil` when the buffer ends before the
    ///   integer does (more bytes are needed).
    /// - Throws: ``MQTTCodecError`` (Malformed Packet) for a fifth byte or a non-minimal encoding.
    public static func get(
        from buffer: ByteBuffer,
        at index: Int
    ) throws(MQTTCodecError) -> (value: UInt32, length: Int)? {
        var value: UInt32 = 0
        for position in 0..<4 {
            guard let byte = buffer.getInteger(at: index + position, as: UInt8.self) else {
                return nil
            }
            value |= UInt32(byte & 0x7F) << (7 * UInt32(position))
            if byte & 0x80 == 0 {
                if position > 0 && byte == 0 {
                    throw .malformed(
                        .malformedVariableByteInteger,
                        "Variable Byte Integer is not minimally encoded (\(position + 1) bytes for \(value))"
                    )
                }
                return (value, position + 1)
            }
        }
        throw .malformed(.malformedVariableByteInteger, "Variable Byte Integer has more than 4 bytes")
    }

    /// Reads a Variable Byte Integer at the reader index. Returns `nil` (reader index untouched)
    /// when more bytes are needed; on error the reader index is untouched too.
    public static func read(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> UInt32? {
        guard let (value, length) = try get(from: buffer, at: buffer.readerIndex) else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
        return value
    }
}

/// UTF-8 Encoded Strings (§1.5.4) and Binary Data (§1.5.6).
public enum MQTTUTF8String {
    /// The longest string (in UTF-8 bytes) that fits the two-byte length prefix.
    public static let maxLength = 65_535

    /// Validates `bytes` as an MQTT UTF-8 Encoded String: well-formed UTF-8 (which excludes
    /// encoded surrogates U+D800...U+DFFF and overlong forms) and no U+0000.
    public static func validate(_ bytes: ByteBuffer, field: String) throws(MQTTCodecError) -> String {
        if bytes.readableBytesView.contains(0) {
            throw .malformed(.nullCharacter, "\(field) contains U+0000")
        }
        let string = bytes.withUnsafeReadableBytes { raw in
            String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self)
        }
        guard let string else {
            throw .malformed(.invalidUTF8, "\(field) is not well-formed UTF-8")
        }
        return string
    }

    /// The encoded size (2 + UTF-8 length) of `string`, validating that it can be encoded.
    public static func encodedSize(of string: String, field: String) throws(MQTTCodecError) -> Int {
        let count = string.utf8.count
        guard count <= maxLength else {
            throw .malformed(.stringTooLong, "\(field) is \(count) bytes long; the maximum is \(maxLength)")
        }
        if string.utf8.contains(0) {
            throw .malformed(.nullCharacter, "\(field) contains U+0000")
        }
        return 2 + count
    }

    static func binaryEncodedSize(of data: ByteBuffer, field: String) throws(MQTTCodecError) -> Int {
        let count = data.readableBytes
        guard count <= maxLength else {
            throw .malformed(.binaryDataTooLong, "\(field) is \(count) bytes long; the maximum is \(maxLength)")
        }
        return 2 + count
    }
}

extension ByteBuffer {
    /// Writes a length-prefixed string; its size must have been validated first.
    mutating func writeMQTTString(_ string: String) {
        self.writeInteger(UInt16(truncatingIfNeeded: string.utf8.count))
        self.writeString(string)
    }

    /// Writes length-prefixed binary data; its size must have been validated first.
    mutating func writeMQTTBinary(_ data: ByteBuffer) {
        self.writeInteger(UInt16(truncatingIfNeeded: data.readableBytes))
        self.writeImmutableBuffer(data)
    }
}

/// Reads the fields of one packet's body, which is already fully buffered. Running out of
/// bytes is a Malformed Packet (the remaining length was shorter than the content).
struct MQTTPacketReader {
    var buffer: ByteBuffer
    let packetType: MQTTPacketType

    init(_ buffer: ByteBuffer, packetType: MQTTPacketType) {
        self.buffer = buffer
        self.packetType = packetType
    }

    var remaining: Int { self.buffer.readableBytes }
    var isAtEnd: Bool { self.buffer.readableBytes == 0 }

    private func truncated(_ field: String) -> MQTTCodecError {
        .malformed(.unexpectedEndOfPacket, "\(self.packetType) ended while reading \(field)")
    }

    mutating func readByte(_ field: String) throws(MQTTCodecError) -> UInt8 {
        guard let value = self.buffer.readInteger(as: UInt8.self) else { throw self.truncated(field) }
        return value
    }

    mutating func readUInt16(_ field: String) throws(MQTTCodecError) -> UInt16 {
        guard let value = self.buffer.readInteger(as: UInt16.self) else { throw self.truncated(field) }
        return value
    }

    mutating func readUInt32(_ field: String) throws(MQTTCodecError) -> UInt32 {
        guard let value = self.buffer.readInteger(as: UInt32.self) else { throw self.truncated(field) }
        return value
    }

    mutating func readVariableByteInteger(_ field: String) throws(MQTTCodecError) -> UInt32 {
        guard let value = try MQTTVariableByteInteger.read(from: &self.buffer) else { throw self.truncated(field) }
        return value
    }

    mutating func readSlice(length: Int, _ field: String) throws(MQTTCodecError) -> ByteBuffer {
        guard let slice = self.buffer.readSlice(length: length) else { throw self.truncated(field) }
        return slice
    }

    mutating func readString(_ field: String) throws(MQTTCodecError) -> String {
        let length = try self.readUInt16("\(field) length")
        let bytes = try self.readSlice(length: Int(length), field)
        return try MQTTUTF8String.validate(bytes, field: field)
    }

    mutating func readBinary(_ field: String) throws(MQTTCodecError) -> ByteBuffer {
        let length = try self.readUInt16("\(field) length")
        return try self.readSlice(length: Int(length), field)
    }

    mutating func readRest() -> ByteBuffer {
        self.buffer.readSlice(length: self.buffer.readableBytes) ?? ByteBuffer()
    }

    func expectEnd() throws(MQTTCodecError) {
        guard self.isAtEnd else {
            throw .malformed(
                .trailingBytes,
                "\(self.packetType) has \(self.remaining) unexpected byte(s) after its content"
            )
        }
    }

    mutating func readPacketIdentifier() throws(MQTTCodecError) -> UInt16 {
        let identifier = try self.readUInt16("Packet Identifier")
        guard identifier != 0 else {
            throw .protocolError(.invalidPacketIdentifier, "\(self.packetType) has Packet Identifier 0")
        }
        return identifier
    }

    mutating func readReasonCode() throws(MQTTCodecError) -> MQTTReasonCode {
        let raw = try self.readByte("Reason Code")
        return try MQTTReasonCode.validated(raw: raw, in: self.packetType)
    }
}

extension MQTTReasonCode {
    static func validated(raw: UInt8, in packetType: MQTTPacketType) throws(MQTTCodecError) -> MQTTReasonCode {
        guard let code = MQTTReasonCode(rawValue: raw) else {
            throw .malformed(.invalidReasonCode, "unknown reason code 0x\(String(raw, radix: 16)) in \(packetType)")
        }
        try code.checkAllowed(in: packetType)
        return code
    }

    func checkAllowed(in packetType: MQTTPacketType) throws(MQTTCodecError) {
        guard self.isAllowed(in: packetType) else {
            throw .malformed(
                .invalidReasonCode,
                "reason code 0x\(String(self.rawValue, radix: 16)) (\(self)) is not allowed in \(packetType)"
            )
        }
    }
}
