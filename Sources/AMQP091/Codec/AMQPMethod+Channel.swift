//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `channel` (20).
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `channel` (class id 20).
    public enum Channel: Hashable, Sendable {
        /// `channel.open` (10).
        case open(Open)
        /// `channel.open-ok` (11).
        case openOk(OpenOk)
        /// `channel.flow` (20): asks the peer to pause or resume content.
        case flow(Flow)
        /// `channel.flow-ok` (21).
        case flowOk(FlowOk)
        /// `channel.close` (40).
        case close(Close)
        /// `channel.close-ok` (41).
        case closeOk

        public static let classID: UInt16 = 20

        public var methodID: UInt16 {
            switch self {
            case .open: return 10
            case .openOk: return 11
            case .flow: return 20
            case .flowOk: return 21
            case .close: return 40
            case .closeOk: return 41
            }
        }

        public var name: String {
            switch self {
            case .open: return "channel.open"
            case .openOk: return "channel.open-ok"
            case .flow: return "channel.flow"
            case .flowOk: return "channel.flow-ok"
            case .close: return "channel.close"
            case .closeOk: return "channel.close-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Channel? {
            switch methodID {
            case 10:
                return .open(Open(reserved1: try r.readShortString("channel.open reserved-1")))
            case 11:
                return .openOk(OpenOk(reserved1: try r.readLongString("channel.open-ok reserved-1")))
            case 20:
                return .flow(Flow(active: try r.readBits("channel.flow active")[0]))
            case 21:
                return .flowOk(FlowOk(active: try r.readBits("channel.flow-ok active")[0]))
            case 40:
                return .close(
                    Close(
                        replyCode: try r.readShort("channel.close reply-code"),
                        replyText: try r.readShortString("channel.close reply-text"),
                        classID: try r.readShort("channel.close class-id"),
                        methodID: try r.readShort("channel.close method-id")
                    )
                )
            case 41:
                return .closeOk
            default:
                return nil
            }
        }

        func encodeArguments(into b: inout ByteBuffer) throws(AMQPCodecError) {
            switch self {
            case .open(let m):
                try b.writeAMQPShortString(m.reserved1)
            case .openOk(let m):
                try b.writeAMQPLongString(m.reserved1)
            case .flow(let m):
                b.writeAMQPBits(m.active)
            case .flowOk(let m):
                b.writeAMQPBits(m.active)
            case .close(let m):
                b.writeAMQPShort(m.replyCode)
                try b.writeAMQPShortString(m.replyText)
                b.writeAMQPShort(m.classID)
                b.writeAMQPShort(m.methodID)
            case .closeOk:
                break
            }
        }
    }
}

extension AMQPMethod.Channel {
    /// `channel.open`.
    public struct Open: Hashable, Sendable {
        /// Reserved (formerly `out-of-band`); must be empty.
        public var reserved1: AMQPShortString

        public init(reserved1: AMQPShortString = "") {
            self.reserved1 = reserved1
        }
    }

    /// `channel.open-ok`.
    public struct OpenOk: Hashable, Sendable {
        /// Reserved (formerly `channel-id`); empty.
        public var reserved1: AMQPLongString

        public init(reserved1: AMQPLongString = "") {
            self.reserved1 = reserved1
        }
    }

    /// `channel.flow`.
    public struct Flow: Hashable, Sendable {
        public var active: Bool

        public init(active: Bool) {
            self.active = active
        }
    }

    /// `channel.flow-ok`.
    public struct FlowOk: Hashable, Sendable {
        public var active: Bool

        public init(active: Bool) {
            self.active = active
        }
    }

    /// `channel.close`: closes the channel, telling why.
    public struct Close: Hashable, Sendable {
        public var replyCode: UInt16
        public var replyText: AMQPShortString
        public var classID: UInt16
        public var methodID: UInt16

        public init(replyCode: UInt16, replyText: AMQPShortString = "", classID: UInt16 = 0, methodID: UInt16 = 0) {
            self.replyCode = replyCode
            self.replyText = replyText
            self.classID = classID
            self.methodID = methodID
        }

        public init(replyCode: AMQPReplyCode, replyText: AMQPShortString = "", classID: UInt16 = 0, methodID: UInt16 = 0) {
            self.init(replyCode: replyCode.rawValue, replyText: replyText, classID: classID, methodID: methodID)
        }
    }
}
