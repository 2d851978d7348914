//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: class `connection` (10), with RabbitMQ's
// connection.blocked / unblocked and connection.update-secret extensions.
//===----------------------------------------------------------------------===//

import NIOCore

extension AMQPMethod {
    /// Methods of class `connection` (class id 10). These are only valid on
    /// channel 0.
    public enum Connection: Hashable, Sendable {
        /// `connection.start` (10): the server proposes protocol, mechanisms and locales.
        case start(Start)
        /// `connection.start-ok` (11): the client picks a mechanism and answers.
        case startOk(StartOk)
        /// `connection.secure` (20): a SASL challenge.
        case secure(Secure)
        /// `connection.secure-ok` (21): a SASL response.
        case secureOk(SecureOk)
        /// `connection.tune` (30): the server proposes limits.
        case tune(Tune)
        /// `connection.tune-ok` (31): the client's negotiated limits.
        case tuneOk(TuneOk)
        /// `connection.open` (40): opens a virtual host.
        case open(Open)
        /// `connection.open-ok` (41).
        case openOk(OpenOk)
        /// `connection.close` (50).
        case close(Close)
        /// `connection.close-ok` (51).
        case closeOk
        /// `connection.blocked` (60, RabbitMQ extension): the server blocks publishing.
        case blocked(Blocked)
        /// `connection.unblocked` (61, RabbitMQ extension).
        case unblocked
        /// `connection.update-secret` (70, RabbitMQ extension): refreshes credentials (e.g. an OAuth token).
        case updateSecret(UpdateSecret)
        /// `connection.update-secret-ok` (71, RabbitMQ extension).
        case updateSecretOk

        public static let classID: UInt16 = 10

        public var methodID: UInt16 {
            switch self {
            case .start: return 10
            case .startOk: return 11
            case .secure: return 20
            case .secureOk: return 21
            case .tune: return 30
            case .tuneOk: return 31
            case .open: return 40
            case .openOk: return 41
            case .close: return 50
            case .closeOk: return 51
            case .blocked: return 60
            case .unblocked: return 61
            case .updateSecret: return 70
            case .updateSecretOk: return 71
            }
        }

        public var name: String {
            switch self {
            case .start: return "connection.start"
            case .startOk: return "connection.start-ok"
            case .secure: return "connection.secure"
            case .secureOk: return "connection.secure-ok"
            case .tune: return "connection.tune"
            case .tuneOk: return "connection.tune-ok"
            case .open: return "connection.open"
            case .openOk: return "connection.open-ok"
            case .close: return "connection.close"
            case .closeOk: return "connection.close-ok"
            case .blocked: return "connection.blocked"
            case .unblocked: return "connection.unblocked"
            case .updateSecret: return "connection.update-secret"
            case .updateSecretOk: return "connection.update-secret-ok"
            }
        }

        static func decode(methodID: UInt16, from r: inout AMQPPayloadReader) throws(AMQPCodecError) -> Connection? {
            switch methodID {
            case 10:
                return .start(
                    Start(
                        versionMajor: try r.readOctet("connection.start version-major"),
                        versionMinor: try r.readOctet("connection.start version-minor"),
                        serverProperties: try r.readTable("connection.start server-properties"),
                        mechanisms: try r.readLongString("connection.start mechanisms"),
                        locales: try r.readLongString("connection.start locales")
                    )
                )
            case 11:
                return .startOk(
                    StartOk(
                        clientProperties: try r.readTable("connection.start-ok client-properties"),
                        mechanism: try r.readShortString("connection.start-ok mechanism"),
                        response: try r.readLongString("connection.start-ok response"),
                        locale: try r.readShortString("connection.start-ok locale")
                    )
                )
            case 20:
                return .secure(Secure(challenge: try r.readLongString("connection.secure challenge")))
            case 21:
                return .secureOk(SecureOk(response: try r.readLongString("connection.secure-ok response")))
            case 30:
                return .tune(
                    Tune(
                        channelMax: try r.readShort("connection.tune channel-max"),
                        frameMax: try r.readLong("connection.tune frame-max"),
                        heartbeat: try r.readShort("connection.tune heartbeat")
                    )
                )
            case 31:
                return .tuneOk(
                    TuneOk(
                        channelMax: try r.readShort("connection.tune-ok channel-max"),
                        frameMax: try r.readLong("connection.tune-ok frame-max"),
                        heartbeat: try r.readShort("connection.tune-ok heartbeat")
                    )
                )
            case 40:
                let virtualHost = try r.readShortString("connection.open virtual-host")
                let reserved1 = try r.readShortString("connection.open reserved-1")
                let bits = try r.readBits("connection.open reserved-2")
                return .open(Open(virtualHost: virtualHost, reserved1: reserved1, reserved2: bits[0]))
            case 41:
                return .openOk(OpenOk(reserved1: try r.readShortString("connection.open-ok reserved-1")))
            case 50:
                return .close(
                    Close(
                        replyCode: try r.readShort("connection.close reply-code"),
                        replyText: try r.readShortString("connection.close reply-text"),
                        classID: try r.readShort("connection.close class-id"),
                        methodID: try r.readShort("connection.close method-id")
                    )
                )
            case 51:
                return .closeOk
            case 60:
                return .blocked(Blocked(reason: try r.readShortString("connection.blocked reason")))
            case 61:
                return .unblocked
            case 70:
                return .updateSecret(
                    UpdateSecret(
                        newSecret: try r.readLongString("connection.update-secret new-secret"),
                        reason: try r.readShortString("connection.update-secret reason")
                    )
                )
            case 71:
                return .updateSecretOk
            default:
                return nil
            }
        }

        func encodeArguments(into b: inout ByteBuffer) throws(AMQPCodecError) {
            switch self {
            case .start(let m):
                b.writeInteger(m.versionMajor)
                b.writeInteger(m.versionMinor)
                try b.writeAMQPTable(m.serverProperties)
                try b.writeAMQPLongString(m.mechanisms)
                try b.writeAMQPLongString(m.locales)
            case .startOk(let m):
                try b.writeAMQPTable(m.clientProperties)
                try b.writeAMQPShortString(m.mechanism)
                try b.writeAMQPLongString(m.response)
                try b.writeAMQPShortString(m.locale)
            case .secure(let m):
                try b.writeAMQPLongString(m.challenge)
            case .secureOk(let m):
                try b.writeAMQPLongString(m.response)
            case .tune(let m):
                b.writeAMQPShort(m.channelMax)
                b.writeAMQPLong(m.frameMax)
                b.writeAMQPShort(m.heartbeat)
            case .tuneOk(let m):
                b.writeAMQPShort(m.channelMax)
                b.writeAMQPLong(m.frameMax)
                b.writeAMQPShort(m.heartbeat)
            case .open(let m):
                try b.writeAMQPShortString(m.virtualHost)
                try b.writeAMQPShortString(m.reserved1)
                b.writeAMQPBits(m.reserved2)
            case .openOk(let m):
                try b.writeAMQPShortString(m.reserved1)
            case .close(let m):
                b.writeAMQPShort(m.replyCode)
                try b.writeAMQPShortString(m.replyText)
                b.writeAMQPShort(m.classID)
                b.writeAMQPShort(m.methodID)
            case .closeOk, .unblocked, .updateSecretOk:
                break
            case .blocked(let m):
                try b.writeAMQPShortString(m.reason)
            case .updateSecret(let m):
                try b.writeAMQPLongString(m.newSecret)
                try b.writeAMQPShortString(m.reason)
            }
        }
    }
}

extension AMQPMethod.Connection {
    /// `connection.start`: sent by the server to begin the handshake.
    public struct Start: Hashable, Sendable {
        public var versionMajor: UInt8
        public var versionMinor: UInt8
        /// Server properties; RabbitMQ lists its extensions in the nested
        /// `capabilities` table.
        public var serverProperties: AMQPFieldTable
        /// Space-separated SASL mechanisms.
        public var mechanisms: AMQPLongString
        /// Space-separated locales.
        public var locales: AMQPLongString

        public init(
            versionMajor: UInt8 = 0,
            versionMinor: UInt8 = 9,
            serverProperties: AMQPFieldTable = [:],
            mechanisms: AMQPLongString = "PLAIN",
            locales: AMQPLongString = "en_US"
        ) {
            self.versionMajor = versionMajor
            self.versionMinor = versionMinor
            self.serverProperties = serverProperties
            self.mechanisms = mechanisms
            self.locales = locales
        }
    }

    /// `connection.start-ok`: the client's properties and SASL response.
    public struct StartOk: Hashable, Sendable {
        /// Client properties; put RabbitMQ capability flags (see
        /// ``AMQPCapabilities``) in a nested `capabilities` table.
        public var clientProperties: AMQPFieldTable
        public var mechanism: AMQPShortString
        public var response: AMQPLongString
        public var locale: AMQPShortString

        public init(
            clientProperties: AMQPFieldTable = [:],
            mechanism: AMQPShortString = "PLAIN",
            response: AMQPLongString,
            locale: AMQPShortString = "en_US"
        ) {
            self.clientProperties = clientProperties
            self.mechanism = mechanism
            self.response = response
            self.locale = locale
        }
    }

    /// `connection.secure`: a SASL challenge from the server.
    public struct Secure: Hashable, Sendable {
        public var challenge: AMQPLongString

        public init(challenge: AMQPLongString) {
            self.challenge = challenge
        }
    }

    /// `connection.secure-ok`: the client's SASL response to a challenge.
    public struct SecureOk: Hashable, Sendable {
        public var response: AMQPLongString

        public init(response: AMQPLongString) {
            self.response = response
        }
    }

    /// `connection.tune`: the server's proposed limits (0 means "no limit").
    public struct Tune: Hashable, Sendable {
        public var channelMax: UInt16
        public var frameMax: UInt32
        /// Heartbeat interval in seconds.
        public var heartbeat: UInt16

        public init(channelMax: UInt16 = 0, frameMax: UInt32 = 0, heartbeat: UInt16 = 0) {
            self.channelMax = channelMax
            self.frameMax = frameMax
            self.heartbeat = heartbeat
        }
    }

    /// `connection.tune-ok`: the limits the client agrees to.
    public struct TuneOk: Hashable, Sendable {
        public var channelMax: UInt16
        public var frameMax: UInt32
        /// Heartbeat interval in seconds.
        public var heartbeat: UInt16

        public init(channelMax: UInt16 = 0, frameMax: UInt32 = 0, heartbeat: UInt16 = 0) {
            self.channelMax = channelMax
            self.frameMax = frameMax
            self.heartbeat = heartbeat
        }
    }

    /// `connection.open`: opens a virtual host.
    public struct Open: Hashable, Sendable {
        public var virtualHost: AMQPShortString
        /// Reserved (formerly `capabilities`); must be empty.
        public var reserved1: AMQPShortString
        /// Reserved (formerly `insist`); must be false.
        public var reserved2: Bool

        public init(virtualHost: AMQPShortString = "/", reserved1: AMQPShortString = "", reserved2: Bool = false) {
            self.virtualHost = virtualHost
            self.reserved1 = reserved1
            self.reserved2 = reserved2
        }
    }

    /// `connection.open-ok`.
    public struct OpenOk: Hashable, Sendable {
        /// Reserved (formerly `known-hosts`); must be empty.
        public var reserved1: AMQPShortString

        public init(reserved1: AMQPShortString = "") {
            self.reserved1 = reserved1
        }
    }

    /// `connection.close`: closes the connection, telling why. `classID` and
    /// `methodID` name the method that caused the close (0 if none).
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

    /// `connection.blocked` (RabbitMQ): the broker blocks publishing (e.g. a
    /// resource alarm). Sent only to clients announcing the
    /// `connection.blocked` capability.
    public struct Blocked: Hashable, Sendable {
        public var reason: AMQPShortString

        public init(reason: AMQPShortString = "") {
            self.reason = reason
        }
    }

    /// `connection.update-secret` (RabbitMQ): replaces the connection's secret
    /// (for example an expiring OAuth 2 token).
    public struct UpdateSecret: Hashable, Sendable {
        public var newSecret: AMQPLongString
        public var reason: AMQPShortString

        public init(newSecret: AMQPLongString, reason: AMQPShortString = "") {
            self.newSecret = newSecret
            self.reason = reason
        }
    }
}
