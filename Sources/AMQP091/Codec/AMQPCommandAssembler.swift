//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: assembling frames into commands.
//===----------------------------------------------------------------------===//

import NIOCore

/// A complete AMQP command: a method and, for content-bearing methods, its
/// content header and body.
public struct AMQPCommand: Hashable, Sendable, CustomStringConvertible {
    /// The header and body of a content-bearing command.
    public struct Content: Hashable, Sendable {
        public var header: AMQPContentHeader
        public var body: ByteBuffer

        public init(header: AMQPContentHeader, body: ByteBuffer) {
            self.header = header
            self.body = body
        }

        public var properties: AMQPBasicProperties { self.header.properties }
    }

    public var channel: UInt16
    public var method: AMQPMethod
    public var content: Content?

    public init(channel: UInt16, method: AMQPMethod, content: Content? = nil) {
        self.channel = channel
        self.method = method
        self.content = content
    }

    public var description: String {
        if let content {
            return "AMQPCommand(channel: \(self.channel), \(self.method.name), body: \(content.body.readableBytes) bytes)"
        }
        return "AMQPCommand(channel: \(self.channel), \(self.method.name))"
    }
}

/// Turns a sequence of decoded frames into commands, enforcing the frame
/// sequencing rules of AMQP 0-9-1 (section 4.2.6): a content-bearing method
/// is followed on the same channel by exactly one content header and then
/// body frames adding up to the declared body size, with no method frame in
/// between. Channels are independent, so content may interleave across
/// channels.
///
/// Pure state machine, no I/O. Heartbeat frames produce no command.
public struct AMQPCommandAssembler: Sendable {
    /// Content being received on one channel.
    private struct Partial: Sendable {
        var method: AMQPMethod
        /// `nil` until the content header arrived.
        var header: AMQPContentHeader?
        /// Body bytes received so far (copied out of the input as they come,
        /// growing only with received bytes, never with the declared size).
        var body: ByteBuffer
    }

    /// RabbitMQ's default `max_message_size` (128 MiB).
    public static let defaultMaxBodySize: UInt64 = 134_217_728

    /// The largest body size a content header may declare.
    public var maxBodySize: UInt64

    private var pending: [UInt16: Partial] = [:]

    public init(maxBodySize: UInt64 = AMQPCommandAssembler.defaultMaxBodySize) {
        self.maxBodySize = maxBodySize
    }

    /// Whether `channel` is in the middle of receiving content.
    public func isAssemblingContent(on channel: UInt16) -> Bool {
        self.pending[channel] != nil
    }

    /// Forgets partial content on `channel` (e.g. after the channel closed).
    public mutating func reset(channel: UInt16) {
        self.pending[channel] = nil
    }

    /// Forgets all partial content.
    public mutating func resetAll() {
        self.pending.removeAll()
    }

    /// Feeds one frame. Returns a command when one is complete, `nil` when
    /// the frame was a heartbeat or part of a command still incomplete.
    ///
    /// Errors carry reply code 505 (unexpected frame) for out-of-order frames
    /// or body frames exceeding the declared size, 504 (channel error) for
    /// frames on the wrong channel, and 406 (precondition failed, as RabbitMQ
    /// does for `max_message_size`) for a declared body size larger than
    /// ``maxBodySize``.
    public mutating func process(_ frame: AMQPFrame) throws(AMQPCodecError) -> AMQPCommand? {
        let channel = frame.channel
        switch frame.payload {
        case .heartbeat:
            return nil

        case .method(let method):
            if self.pending[channel] != nil {
                throw AMQPCodecError(
                    code: .unexpectedFrame,
                    message: "\(method.name) on channel \(channel) while \(self.describePending(channel))",
                    replyCode: .unexpectedFrame
                )
            }
            let isConnectionClass = method.classID == AMQPMethod.Connection.classID
            if isConnectionClass != (channel == 0) {
                throw AMQPCodecError(
                    code: .invalidChannel,
                    message: isConnectionClass
                        ? "\(method.name) on channel \(channel); connection methods must use channel 0"
                        : "\(method.name) on channel 0; channel 0 carries only connection methods",
                    replyCode: .channelError
                )
            }
            if method.hasContent {
                self.pending[channel] = Partial(method: method, header: nil, body: ByteBuffer())
                return nil
            }
            return AMQPCommand(channel: channel, method: method)

        case .header(let header):
            guard let method = self.pending[channel]?.method, self.pending[channel]?.header == nil else {
                throw AMQPCodecError(
                    code: .unexpectedFrame,
                    message: "content header on channel \(channel) while \(self.describePending(channel))",
                    replyCode: .unexpectedFrame
                )
            }
            guard header.classID == method.classID else {
                throw AMQPCodecError(
                    code: .unexpectedFrame,
                    message: "content header class \(header.classID) does not match \(method.name)",
                    replyCode: .unexpectedFrame
                )
            }
            guard header.bodySize <= self.maxBodySize else {
                throw AMQPCodecError(
                    code: .contentTooLarge,
                    message: "declared body size \(header.bodySize) exceeds the maximum of \(self.maxBodySize) bytes",
                    replyCode: .preconditionFailed
                )
            }
            if header.bodySize == 0 {
                self.pending[channel] = nil
                return AMQPCommand(channel: channel, method: method, content: .init(header: header, body: ByteBuffer()))
            }
            self.pending[channel]?.header = header
            return nil

        case .body(let bytes):
            guard let header = self.pending[channel]?.header, let method = self.pending[channel]?.method else {
                throw AMQPCodecError(
                    code: .unexpectedFrame,
                    message: "body frame on channel \(channel) while \(self.describePending(channel))",
                    replyCode: .unexpectedFrame
                )
            }
            let receivedCount = self.pending[channel]?.body.readableBytes ?? 0
            let total = UInt64(receivedCount) + UInt64(bytes.readableBytes)
            guard total <= header.bodySize else {
                throw AMQPCodecError(
                    code: .bodySizeMismatch,
                    message: "body frames on channel \(channel) carry \(total) bytes, more than the declared \(header.bodySize)",
                    replyCode: .unexpectedFrame
                )
            }
            if total == header.bodySize && receivedCount == 0 {
                // The whole body in one frame: hand out the slice, no copy.
                self.pending[channel] = nil
                return AMQPCommand(channel: channel, method: method, content: .init(header: header, body: bytes))
            }
            // Append in place (the dictionary's storage stays uniquely owned).
            self.pending[channel]?.body.writeImmutableBuffer(bytes)
            if total == header.bodySize, let partial = self.pending.removeValue(forKey: channel) {
                return AMQPCommand(channel: channel, method: method, content: .init(header: header, body: partial.body))
            }
            return nil
        }
    }

    private func describePending(_ channel: UInt16) -> String {
        guard let partial = self.pending[channel] else {
            return "no content-bearing method is pending"
        }
        guard let header = partial.header else {
            return "expecting the content header of \(partial.method.name)"
        }
        let missing = header.bodySize - UInt64(partial.body.readableBytes)
        return "expecting \(missing) more body bytes of \(partial.method.name)"
    }
}
