//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `basic` (60), with RabbitMQ's
// basic.nack, server-sent basic.ack / basic.nack (publisher confirms) and
// server-sent basic.cancel (consumer cancel notification).
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `basic` (class id 60).
    ///
    /// `publish`, `return`, `deliver` and `get-ok` carry content: they are
    /// followed by a content header frame and body frames.
    public enum Basic: Hashable, Sendable {
        /// `basic.qos` (10).
        case qos(Qos)
        /// `basic.qos-ok` (11).
        case qosOk
        /// `basic.consume` (20).
        case consume(Consume)
        /// `basic.consume-ok` (21).
        case consumeOk(ConsumeOk)
        /// `basic.cancel` (30). RabbitMQ also sends it to the client when a
        /// consumer is cancelled by the broker (consumer cancel notification,
        /// capability `consumer_cancel_notify`).
        case cancel(Cancel)
        /// `basic.cancel-ok` (31).
        case cancelOk(CancelOk)
        /// `basic.publish` (40), carries content.
        case publish(Publish)
        /// `basic.return` (50), carries content.
        case `return`(Return)
        /// `basic.deliver` (60), carries content.
        case deliver(Deliver)
        /// `basic.get` (70).
        case get(Get)
        /// `basic.get-ok` (71), carries content.
        case getOk(GetOk)
        /// `basic.get-empty` (72).
        case getEmpty(GetEmpty)
        /// `basic.ack` (80). Sent by the server too, in confirm mode (publisher confirms).
        case ack(Ack)
        /// `basic.reject` (90).
        case reject(Reject)
        /// `basic.recover-async` (100, deprecated).
        case recoverAsync(RecoverAsync)
        /// `basic.recover` (110).
        case recover(Recover)
        /// `basic.recover-ok` (111).
        case recoverOk
        /// `basic.nack` (120, RabbitMQ extension). Sent by the server too, in confirm mode.
        case nack(Nack)

        public static let classID: UInt16 = 60

        public var methodID: UInt16 {
            switch self {
            case .qos: return 10
            case .qosOk: return 11
            case .consume: return 20
            case .consumeOk: return 21
            case .cancel: return 30
            case .cancelOk: return 31
            case .publish: return 40
            case .return: return 50
            case .deliver: return 60
            case .get: return 70
            case .getOk: return 71
            case .getEmpty: return 72
            case .ack: return 80
            case .reject: return 90
            case .recoverAsync: return 100
            case .recover: return 110
            case .recoverOk: return 111
            case .nack: return 120
            }
        }

        public var name: String {
            switch self {
            case .qos: return "basic.qos"
            case .qosOk: return "basic.qos-ok"
            case .consume: return "basic.consume"
            case .consumeOk: return "basic.consume-ok"
            case .cancel: return "basic.cancel"
            case .cancelOk: return "basic.cancel-ok"
            case .publish: return "basic.publish"
            case .return: return "basic.return"
            case .deliver: return "basic.deliver"
            case .get: return "basic.get"
            case .getOk: return "basic.get-ok"
            case .getEmpty: return "basic.get-empty"
            case .ack: return "basic.ack"
            case .reject: return "basic.reject"
            case .recoverAsync: return "basic.recover-async"
            case .recover: return "basic.recover"
            case .recoverOk: return "basic.recover-ok"
            case .nack: return "basic.nack"
            }
        }

        /// Whether the method is followed by a content header and body.
        public var hasContent: Bool {
            switch self {
            case .publish, .return, .deliver, .getOk: return true
            default: return false
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Basic? {
            switch methodID {
            case 10:
                let prefetchSize = try r.readLong("basic.qos prefetch-size")
                let prefetchCount = try r.readShort("basic.qos prefetch-count")
                let bits = try r.readBits("basic.qos global")
                return .qos(Qos(prefetchSize: prefetchSize, prefetchCount: prefetchCount, global: bits[0]))
            case 11:
                return .qosOk
            case 20:
                let reserved1 = try r.readShort("basic.consume reserved-1")
                let queue = try r.readShortString("basic.consume queue")
                let consumerTag = try r.readShortString("basic.consume consumer-tag")
                let bits = try r.readBits("basic.consume flags")
                let arguments = try r.readTable("basic.consume arguments")
                return .consume(
                    Consume(
                        reserved1: reserved1,
                        queue: queue,
                        consumerTag: consumerTag,
                        noLocal: bits[0],
                        noAck: bits[1],
                        exclusive: bits[2],
                        noWait: bits[3],
                        arguments: arguments
                    )
                )
            case 21:
                return .consumeOk(ConsumeOk(consumerTag: try r.readShortString("basic.consume-ok consumer-tag")))
            case 30:
                let consumerTag = try r.readShortString("basic.cancel consumer-tag")
                let bits = try r.readBits("basic.cancel no-wait")
                return .cancel(Cancel(consumerTag: consumerTag, noWait: bits[0]))
            case 31:
                return .cancelOk(CancelOk(consumerTag: try r.readShortString("basic.cancel-ok consumer-tag")))
            case 40:
                let reserved1 = try r.readShort("basic.publish reserved-1")
                let exchange = try r.readShortString("basic.publish exchange")
                let routingKey = try r.readShortString("basic.publish routing-key")
                let bits = try r.readBits("basic.publish flags")
                return .publish(
                    Publish(
                        reserved1: reserved1,
                        exchange: exchange,
                        routingKey: routingKey,
                        mandatory: bits[0],
                        immediate: bits[1]
                    )
                )
            case 50:
                return .return(
                    Return(
                        replyCode: try r.readShort("basic.return reply-code"),
                        replyText: try r.readShortString("basic.return reply-text"),
                        exchange: try r.readShortString("basic.return exchange"),
                        routingKey: try r.readShortString("basic.return routing-key")
                    )
                )
            case 60:
                let consumerTag = try r.readShortString("basic.deliver consumer-tag")
                let deliveryTag = try r.readLongLong("basic.deliver delivery-tag")
                let bits = try r.readBits("basic.deliver redelivered")
                let exchange = try r.readShortString("basic.deliver exchange")
                let routingKey = try r.readShortString("basic.deliver routing-key")
                return .deliver(
                    Deliver(
                        consumerTag: consumerTag,
                        deliveryTag: deliveryTag,
                        redelivered: bits[0],
                        exchange: exchange,
                        routingKey: routingKey
                    )
                )
            case 70:
                let reserved1 = try r.readShort("basic.get reserved-1")
                let queue = try r.readShortString("basic.get queue")
                let bits = try r.readBits("basic.get no-ack")
                return .get(Get(reserved1: reserved1, queue: queue, noAck: bits[0]))
            case 71:
                let deliveryTag = try r.readLongLong("basic.get-ok delivery-tag")
                let bits = try r.readBits("basic.get-ok redelivered")
                let exchange = try r.readShortString("basic.get-ok exchange")
                let routingKey = try r.readShortString("basic.get-ok routing-key")
                let messageCount = try r.readLong("basic.get-ok message-count")
                return .getOk(
                    GetOk(
                        deliveryTag: deliveryTag,
                        redelivered: bits[0],
                        exchange: exchange,
                        routingKey: routingKey,
                        messageCount: messageCount
                    )
                )
            case 72:
                return .getEmpty(GetEmpty(reserved1: try r.readShortString("basic.get-empty reserved-1")))
            case 80:
                let deliveryTag = try r.readLongLong("basic.ack delivery-tag")
                let bits = try r.readBits("basic.ack multiple")
                return .ack(Ack(deliveryTag: deliveryTag, multiple: bits[0]))
            case 90:
                let deliveryTag = try r.readLongLong("basic.reject delivery-tag")
                let bits = try r.readBits("basic.reject requeue")
                return .reject(Reject(deliveryTag: deliveryTag, requeue: bits[0]))
            case 100:
                return .recoverAsync(RecoverAsync(requeue: try r.readBits("basic.recover-async requeue")[0]))
            case 110:
                return .recover(Recover(requeue: try r.readBits("basic.recover requeue")[0]))
            case 111:
                return .recoverOk
            case 120:
                let deliveryTag = try r.readLongLong("basic.nack delivery-tag")
                let bits = try r.readBits("basic.nack flags")
                return .nack(Nack(deliveryTag: deliveryTag, multiple: bits[0], requeue: bits[1]))
            default:
                return nil
            }
        }

        func encodeArguments(into b: inout ByteBuffer) throws(AMQPCodecError) {
            switch self {
            case .qos(let m):
                b.writeAMQPLong(m.prefetchSize)
                b.writeAMQPShort(m.prefetchCount)
                b.writeAMQPBits(m.global)
            case .consume(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                try b.writeAMQPShortString(m.consumerTag)
                b.writeAMQPBits(m.noLocal, m.noAck, m.exclusive, m.noWait)
                try b.writeAMQPTable(m.arguments)
            case .consumeOk(let m):
                try b.writeAMQPShortString(m.consumerTag)
            case .cancel(let m):
                try b.writeAMQPShortString(m.consumerTag)
                b.writeAMQPBits(m.noWait)
            case .cancelOk(let m):
                try b.writeAMQPShortString(m.consumerTag)
            case .publish(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
                b.writeAMQPBits(m.mandatory, m.immediate)
            case .return(let m):
                b.writeAMQPShort(m.replyCode)
                try b.writeAMQPShortString(m.replyText)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
            case .deliver(let m):
                try b.writeAMQPShortString(m.consumerTag)
                b.writeAMQPLongLong(m.deliveryTag)
                b.writeAMQPBits(m.redelivered)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
            case .get(let m):
                b.writeAMQPShort(m.reserved1)
                try b.writeAMQPShortString(m.queue)
                b.writeAMQPBits(m.noAck)
            case .getOk(let m):
                b.writeAMQPLongLong(m.deliveryTag)
                b.writeAMQPBits(m.redelivered)
                try b.writeAMQPShortString(m.exchange)
                try b.writeAMQPShortString(m.routingKey)
                b.writeAMQPLong(m.messageCount)
            case .getEmpty(let m):
                try b.writeAMQPShortString(m.reserved1)
            case .ack(let m):
                b.writeAMQPLongLong(m.deliveryTag)
                b.writeAMQPBits(m.multiple)
            case .reject(let m):
                b.writeAMQPLongLong(m.deliveryTag)
                b.writeAMQPBits(m.requeue)
            case .recoverAsync(let m):
                b.writeAMQPBits(m.requeue)
            case .recover(let m):
                b.writeAMQPBits(m.requeue)
            case .nack(let m):
                b.writeAMQPLongLong(m.deliveryTag)
                b.writeAMQPBits(m.multiple, m.requeue)
            case .qosOk, .recoverOk:
                break
            }
        }
    }
}

extension AMQPMethod.Basic {
    /// `basic.qos`.
    public struct Qos: Hashable, Sendable {
        public var prefetchSize: UInt32
        public var prefetchCount: UInt16
        /// RabbitMQ: true applies the limit to the whole channel, false per consumer.
        public var global: Bool

        public init(prefetchSize: UInt32 = 0, prefetchCount: UInt16, global: Bool = false) {
            self.prefetchSize = prefetchSize
            self.prefetchCount = prefetchCount
            self.global = global
        }
    }

    /// `basic.consume`.
    public struct Consume: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        /// Empty asks the server to generate a tag.
        public var consumerTag: AMQPShortString
        public var noLocal: Bool
        public var noAck: Bool
        public var exclusive: Bool
        public var noWait: Bool
        public var arguments: AMQPFieldTable

        public init(
            reserved1: UInt16 = 0,
            queue: AMQPShortString,
            consumerTag: AMQPShortString = "",
            noLocal: Bool = false,
            noAck: Bool = false,
            exclusive: Bool = false,
            noWait: Bool = false,
            arguments: AMQPFieldTable = [:]
        ) {
            self.reserved1 = reserved1
            self.queue = queue
            self.consumerTag = consumerTag
            self.noLocal = noLocal
            self.noAck = noAck
            self.exclusive = exclusive
            self.noWait = noWait
            self.arguments = arguments
        }
    }

    /// `basic.consume-ok`.
    public struct ConsumeOk: Hashable, Sendable {
        public var consumerTag: AMQPShortString

        public init(consumerTag: AMQPShortString) {
            self.consumerTag = consumerTag
        }
    }

    /// `basic.cancel` (from the client, or from RabbitMQ as a consumer cancel notification).
    public struct Cancel: Hashable, Sendable {
        public var consumerTag: AMQPShortString
        public var noWait: Bool

        public init(consumerTag: AMQPShortString, noWait: Bool = false) {
            self.consumerTag = consumerTag
            self.noWait = noWait
        }
    }

    /// `basic.cancel-ok`.
    public struct CancelOk: Hashable, Sendable {
        public var consumerTag: AMQPShortString

        public init(consumerTag: AMQPShortString) {
            self.consumerTag = consumerTag
        }
    }

    /// `basic.publish`.
    public struct Publish: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString
        public var mandatory: Bool
        /// Not supported by RabbitMQ 3.0+ (the connection is closed if set).
        public var immediate: Bool

        public init(
            reserved1: UInt16 = 0,
            exchange: AMQPShortString = "",
            routingKey: AMQPShortString = "",
            mandatory: Bool = false,
            immediate: Bool = false
        ) {
            self.reserved1 = reserved1
            self.exchange = exchange
            self.routingKey = routingKey
            self.mandatory = mandatory
            self.immediate = immediate
        }
    }

    /// `basic.return`: an unroutable mandatory message comes back.
    public struct Return: Hashable, Sendable {
        public var replyCode: UInt16
        public var replyText: AMQPShortString
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString

        public init(replyCode: UInt16, replyText: AMQPShortString = "", exchange: AMQPShortString, routingKey: AMQPShortString) {
            self.replyCode = replyCode
            self.replyText = replyText
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    /// `basic.deliver`: a message pushed to a consumer.
    public struct Deliver: Hashable, Sendable {
        public var consumerTag: AMQPShortString
        public var deliveryTag: UInt64
        public var redelivered: Bool
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString

        public init(
            consumerTag: AMQPShortString,
            deliveryTag: UInt64,
            redelivered: Bool = false,
            exchange: AMQPShortString,
            routingKey: AMQPShortString
        ) {
            self.consumerTag = consumerTag
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    /// `basic.get`.
    public struct Get: Hashable, Sendable {
        /// Reserved (formerly `ticket`); must be 0.
        public var reserved1: UInt16
        public var queue: AMQPShortString
        public var noAck: Bool

        public init(reserved1: UInt16 = 0, queue: AMQPShortString, noAck: Bool = false) {
            self.reserved1 = reserved1
            self.queue = queue
            self.noAck = noAck
        }
    }

    /// `basic.get-ok`.
    public struct GetOk: Hashable, Sendable {
        public var deliveryTag: UInt64
        public var redelivered: Bool
        public var exchange: AMQPShortString
        public var routingKey: AMQPShortString
        public var messageCount: UInt32

        public init(
            deliveryTag: UInt64,
            redelivered: Bool = false,
            exchange: AMQPShortString,
            routingKey: AMQPShortString,
            messageCount: UInt32
        ) {
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
            self.messageCount = messageCount
        }
    }

    /// `basic.get-empty`.
    public struct GetEmpty: Hashable, Sendable {
        /// Reserved (formerly `cluster-id`); empty.
        public var reserved1: AMQPShortString

        public init(reserved1: AMQPShortString = "") {
            self.reserved1 = reserved1
        }
    }

    /// `basic.ack`.
    public struct Ack: Hashable, Sendable {
        public var deliveryTag: UInt64
        public var multiple: Bool

        public init(deliveryTag: UInt64, multiple: Bool = false) {
            self.deliveryTag = deliveryTag
            self.multiple = multiple
        }
    }

    /// `basic.reject`.
    public struct Reject: Hashable, Sendable {
        public var deliveryTag: UInt64
        public var requeue: Bool

        public init(deliveryTag: UInt64, requeue: Bool = true) {
            self.deliveryTag = deliveryTag
            self.requeue = requeue
        }
    }

    /// `basic.recover-async` (deprecated).
    public struct RecoverAsync: Hashable, Sendable {
        public var requeue: Bool

        public init(requeue: Bool = false) {
            self.requeue = requeue
        }
    }

    /// `basic.recover`.
    public struct Recover: Hashable, Sendable {
        public var requeue: Bool

        public init(requeue: Bool = false) {
            self.requeue = requeue
        }
    }

    /// `basic.nack` (RabbitMQ).
    public struct Nack: Hashable, Sendable {
        public var deliveryTag: UInt64
        public var multiple: Bool
        public var requeue: Bool

        public init(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool = true) {
            self.deliveryTag = deliveryTag
            self.multiple = multiple
            self.requeue = requeue
        }
    }
}
