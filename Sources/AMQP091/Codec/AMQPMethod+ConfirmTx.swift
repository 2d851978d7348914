//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `confirm` (85, RabbitMQ publisher
// confirms) and class `tx` (90).
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `confirm` (class id 85, RabbitMQ extension): puts a
    /// channel in publisher-confirm mode, after which the server sends
    /// `basic.ack` / `basic.nack` for published messages.
    public enum Confirm: Hashable, Sendable {
        /// `confirm.select` (10).
        case select(Select)
        /// `confirm.select-ok` (11).
        case selectOk

        public static let classID: UInt16 = 85

        public var methodID: UInt16 {
            switch self {
            case .select: return 10
            case .selectOk: return 11
            }
        }

        public var name: String {
            switch self {
            case .select: return "confirm.select"
            case .selectOk: return "confirm.select-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Confirm? {
            switch methodID {
            case 10:
                return .select(Select(noWait: try r.readBits("confirm.select nowait")[0]))
            case 11:
                return .selectOk
            default:
                return nil
            }
        }

        func encodeArguments(into b: inout ByteBuffer) throws(AMQPCodecError) {
            switch self {
            case .select(let m):
                b.writeAMQPBits(m.noWait)
            case .selectOk:
                break
            }
        }

        /// `confirm.select`.
        public struct Select: Hashable, Sendable {
            public var noWait: Bool

            public init(noWait: Bool = false) {
                self.noWait = noWait
            }
        }
    }

    /// Methods of class `tx` (class id 90): standard transactions.
    public enum Tx: Hashable, Sendable {
        /// `tx.select` (10).
        case select
        /// `tx.select-ok` (11).
        case selectOk
        /// `tx.commit` (20).
        case commit
        /// `tx.commit-ok` (21).
        case commitOk
        /// `tx.rollback` (30).
        case rollback
        /// `tx.rollback-ok` (31).
        case rollbackOk

        public static let classID: UInt16 = 90

        public var methodID: UInt16 {
            switch self {
            case .select: return 10
            case .selectOk: return 11
            case .commit: return 20
            case .commitOk: return 21
            case .rollback: return 30
            case .rollbackOk: return 31
            }
        }

        public var name: String {
            switch self {
            case .select: return "tx.select"
            case .selectOk: return "tx.select-ok"
            case .commit: return "tx.commit"
            case .commitOk: return "tx.commit-ok"
            case .rollback: return "tx.rollback"
            case .rollbackOk: return "tx.rollback-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Tx? {
            switch methodID {
            case 10: return .select
            case 11: return .selectOk
            case 20: return .commit
            case 21: return .commitOk
            case 30: return .rollback
            case 31: return .rollbackOk
            default: return nil
            }
        }
    }
}
