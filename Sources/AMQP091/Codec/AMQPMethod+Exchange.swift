//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `exchange` (40), with RabbitMQ's
// exchange.bind / exchange.unbind (exchange-to-exchange bindings).
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `exchange` (class id 40).
    public enum Exchange: Hashable, Sendable {
        /// `exchange.declare` (10).
        case declare(Declare)
        /// `exchange.declare-ok` (11).
        case declareOk
        /// `exchange.delete` (20).
        case delete(Delete)
        /// `exchange.delete-ok` (21).
        case deleteOk
        /// `exchange.bind` (30, RabbitMQ extension).
        case bind(Bind)
        /// `exchange.bind-ok` (31, RabbitMQ extension).
        case bindOk
        /// `exchange.unbind` (40, RabbitMQ extension).
        case unbind(Unbind)
        /// `exchange.unbind-ok` (51, RabbitMQ extension; note the id is 51, not 41).
        case unbindOk

        public static let classID: UInt16 = 40

        public var methodID: UInt16 {
            switch self {
            case .declare: return 10
            case .declareOk: return 11
            case .delete: return 20
            case .deleteOk: return 21
            case .bind: return 30
            case .bindOk: return 31
            case .unbind: return 40
            case .unbindOk: return 51
            }
        }

        public var name: String {
            switch self {
            case .declare: return "exchange.declare"
            case .declareOk: return "exchange.declare-ok"
            case .delete: return "exchange.delete"
            case .deleteOk: return "exchange.delete-ok"
            case .bind: return "exchange.bind"
            case .bindOk: return "exchange.bind-ok"
            case .unbind: return "exchange.unbind"
            case .unbindOk: return "exchange.unbind-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Exchange? {
            switch methodID {
            case 10:
                let reserved1 = try r.readShort("exchange.declare reserved-1")
                let exchange = try r.readShortString("exchange.declare exchange")
                let type = try r.readShortString("exchange.declare type")
                let bits = try r.readBits("exchange.declare flags")
                let arguments = try r.readTable("exchange.declare arguments")
                return .declare(
                    Declare(
                        reserved1: reserved1,
                        exchange: exchange,
                        type: type,
                        passive: bits[0],
                        durable: bits[1],
                        autoDelete: bits[2],
                        internal: bits[3],
                        noWait: bits[4],
                        arguments: arguments
                    )
                )
            case 11:
                return .declareOk
            case 20:
                let reserved1 = try r.readShort("exchange.delete reserved-1")
                let exchange = try r.readShortString("exchange.delete exchange")
                let bits = try r.readBits("exchange.delete flags")
                return .delete(Delete(reserved1: reserved1, exchange: exchange, ifUnused: bits[0], noWait: bits[1]))
            case 21:
                return .deleteOk
            case 30:
                let reserved1 = try r.readShort("exchange.bind reserved-1")
                let destination = try r.readShortString("exchange.bind destination")
                let source = try r.readShortString("exchange.bind source")
                let routingKey = try r.readShortString("exchange.bind routing-key")
                let bits = try r.readBits("exchange.bind no-wait")
                let arguments = try r.readTable("exchange.bind arguments")
                return .bind(
                    Bind(
                        reserved1: reserved1,
                        destination: destination,
                        source: source,
                        routingKey: routingKey,
                        noWait: bits[0],
                        arguments: arguments
                    )
                )
            case 31:
                return .bindOk
            case 40:
                let reserved1 = try r.readShort("exchange.unbind reserved-1")
                let destination = try r.readShortString("exchange.unbind destination")
                let source = try r.readShortString("exchange.unbind source")
                let routingKey = try r.readShortString("exchange.unbind routing-key")
                let bits = try r.readBits("exchange.unbind no-wait")
                let arguments = try r.readTable("exchange.unbind arguments")
                return .unbind(
                    Unbind(
                        reserved1: reserved1,
                        destination: destination,
                        source: source,
                        routingKey: routingKey,
                        noWait: bits[0],
                        arguments: arguments
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
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.type)
                b.writeAMQPBits(m.passive, m.durable, m.autoDelete, m.internal, m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .delete(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.exchange)
                b.writeAMQPBits(m.ifUnused, m.noWait)
            case .bind(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.destination)
                try b.writeAMQPShortString(m.source)
                try b.writeAMQPShortString(m.routingKey)
                b.writeAMQPBits(m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .unbind(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.destination)
                try b.writeAMQPShortString(m.source)
                try b.writeAMQPShortString(m.routingKey)
                b.writeAMQPBits(m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .declareOk, .deleteOk, .bindOk, .unbindOk:
                break
            }
        }
    }
}

extension AMQPMethod.Exchange {
    /// `exchange.declare`.
    public struct Declare: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var exchange: AMQPShortString
        /// Exchange type: `direct`, `fanout`, `topic`, `headers`, or a plugin type.
        public var type: AMQPShortString
        public var passive: Bool
        public var durable: Bool
        public var autoDelete: Bool
        public var `internal`: Bool
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            exchange: AMQPShortString,
            type: AMQPShortString = "direct",
            passive: Bool = false,
            durable: Bool = false,
            autoDelete: Bool = false,
            internal: Bool = false,
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.exchange = exchange
            self.type = type
            self.passive = passive
            self.durable = durable
            self.autoDelete = autoDelete
            self.internal = `internal`
            self.noWait = noWait
            self.arguments = arguments
        }
    }

    /// `exchange.delete`.
    public struct Delete: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var exchange: AMQPShortString
        public var ifUnused: Bool
        public var noWait: Bool

        public init(reserved1: UInt16 = 0, exchange: AMQPShortString, ifUnused: Bool = false, noWait: Bool = false) {
            self.reserved1 = reserved1
            self.exchange = exchange
            self.ifUnused = ifUnused
            self.noWait = noWait
        }
    }

    /// `exchange.bind` (RabbitMQ): binds exchange `destination` to exchange `source`.
    public struct Bind: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var destination: AMQPShortString
        public var source: AMQPShortString
        public var routingKey: AMQPShortString
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            destination: AMQPShortString,
            source: AMQPShortString,
            routingKey: AMQPShortString = "",
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.destination = destination
            self.source = source
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }

    /// `exchange.unbind` (RabbitMQ).
    public struct Unbind: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var destination: AMQPShortString
        public var source: AMQPShortString
        public var routingKey: AMQPShortString
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            destination: AMQPShortString,
            source: AMQPShortString,
            routingKey: AMQPShortString = "",
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.destination = destination
            self.source = source
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}
