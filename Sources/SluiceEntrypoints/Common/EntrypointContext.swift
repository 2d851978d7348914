import AsyncAlgorithms
import Hummingbird
import Logging
import NIOCore
import SluiceCore

/// What the gateway hands an entrypoint for one request: the API's endpoint, the entrypoint's
/// settings, the caller's identifier, and the signal that ends streams on undeploy or shutdown.
public struct EntrypointContext: Sendable {
    public var apiId: String
    public var settings: EntrypointSettings
    public var endpoint: any EndpointConnector
    /// The caller's identifier, computed when asked for (see ``ClientIdentity``).
    public var clientIdentity: ClientIdentity
    public var clientIdentifier: String { clientIdentity.effective }
    public var stop: StopSignal
    /// Fires when the client's connection closes, so that a stream ends (and releases its broker
    /// subscription) without waiting for a failed write.
    public var connectionClosed: StopSignal
    /// The request's logger: the gateway's, with the API, the entrypoint and the request id
    /// (when there is one) added when it is asked for. Most requests log nothing: they pay for
    /// neither the metadata nor its rendering.
    public var logger: Logger {
        get {
            guard let requestId else { return baseLogger }
            var logger = baseLogger
            logger.handler.metadata.merge(["api": .string(apiId), "entrypoint": .string(settings.type), "request": .string(requestId)]) { $1 }
            return logger
        }
        set {
            baseLogger = newValue
            requestId = nil
        }
    }
    private var baseLogger: Logger
    /// The gateway's id of the request, for its logs.
    private var requestId: String?
    public var limits: EntrypointLimits
    /// Closes the client's connection (see ``SubscribeRequest/closeConnection``).
    public var closeConnection: (@Sendable () -> Void)?
    /// The client's connection, for streams that write to it from its event loop (live SSE); nil
    /// where there is no socket (tests of handlers).
    public var clientChannel: (any Channel)?

    public init(
        apiId: String, settings: EntrypointSettings, endpoint: any EndpointConnector, clientIdentity: ClientIdentity,
        stop: StopSignal, connectionClosed: StopSignal = StopSignal(), logger: Logger, requestId: String? = nil,
        limits: EntrypointLimits,
        closeConnection: (@Sendable () -> Void)? = nil, clientChannel: (any Channel)? = nil
    ) {
        self.apiId = apiId
        self.settings = settings
        self.endpoint = endpoint
        self.clientIdentity = clientIdentity
        self.stop = stop
        self.connectionClosed = connectionClosed
        self.baseLogger = logger
        self.requestId = requestId
        self.limits = limits
        self.closeConnection = closeConnection
        self.clientChannel = clientChannel
    }

    func subscribeRequest(resumeAfter: String?) -> SubscribeRequest {
        SubscribeRequest(
            clientIdentifier: clientIdentifier, qos: settings.qos, resumeAfter: resumeAfter, entrypoint: settings.type,
            closeConnection: closeConnection)
    }
}

/// Gateway-wide limits the entrypoints enforce.
public struct EntrypointLimits: Sendable, Hashable {
    /// The largest request body (HTTP POST) accepted; larger gets `413`.
    public var maxBodySize: Int
    /// The largest WebSocket message (after joining fragments) accepted.
    public var maxWebSocketMessageSize: Int

    public init(maxBodySize: Int = 1 << 20, maxWebSocketMessageSize: Int = 262_144) {
        self.maxBodySize = maxBodySize
        self.maxWebSocketMessageSize = maxWebSocketMessageSize
    }
}

/// What happens on an open stream: a message, a timer tick (heartbeat or deadline), the API or
/// gateway stopping or the client gone, or the end of the messages.
enum StreamEvent: Sendable {
    case message(Message)
    case tick
    case stop(StopSignal.Reason)
    case end
}

/// The events of one stream. Messages are still pulled: the merge asks the subscription for the
/// next message only when the previous one was taken.
func streamEvents(
    _ subscription: MessageSubscription, tick: Duration, stop: StopSignal, connectionClosed: StopSignal
) -> some AsyncSequence<StreamEvent, any Error> & Sendable {
    merge(
        chain(subscription.map { StreamEvent.message($0) }, [StreamEvent.end].async),
        AsyncTimerSequence(interval: tick, clock: .continuous).map { _ in StreamEvent.tick },
        merge(stop.events, connectionClosed.events).map { StreamEvent.stop($0) })
}

/// Delivers one message under the entrypoint's QoS: acknowledged before the write for
/// at-most-once, after it for auto and at-least-once, never for none.
func deliver(_ message: Message, qos: QoS, write: () async throws -> Void) async throws {
    if qos == .atMostOnce { try await message.acknowledgement?.acknowledge() }
    try await write()
    if qos == .atLeastOnce || qos == .auto { try await message.acknowledgement?.acknowledge() }
}

extension GatewayError {
    /// Any error as a gateway error, for clients: unknown errors become `Endpoint unknown error`.
    public static func from(_ error: any Error) -> GatewayError {
        if let error = error as? GatewayError { return error }
        return .unknown(underlying: error)
    }
}

/// The client went away while a stream was being written: not a failure of the stream.
struct ClientDisconnected: Error {}

extension ResponseBodyWriter {
    /// Writes a buffer; a failure means the client is gone.
    mutating func send(_ buffer: ByteBuffer) async throws(ClientDisconnected) {
        do {
            try await write(buffer)
        } catch {
            throw ClientDisconnected()
        }
    }
}
