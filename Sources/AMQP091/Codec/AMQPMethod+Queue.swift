//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `queue` (50).
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `queue` (class id 50).
    public enum Queue: Hashable, Sendable {
        /// `queue.declare` (10).
        case declare(Declare)
        /// `queue.declare-ok` (11).
        case declareOk(DeclareOk)
        /// `queue.bind` (20).
        case bind(Bind)
        /// `queue.bind-ok` (21).
        case bindOk
        /// `queue.purge` (30).
        case purge(Purge)
        /// `queue.purge-ok` (31).
        case purgeOk(PurgeOk)
        /// `queue.delete` (40).
        case delete(Delete)
        /// `queue.delete-ok` (41).
        case deleteOk(DeleteOk)
        /// `queue.unbind` (50).
        case unbind(Unbind)
        /// `queue.unbind-ok` (51).
        case unbindOk

        public static let classID: UInt16 = 50

        public var methodID: UInt16 {
            switch self {
            case .declare: return 10
            case .declareOk: return 11
            case .bind: return 20
            case .bindOk: return 21
            case .purge: return 30
            case .purgeOk: return 31
            case .delete: return 40
            case .deleteOk: return 41
            case .unbind: return 50
            case .unbindOk: return 51
            }
        }

        public var name: String {
            switch self {
            case .declare: return "queue.declare"
            case .declareOk: return "queue.declare-ok"
            case .bind: return "queue.bind"
            case .bindOk: return "queue.bind-ok"
            case .purge: return "queue.purge"
            case .purgeOk: return "queue.purge-ok"
            case .delete: return "queue.delete"
            case .deleteOk: return "queue.delete-ok"
            case .unbind: return "queue.unbind"
            case .unbindOk: return "queue.unbind-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Queue? {
            switch methodID {
            case 10:
                let reserved1 = try r.readShort("queue.declare reserved-1")
                let queue = try r.readShortString("queue.declare queue")
                let bits = try r.readBits("queue.declare flags")
                let arguments = try r.readTable("queue.declare arguments")
                return .declare(
                    Declare(
                        reserved1: reserved1,
                        queue: queue,
                        passive: bits[0],
                        durable: bits[1],
                        exclusive: bits[2],
                        autoDelete: bits[3],
                        noWait: bits[4],
                        arguments: arguments
                    )
                )
            case 11:
                return .declareOk(
                    DeclareOk(
                        queue: try r.readShortString("queue.declare-ok queue"),
                        messageCount: try r.readLong("queue.declare-ok message-count"),
                        consumerCount: try r.readLong("queue.declare-ok consumer-count")
                    )
                )
            case 20:
                let reserved1 = try r.readShort("queue.bind reserved-1")
                let queue = try r.readShortString("queue.bind queue")
                let exchange = try r.readShortString("queue.bind exchange")
                let routingKey = try r.readShortString("queue.bind routing-key")
                let bits = try r.readBits("queue.bind no-wait")
                let arguments = try r.readTable("queue.bind arguments")
                return .bind(
                    Bind(
                        reserved1: reserved1,
                        queue: queue,
                        exchange: exchange,
                        routingKey: routingKey,
                        noWait: bits[0],
                        arguments: arguments
                    )
                )
            case 21:
                return .bindOk
            case 30:
                let reserved1 = try r.readShort("queue.purge reserved-1")
                let queue = try r.readShortString("queue.purge queue")
                let bits = try r.readBits("queue.purge no-wait")
                return .purge(Purge(reserved1: reserved1, queue: queue, noWait: bits[0]))
            case 31:
                return .purgeOk(PurgeOk(messageCount: try r.readLong("queue.purge-ok message-count")))
            case 40:
                let reserved1 = try r.readShort("queue.delete reserved-1")
                let queue = try r.readShortString("queue.delete queue")
                let bits = try r.readBits("queue.delete flags")
                return .delete(
                    Delete(reserved1: reserved1, queue: queue, ifUnused: bits[0], ifEmpty: bits[1], noWait: bits[2])
                )
            case 41:
                return .deleteOk(DeleteOk(messageCount: try r.readLong("queue.delete-ok message-count")))
            case 50:
                return .unbind(
                    Unbind(
                        reserved1: try r.readShort("queue.unbind reserved-1"),
                        queue: try r.readShortString("queue.unbind queue"),
                        exchange: try r.readShortString("queue.unbind exchange"),
                        routingKey: try r.readShortString("queue.unbind routing-key"),
                        arguments: try r.readTable("queue.unbind arguments")
                    )
                )
            case 51:
                return .unbindOk
            default:
                return nil
            }
        }

        func encodeArguments(into b: inout ByteBuffer) throws(AMQPCodecError) {
            switch self {
            case .declare(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                b.writeAMQPBits(m.passive, m.durable, m.exclusive, m.autoDelete, m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .declareOk(let m):
                try b.writeAMQPShortString(m.queue)
                b.writeAMQPLong(m.messageCount)
                b.writeAMQPLong(m.consumerCount)
            case .bind(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
                b.writeAMQPBits(m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .purge(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                b.writeAMQPBits(m.noWait)
            case .purgeOk(let m):
                b.writeAMQPLong(m.messageCount)
            case .delete(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                b.writeAMQPBits(m.ifUnused, m.ifEmpty, m.noWait)
            case .deleteOk(let m):
                b.writeAMQPLong(m.messageCount)
            case .unbind(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
                try b.writeAMQPTable(m.arguments)
            case .bindOk, .unbindOk:
                break
            }
        }
    }
}

extension AMQPMethod.Queue {
    /// `queue.declare`. An empty `queue` asks the server to generate a name.
    public struct Declare: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var passive: Bool
        public var durable: Bool
        public var exclusive: Bool
        public var autoDelete: Bool
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            queue: AMQPShortString = "",
            passive: Bool = false,
            durable: Bool = false,
            exclusive: Bool = false,
            autoDelete: Bool = false,
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.queue = queue
            self.passive = passive
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.noWait = noWait
            self.arguments = arguments
        }
    }

    /// `queue.declare-ok`.
    public struct DeclareOk: Hashable, Sendable {
        public var queue: AMQPShortString
        public var messageCount: UInt32
        public var consumerCount: UInt32

        public init(queue: AMQPShortString, messageCount: UInt32 = 0, consumerCount: UInt32 = 0) {
            self.queue = queue
            self.messageCount = messageCount
            self.consumerCount = consumerCount
        }
    }

    /// `queue.bind`.
    public struct Bind: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            queue: AMQPShortString,
            exchange: AMQPShortString,
            routingKey: AMQPShortString = "",
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }

    /// `queue.purge`.
    public struct Purge: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var noWait: Bool

        public init(reserved1: UInt16 = 0, queue: AMQPShortString, noWait: Bool = false) {
            self.reserved1 = reserved1
            self.queue = queue
            self.noWait = noWait
        }
    }

    /// `queue.purge-ok`.
    public struct PurgeOk: Hashable, Sendable {
        public var messageCount: UInt32

        public init(messageCount: UInt32) {
            self.messageCount = messageCount
        }
    }

    /// `queue.delete`.
    public struct Delete: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var ifUnused: Bool
        public var ifEmpty: Bool
        public var noWait: Bool

        public init(
            reserved1: UInt16 = 0,
            queue: AMQPShortString,
            ifUnused: Bool = false,
            ifEmpty: Bool = false,
            noWait: Bool = false
        ) {
            self.reserved1 = reserved1
            self.queue = queue
            self.ifUnused = ifUnused
            self.ifEmpty = ifEmpty
            self.noWait = noWait
        }
    }

    /// `queue.delete-ok`.
    public struct DeleteOk: Hashable, Sendable {
        public var messageCount: UInt32

        public init(messageCount: UInt32) {
            self.messageCount = messageCount
        }
    }

    /// `queue.unbind` (has no no-wait bit).
    public struct Unbind: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            queue: AMQPShortString,
            exchange: AMQPShortString,
            routingKey: AMQPShortString = "",
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
            self.arguments = arguments
        }
    }
}
