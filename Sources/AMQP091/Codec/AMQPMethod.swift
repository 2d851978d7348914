//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: methods.
//===----------------------------------------------------------------------===//

import NIOCore

/// An AMQP 0-9-1 method (the payload of a method frame), grouped by class.
///
/// Covers every method of the classes connection, channel, exchange, queue,
/// basic, confirm and tx, including RabbitMQ's extensions. Bit fields are
/// packed as the specification says: consecutive bit fields share an octet,
/// first field in the least significant bit.
///
/// ```swift
/// let publish = AMQPMethod.basic(.publish(.init(exchange: "events", routingKey: "user.created")))
/// ```
public enum AMQPMethod: Hashable, Sendable, CustomStringConvertible {
    case connection(Connection)
    case channel(Channel)
    case exchange(Exchange)
    case queue(Queue)
    case basic(Basic)
    case confirm(Confirm)
    case tx(Tx)

    /// The class id on the wire.
    public var classID: UInt16 {
        switch self {
        case .connection: return Connection.classID
        case .channel: return Channel.classID
        case .exchange: return Exchange.classID
        case .queue: return Queue.classID
        case .basic: return Basic.classID
        case .confirm: return Confirm.classID
        case .tx: return Tx.classID
        }
    }

    /// The method id on the wire (within its class).
    public var methodID: UInt16 {
        switch self {
        case .connection(let m): return m.methodID
        case .channel(let m): return m.methodID
        case .exchange(let m): return m.methodID
        case .queue(let m): return m.methodID
        case .basic(let m): return m.methodID
        case .confirm(let m): return m.methodID
        case .tx(let m): return m.methodID
        }
    }

    /// The specification name, e.g. `"basic.publish"`.
    public var name: String {
        switch self {
        case .connection(let m): return m.name
        case .channel(let m): return m.name
        case .exchange(let m): return m.name
        case .queue(let m): return m.name
        case .basic(let m): return m.name
        case .confirm(let m): return m.name
        case .tx(let m): return m.name
        }
    }

    /// Whether a content header and body frames follow this method
    /// (`basic.publish`, `basic.return`, `basic.deliver`, `basic.get-ok`).
    public var hasContent: Bool {
        if case .basic(let m) = self { return m.hasContent }
        return false
    }

    public var description: String {
        switch self {
        case .connection(let m): return "\(m)"
        case .channel(let m): return "\(m)"
        case .exchange(let m): return "\(m)"
        case .queue(let m): return "\(m)"
        case .basic(let m): return "\(m)"
        case .confirm(let m): return "\(m)"
        case .tx(let m): return "\(m)"
        }
    }

    /// Decodes a whole method frame payload (class id, method id, arguments).
    ///
    /// The payload must contain exactly one method: missing bytes are
    /// ``AMQPCodecError/Code/truncated``, extra bytes are
    /// ``AMQPCodecError/Code/trailingBytes``, an unknown class/method pair is
    /// ``AMQPCodecError/Code/unknownMethod``.
    public static func decode(payload: ByteBuffer) throws(AMQPCodecError) -> AMQPMethod {
        var reader = AMQPPayloadReader(payload)
        let classID = try reader.readShort("method class-id")
        let methodID = try reader.readShort("method method-id")
        let method: AMQPMethod?
        switch classID {
        case Connection.classID:
            method = try Connection.decode(methodID: methodID, from: &reader).map { .connection($0) }
        case Channel.classID:
            method = try Channel.decode(methodID: methodID, from: &reader).map { .channel($0) }
        case Exchange.classID:
            method = try Exchange.decode(methodID: methodID, from: &reader).map { .exchange($0) }
        case Queue.classID:
            method = try Queue.decode(methodID: methodID, from: &reader).map { .queue($0) }
        case Basic.classID:
            method = try Basic.decode(methodID: methodID, from: &reader).map { .basic($0) }
        case Confirm.classID:
            method = try Confirm.decode(methodID: methodID, from: &reader).map { .confirm($0) }
        case Tx.classID:
            method = try Tx.decode(methodID: methodID, from: &reader).map { .tx($0) }
        default:
            method = nil
        }
        guard let method else {
            throw AMQPCodecError(
                code: .unknownMethod,
                message: "unknown method: class \(classID), method \(methodID)",
                replyCode: .commandInvalid
            )
        }
        try reader.expectEnd(method.name)
        return method
    }

    /// Encodes the method payload (class id, method id, arguments) into
    /// `buffer`. On error `buffer` is left as it was.
    public func encode(into buffer: inout ByteBuffer) throws(AMQPCodecError) {
        let start = buffer.writerIndex
        do throws(AMQPCodecError) {
            buffer.writeAMQPShort(self.classID)
            buffer.writeAMQPShort(self.methodID)
            switch self {
            case .connection(let m): try m.encodeArguments(into: &buffer)
            case .channel(let m): try m.encodeArguments(into: &buffer)
            case .exchange(let m): try m.encodeArguments(into: &buffer)
            case .queue(let m): try m.encodeArguments(into: &buffer)
            case .basic(let m): try m.encodeArguments(into: &buffer)
            case .confirm(let m): try m.encodeArguments(into: &buffer)
            case .tx: break
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }
}
