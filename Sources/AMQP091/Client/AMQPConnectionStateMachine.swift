//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: the connection state machine (channel 0).
//===----------------------------------------------------------------------===//

import NIOCore

/// How the client authenticates.
public enum AMQPAuthentication: Hashable, Sendable {
    /// SASL PLAIN with a username and password.
    case plain(username: String, password: String)
    /// SASL EXTERNAL (the identity comes from the TLS client certificate).
    case external
}

/// Limits the connection ended up with after `connection.tune`.
public struct AMQPNegotiatedParameters: Hashable, Sendable {
    public var channelMax: UInt16
    public var frameMax: UInt32
    /// Heartbeat interval in seconds, 0 = heartbeats off.
    public var heartbeat: UInt16
    /// Capabilities the broker announced in `connection.start`.
    public var serverCapabilities: Set<AMQPShortString>
}

/// The connection-level protocol (channel 0) as a value: methods are named
/// after events and return the action the I/O layer must carry out.
public struct AMQPConnectionStateMachine: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var authentication: AMQPAuthentication
        public var virtualHost: String
        /// Requested heartbeat in seconds (0 = off); the lower non-zero of
        /// this and the broker's proposal wins.
        public var heartbeat: UInt16
        /// Requested channel_max (0 = no preference).
        public var channelMax: UInt16
        /// Requested frame_max (0 = no preference).
        public var frameMax: UInt32
        public var clientProperties: AMQPFieldTable

        public init(
            authentication: AMQPAuthentication,
            virtualHost: String = "/",
            heartbeat: UInt16 = 60,
            channelMax: UInt16 = 2047,
            frameMax: UInt32 = 131_072,
            clientProperties: AMQPFieldTable = AMQPCapabilities.clientProperties(product: "Sluice AMQP091", version: "1.0")
        ) {
            self.authentication = authentication
            self.virtualHost = virtualHost
            self.heartbeat = heartbeat
            self.channelMax = channelMax
            self.frameMax = frameMax
            self.clientProperties = clientProperties
        }
    }

    public enum State: Hashable, Sendable {
        case idle
        case awaitingStart
        case awaitingTune
        case awaitingOpenOk
        case open
        case closing
        case closed
    }

    public enum Action: Hashable, Sendable {
        case none
        /// Write the protocol header `AMQP 0 0 9 1`.
        case sendProtocolHeader
        /// Write these frames (on channel 0).
        case send([AMQPFrame])
        /// Tuning is done: apply the limits (frame decoder, heartbeat timer),
        /// then write the frames (tune-ok and open).
        case tuned(AMQPNegotiatedParameters, send: [AMQPFrame])
        /// The connection is open: resolve the connect call.
        case connected(AMQPNegotiatedParameters)
        /// Write a heartbeat frame.
        case sendHeartbeat
        /// Publishing is blocked by the broker (resource alarm) or unblocked.
        case blockedChanged(blocked: Bool, reason: String?)
        /// Write the frames (if any), then close the socket and fail every
        /// pending operation with the error.
        case failAndClose(AMQPClientError, send: [AMQPFrame])
        /// Our close was confirmed: close the socket; pending operations fail
        /// with `.closed`.
        case closeTransport
    }

    public private(set) var state: State = .idle
    public private(set) var negotiated: AMQPNegotiatedParameters?
    public private(set) var isBlocked = false
    public private(set) var blockedReason: String?
    private let configuration: Configuration
    private var serverCapabilities: Set<AMQPShortString> = []
    private var lastReceived: NIODeadline = .uptimeNanoseconds(0)
    private var lastSent: NIODeadline = .uptimeNanoseconds(0)

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Events

    /// The socket is connected (TLS done, if any).
    public mutating func transportConnected(now: NIODeadline) -> Action {
        guard self.state == .idle else { return .none }
        self.state = .awaitingStart
        self.lastReceived = now
        self.lastSent = now
        return .sendProtocolHeader
    }

    /// Any frame arrived (for the missed-heartbeat timeout).
    public mutating func frameReceived(now: NIODeadline) {
        self.lastReceived = now
    }

    /// Any frame was written (heartbeats are only needed when idle).
    public mutating func frameSent(now: NIODeadline) {
        self.lastSent = now
    }

    /// A connection-class method arrived on channel 0.
    public mutating func methodReceived(_ method: AMQPMethod.Connection) -> Action {
        switch (self.state, method) {
        case (.awaitingStart, .start(let start)):
            return self.startReceived(start)
        case (.awaitingTune, .tune(let tune)):
            return self.tuneReceived(tune)
        case (.awaitingTune, .secure):
            return self.fail(AMQPClientError(code: .protocolError, message: "the broker sent connection.secure, which PLAIN and EXTERNAL do not use"))
        case (.awaitingOpenOk, .openOk):
            self.state = .open
            return self.negotiated.map { .connected($0) } ?? .none
        case (.closing, .closeOk):
            self.state = .closed
            return .closeTransport
        case (.closing, .close):
            // Both sides closed at once: answer and finish.
            self.state = .closed
            return .failAndClose(
                AMQPClientError(code: .closed, message: "the connection was closed"),
                send: [.method(.connection(.closeOk), channel: 0)]
            )
        case (.closed, _):
            return .none
        case (_, .close(let close)):
            let handshake = self.state != .open
            self.state = .closed
            return .failAndClose(
                AMQPClientError.connectionClose(close, duringHandshake: handshake),
                send: [.method(.connection(.closeOk), channel: 0)]
            )
        case (.open, .blocked(let blocked)):
            self.isBlocked = true
            self.blockedReason = blocked.reason.string
            return .blockedChanged(blocked: true, reason: blocked.reason.string)
        case (.open, .unblocked):
            self.isBlocked = false
            self.blockedReason = nil
            return .blockedChanged(blocked: false, reason: nil)
        case (.open, .updateSecretOk), (.closing, _):
            return .none
        default:
            return self.protocolViolation("unexpected \(AMQPMethod.connection(method).name) in state \(self.state)")
        }
    }

    /// The heartbeat timer fired (the handler ticks it at half the interval).
    public mutating func heartbeatTick(now: NIODeadline) -> Action {
        guard let heartbeat = self.negotiated?.heartbeat, heartbeat > 0 else { return .none }
        switch self.state {
        case .awaitingOpenOk, .open, .closing:
            break
        default:
            return .none
        }
        let interval = TimeAmount.seconds(Int64(heartbeat))
        if now - self.lastReceived >= interval * 2 {
            self.state = .closed
            return .failAndClose(
                AMQPClientError(code: .heartbeatTimeout, message: "no frame from the broker for \(2 * Int(heartbeat)) seconds (two heartbeat intervals)"),
                send: []
            )
        }
        if now - self.lastSent >= .nanoseconds(interval.nanoseconds / 2) {
            self.lastSent = now
            return .sendHeartbeat
        }
        return .none
    }

    /// The user asked to close the connection.
    public mutating func closeRequested() -> Action {
        switch self.state {
        case .open, .awaitingOpenOk:
            self.state = .closing
            return .send([.method(.connection(.close(.init(replyCode: .replySuccess, replyText: "bye"))), channel: 0)])
        case .closing, .closed:
            return .none
        case .idle, .awaitingStart, .awaitingTune:
            self.state = .closed
            return .failAndClose(AMQPClientError(code: .closed, message: "the connection was closed during the handshake"), send: [])
        }
    }

    /// The socket closed (or failed).
    public mutating func transportClosed(error: (any Error)?) -> Action {
        let previous = self.state
        self.state = .closed
        switch previous {
        case .closed:
            return .none
        case .closing:
            return .closeTransport
        case .awaitingTune where self.configuration.authentication != .external
            && !self.serverCapabilities.contains(AMQPCapabilities.authenticationFailureClose):
            // RabbitMQ without authentication_failure_close drops the socket
            // after a failed login.
            return .failAndClose(
                AMQPClientError(code: .authenticationFailed, message: "the broker closed the connection after start-ok; the credentials were probably refused"),
                send: []
            )
        case .idle, .awaitingStart, .awaitingTune, .awaitingOpenOk:
            return .failAndClose(
                AMQPClientError(code: .connectionLost, message: "the connection closed during the AMQP handshake (state \(previous))\(error.map { ": \($0)" } ?? "")"),
                send: []
            )
        case .open:
            return .failAndClose(
                AMQPClientError(code: .connectionLost, message: "the connection to the broker was lost\(error.map { ": \($0)" } ?? "")"),
                send: []
            )
        }
    }

    /// A malformed frame or a frame the protocol forbids arrived.
    public mutating func protocolViolation(_ message: String, replyCode: AMQPReplyCode = .unexpectedFrame) -> Action {
        guard self.state != .closed else { return .none }
        self.state = .closed
        return .failAndClose(
            AMQPClientError(code: .protocolError, message: message),
            send: [.method(.connection(.close(.init(replyCode: replyCode, replyText: AMQPShortString(String(message.prefix(200)))))), channel: 0)]
        )
    }

    // MARK: Handshake steps

    private mutating func startReceived(_ start: AMQPMethod.Connection.Start) -> Action {
        self.serverCapabilities = AMQPCapabilities.announced(in: start.serverProperties)
        let offered = Set((start.mechanisms.string ?? "").split(separator: " ").map(String.init))
        let mechanism: AMQPShortString
        let response: AMQPLongString
        switch self.configuration.authentication {
        case .plain(let username, let password):
            guard offered.contains("PLAIN") else {
                return self.fail(AMQPClientError(code: .mechanismNotSupported, message: "the broker does not offer SASL PLAIN (offers: \(offered.sorted().joined(separator: " ")))"))
            }
            mechanism = "PLAIN"
            response = .plainSASLResponse(username: username, password: password)
        case .external:
            guard offered.contains("EXTERNAL") else {
                return self.fail(AMQPClientError(code: .mechanismNotSupported, message: "the broker does not offer SASL EXTERNAL (offers: \(offered.sorted().joined(separator: " "))); enable rabbitmq_auth_mechanism_ssl"))
            }
            mechanism = "EXTERNAL"
            response = ""
        }
        self.state = .awaitingTune
        let startOk = AMQPMethod.Connection.StartOk(
            clientProperties: self.configuration.clientProperties,
            mechanism: mechanism,
            response: response,
            locale: "en_US"
        )
        return .send([.method(.connection(.startOk(startOk)), channel: 0)])
    }

    private mutating func tuneReceived(_ tune: AMQPMethod.Connection.Tune) -> Action {
        func lowerNonZero<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
            if a == 0 { return b }
            if b == 0 { return a }
            return Swift.min(a, b)
        }
        var channelMax = lowerNonZero(tune.channelMax, self.configuration.channelMax)
        if channelMax == 0 { channelMax = 2047 }
        var frameMax = lowerNonZero(tune.frameMax, self.configuration.frameMax)
        if frameMax == 0 { frameMax = AMQPFrameDecoder.defaultMaxFrameSize }
        frameMax = Swift.max(frameMax, AMQPFrame.minimumFrameSize)
        // Heartbeat: 0 from the client disables; otherwise the lower non-zero.
        let heartbeat = self.configuration.heartbeat == 0 ? 0 : lowerNonZero(tune.heartbeat, self.configuration.heartbeat)
        let parameters = AMQPNegotiatedParameters(
            channelMax: channelMax,
            frameMax: frameMax,
            heartbeat: heartbeat,
            serverCapabilities: self.serverCapabilities
        )
        self.negotiated = parameters
        self.state = .awaitingOpenOk
        return .tuned(parameters, send: [
            .method(.connection(.tuneOk(.init(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat))), channel: 0),
            .method(.connection(.open(.init(virtualHost: AMQPShortString(self.configuration.virtualHost)))), channel: 0),
        ])
    }

    private mutating func fail(_ error: AMQPClientError) -> Action {
        self.state = .closed
        return .failAndClose(error, send: [])
    }
}
