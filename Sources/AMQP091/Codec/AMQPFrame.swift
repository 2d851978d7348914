//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: protocol header and frames.
//
// General frame format (AMQP 0-9-1, section 4.2.3):
//
//   0      1         3         7                  size+7 size+8
//   +------+---------+---------+ +-------------+ +-----------+
//   | type | channel |  size   | |   payload   | | frame-end |
//   +------+---------+---------+ +-------------+ +-----------+
//    octet   short     long       size octets       0xCE
//===----------------------------------------------------------------------===//

import NIOCore

/// The 8-octet protocol header a client sends first: `"AMQP" 0 0 9 1`.
/// A server that does not support the requested version answers with its own
/// header and closes the socket.
public struct AMQPProtocolHeader: Hashable, Sendable, CustomStringConvertible {
    public var protocolID: UInt8
    public var major: UInt8
    public var minor: UInt8
    public var revision: UInt8

    public init(protocolID: UInt8, major: UInt8, minor: UInt8, revision: UInt8) {
        self.protocolID = protocolID
        self.major = major
        self.minor = minor
        self.revision = revision
    }

    /// `"AMQP" 0 0 9 1`.
    public static let amqp091 = AMQPProtocolHeader(protocolID: 0, major: 0, minor: 9, revision: 1)

    /// The size of the header on the wire.
    public static let encodedSize = 8

    static let magic: [UInt8] = Array("AMQP".utf8)

    public var isAMQP091: Bool { self == .amqp091 }

    public var description: String {
        "AMQP \(self.protocolID) \(self.major) \(self.minor) \(self.revision)"
    }

    /// Writes the 8 octets.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(self.protocolID)
        buffer.writeInteger(self.major)
        buffer.writeInteger(self.minor)
        buffer.writeInteger(self.revision)
    }

    /// Decodes a protocol header from the front of `buffer`.
    ///
    /// Returns `nil` without moving the reader index while fewer than 8 bytes
    /// are readable and those bytes are still a prefix of `"AMQP"`. Throws
    /// ``AMQPCodecError/Code/invalidProtocolHeader`` as soon as the bytes
    /// cannot be an AMQP header, or (when `requireAMQP091` is true, the
    /// default) when the header asks for another protocol version. On success
    /// the 8 bytes are consumed.
    public static func decode(
        from buffer: inout ByteBuffer,
        requireAMQP091: Bool = true
    ) throws(AMQPCodecError) -> AMQPProtocolHeader? {
        let available = min(buffer.readableBytes, Self.encodedSize)
        let prefixLength = min(available, Self.magic.count)
        if let prefix = buffer.getBytes(at: buffer.readerIndex, length: prefixLength),
            prefix != Array(Self.magic.prefix(prefixLength))
        {
            throw AMQPCodecError(
                code: .invalidProtocolHeader,
                message: "expected the protocol header \"AMQP\" 0 0 9 1, got bytes \(prefix)",
                replyCode: nil
            )
        }
        guard available == Self.encodedSize, let tail = buffer.getBytes(at: buffer.readerIndex + 4, length: 4) else {
            return nil
        }
        let header = AMQPProtocolHeader(protocolID: tail[0], major: tail[1], minor: tail[2], revision: tail[3])
        if requireAMQP091 && !header.isAMQP091 {
            throw AMQPCodecError(
                code: .invalidProtocolHeader,
                message: "peer requested protocol \(header), only AMQP 0 0 9 1 is supported",
                replyCode: nil
            )
        }
        buffer.moveReaderIndex(forwardBy: Self.encodedSize)
        return header
    }
}

/// The frame type octet.
public struct AMQPFrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let method = AMQPFrameType(rawValue: 1)
    public static let header = AMQPFrameType(rawValue: 2)
    public static let body = AMQPFrameType(rawValue: 3)
    public static let heartbeat = AMQPFrameType(rawValue: 8)

    /// Whether this is one of the four frame types of AMQP 0-9-1.
    public var isKnown: Bool {
        switch self.rawValue {
        case 1, 2, 3, 8: return true
        default: return false
        }
    }

    public var description: String {
        switch self.rawValue {
        case 1: return "method"
        case 2: return "header"
        case 3: return "body"
        case 8: return "heartbeat"
        default: return "unknown(\(self.rawValue))"
        }
    }
}

/// One AMQP 0-9-1 frame: a channel number and a typed payload.
public struct AMQPFrame: Hashable, Sendable, CustomStringConvertible {
    /// What a frame carries.
    public enum Payload: Hashable, Sendable {
        /// A method frame (type 1).
        case method(AMQPMethod)
        /// A content header frame (type 2).
        case header(AMQPContentHeader)
        /// A content body frame (type 3); the bytes are a slice of the input.
        case body(ByteBuffer)
        /// A heartbeat frame (type 8, channel 0, empty payload).
        case heartbeat
    }

    public var channel: UInt16
    public var payload: Payload

    public init(channel: UInt16, payload: Payload) {
        self.channel = channel
        self.payload = payload
    }

    /// The frame-end octet, 0xCE.
    public static let frameEnd: UInt8 = 0xCE
    /// Bytes before the payload: type (1), channel (2), size (4).
    public static let headerSize = 7
    /// Bytes a frame adds around its payload: header (7) + frame-end (1).
    public static let overhead = 8
    /// The frame size every peer must accept before tuning (`frame-min-size`).
    public static let minimumFrameSize: UInt32 = 4096

    /// A heartbeat frame (on channel 0).
    public static let heartbeat = AMQPFrame(channel: 0, payload: .heartbeat)

    /// A method frame.
    public static func method(_ method: AMQPMethod, channel: UInt16) -> AMQPFrame {
        AMQPFrame(channel: channel, payload: .method(method))
    }

    /// A content header frame.
    public static func header(_ header: AMQPContentHeader, channel: UInt16) -> AMQPFrame {
        AMQPFrame(channel: channel, payload: .header(header))
    }

    /// A content body frame.
    public static func body(_ bytes: ByteBuffer, channel: UInt16) -> AMQPFrame {
        AMQPFrame(channel: channel, payload: .body(bytes))
    }

    /// The frame type octet this frame encodes with.
    public var type: AMQPFrameType {
        switch self.payload {
        case .method: return .method
        case .header: return .header
        case .body: return .body
        case .heartbeat: return .heartbeat
        }
    }

    public var description: String {
        switch self.payload {
        case .method(let method): return "AMQPFrame(channel: \(self.channel), \(method.name): \(method))"
        case .header(let header): return "AMQPFrame(channel: \(self.channel), header: \(header))"
        case .body(let bytes): return "AMQPFrame(channel: \(self.channel), body: \(bytes.readableBytes) bytes)"
        case .heartbeat: return "AMQPFrame(channel: \(self.channel), heartbeat)"
        }
    }

    // MARK: Encoding

    /// Encodes the whole frame (header, payload, frame-end) into `buffer`.
    ///
    /// - Parameter maxFrameSize: the negotiated frame_max (whole frame size in
    ///   bytes, header and frame-end included), or 0 for no limit. A frame that
    ///   would be larger fails with ``AMQPCodecError/Code/frameTooLarge``.
    ///
    /// On error `buffer` is left as it was.
    public func encode(into buffer: inout ByteBuffer, maxFrameSize: UInt32 = 0) throws(AMQPCodecError) {
        let start = buffer.writerIndex
        do throws(AMQPCodecError) {
            buffer.writeInteger(self.type.rawValue)
            buffer.writeAMQPShort(self.channel)
            let sizeIndex = buffer.writerIndex
            buffer.writeAMQPLong(0)
            let payloadStart = buffer.writerIndex
            switch self.payload {
            case .method(let method):
                try method.encode(into: &buffer)
            case .header(let header):
                try header.encode(into: &buffer)
            case .body(let bytes):
                buffer.writeImmutableBuffer(bytes)
            case .heartbeat:
                break
            }
            let payloadSize = buffer.writerIndex - payloadStart
            guard let size = UInt32(exactly: payloadSize), size <= UInt32.max - UInt32(Self.overhead) else {
                throw AMQPCodecError(
                    code: .frameTooLarge,
                    message: "frame payload of \(payloadSize) bytes does not fit a 32-bit size",
                    replyCode: nil
                )
            }
            if maxFrameSize != 0 && size + UInt32(Self.overhead) > maxFrameSize {
                throw AMQPCodecError(
                    code: .frameTooLarge,
                    message: "\(self.type) frame of \(Int(size) + Self.overhead) bytes exceeds frame_max \(maxFrameSize)",
                    replyCode: nil
                )
            }
            buffer.setInteger(size, at: sizeIndex, endianness: .big)
            buffer.writeInteger(Self.frameEnd)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Splits `body` into body frames of at most `maxFrameSize - 8` payload
    /// bytes each (the body bytes are shared, not copied). An empty body gives
    /// no frames.
    ///
    /// - Parameter maxFrameSize: the negotiated frame_max, or 0 for no limit.
    ///   A non-zero value must be greater than 8.
    public static func bodyFrames(
        channel: UInt16,
        body: ByteBuffer,
        maxFrameSize: UInt32
    ) throws(AMQPCodecError) -> [AMQPFrame] {
        let chunkSize = try Self.maximumBodyChunk(maxFrameSize: maxFrameSize)
        var frames: [AMQPFrame] = []
        frames.reserveCapacity((body.readableBytes + chunkSize - 1) / chunkSize)
        var remaining = body
        while remaining.readableBytes > 0 {
            let length = min(chunkSize, remaining.readableBytes)
            guard let slice = remaining.readSlice(length: length) else { break }
            frames.append(AMQPFrame(channel: channel, payload: .body(slice)))
        }
        return frames
    }

    /// The frames of one content-bearing command: the method frame, the
    /// content header frame (body size taken from `body`), and the body split
    /// into frames of at most `maxFrameSize - 8` bytes.
    ///
    /// Fails with ``AMQPCodecError/Code/invalidArgument`` if `method` carries
    /// no content (see ``AMQPMethod/hasContent``).
    public static func contentFrames(
        channel: UInt16,
        method: AMQPMethod,
        properties: AMQPBasicProperties = .none,
        body: ByteBuffer,
        maxFrameSize: UInt32
    ) throws(AMQPCodecError) -> [AMQPFrame] {
        guard method.hasContent else {
            throw AMQPCodecError(
                code: .invalidArgument,
                message: "\(method.name) does not carry content",
                replyCode: nil
            )
        }
        let header = AMQPContentHeader(bodySize: UInt64(body.readableBytes), properties: properties)
        var frames = [AMQPFrame.method(method, channel: channel), AMQPFrame.header(header, channel: channel)]
        frames.append(contentsOf: try Self.bodyFrames(channel: channel, body: body, maxFrameSize: maxFrameSize))
        return frames
    }

    /// Encodes a whole content-bearing command (method frame, content header
    /// frame, body frames) into `buffer`, every frame checked against
    /// `maxFrameSize`. On error `buffer` is left as it was.
    ///
    /// ```swift
    /// try AMQPFrame.encodeContent(
    ///     channel: 1,
    ///     method: .basic(.publish(.init(exchange: "", routingKey: "jobs"))),
    ///     properties: .init(contentType: "application/json", deliveryMode: AMQPBasicProperties.persistent),
    ///     body: payload,
    ///     maxFrameSize: negotiatedFrameMax,
    ///     into: &out
    /// )
    /// ```
    public static func encodeContent(
        channel: UInt16,
        method: AMQPMethod,
        properties: AMQPBasicProperties = .none,
        body: ByteBuffer,
        maxFrameSize: UInt32,
        into buffer: inout ByteBuffer
    ) throws(AMQPCodecError) {
        let frames = try Self.contentFrames(
            channel: channel,
            method: method,
            properties: properties,
            body: body,
            maxFrameSize: maxFrameSize
        )
        let start = buffer.writerIndex
        do throws(AMQPCodecError) {
            for frame in frames {
                try frame.encode(into: &buffer, maxFrameSize: maxFrameSize)
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    static func maximumBodyChunk(maxFrameSize: UInt32) throws(AMQPCodecError) -> Int {
        if maxFrameSize == 0 {
            return Int(UInt32.max) - Self.overhead
        }
        guard maxFrameSize > UInt32(Self.overhead) else {
            throw AMQPCodecError(
                code: .invalidArgument,
                message: "frame_max \(maxFrameSize) leaves no room for body bytes (must be greater than \(Self.overhead))",
                replyCode: nil
            )
        }
        return Int(maxFrameSize) - Self.overhead
    }
}

/// Decodes frames from a byte stream. A pure value: it holds only the
/// negotiated limit, never buffered bytes.
///
/// ```swift
/// var decoder = AMQPFrameDecoder(maxFrameSize: tune.frameMax)
/// while let frame = try decoder.decode(from: &inbound) { ... }
/// ```
public struct AMQPFrameDecoder: Hashable, Sendable {
    /// RabbitMQ's default frame_max (128 KiB).
    public static let defaultMaxFrameSize: UInt32 = 131_072

    /// The largest acceptable frame in bytes, header and frame-end included
    /// (the AMQP frame_max). 0 means no limit beyond the 32-bit size field.
    /// Set it to the negotiated value after `connection.tune-ok`.
    public var maxFrameSize: UInt32

    public init(maxFrameSize: UInt32 = AMQPFrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// Decodes one frame from the front of `buffer`.
    ///
    /// - Returns: the frame, consuming its bytes; or `nil` when more bytes are
    ///   needed, with the reader index untouched.
    /// - Throws: ``AMQPCodecError`` for any malformed input. The frame header
    ///   is checked as soon as its 7 bytes are available: an unknown frame
    ///   type, a bad heartbeat header, or a declared size above
    ///   ``maxFrameSize`` fails immediately, before any payload is buffered.
    ///   On error the reader index is untouched; the stream cannot be resumed
    ///   and the connection should be closed with the error's reply code.
    public func decode(from buffer: inout ByteBuffer) throws(AMQPCodecError) -> AMQPFrame? {
        let base = buffer.readerIndex
        guard let rawType = buffer.getInteger(at: base, as: UInt8.self) else {
            return nil
        }
        let type = AMQPFrameType(rawValue: rawType)
        guard type.isKnown else {
            let hint = rawType == UInt8(ascii: "A") ? " (the peer may have sent a protocol header, rejecting the version)" : ""
            throw .frameError(.unknownFrameType, "unknown frame type \(rawType)\(hint)")
        }
        guard let channel = buffer.getInteger(at: base + 1, endianness: .big, as: UInt16.self),
            let size = buffer.getInteger(at: base + 3, endianness: .big, as: UInt32.self)
        else {
            return nil
        }
        if type == .heartbeat {
            guard channel == 0 else {
                throw .frameError(.invalidHeartbeat, "heartbeat frame on channel \(channel); must be channel 0")
            }
            guard size == 0 else {
                throw .frameError(.invalidHeartbeat, "heartbeat frame with a \(size)-byte payload; must be empty")
            }
        }
        let frameSize = UInt64(size) + UInt64(AMQPFrame.overhead)
        if self.maxFrameSize != 0 && frameSize > UInt64(self.maxFrameSize) {
            throw .frameError(
                .frameTooLarge,
                "\(type) frame of \(frameSize) bytes on channel \(channel) exceeds frame_max \(self.maxFrameSize)"
            )
        }
        guard UInt64(buffer.readableBytes) >= frameSize else {
            return nil
        }
        let payloadSize = Int(size)
        let endIndex = base + AMQPFrame.headerSize + payloadSize
        guard let end = buffer.getInteger(at: endIndex, as: UInt8.self),
            let payload = buffer.getSlice(at: base + AMQPFrame.headerSize, length: payloadSize)
        else {
            return nil
        }
        guard end == AMQPFrame.frameEnd else {
            throw .frameError(
                .invalidFrameEnd,
                "\(type) frame on channel \(channel) ends with 0x\(String(end, radix: 16)), expected 0xce"
            )
        }
        let framePayload: AMQPFrame.Payload
        switch type {
        case .method:
            framePayload = .method(try AMQPMethod.decode(payload: payload))
        case .header:
            framePayload = .header(try AMQPContentHeader.decode(payload: payload))
        case .body:
            framePayload = .body(payload)
        default:
            framePayload = .heartbeat
        }
        buffer.moveReaderIndex(forwardBy: Int(frameSize))
        return AMQPFrame(channel: channel, payload: framePayload)
    }
}
