//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: the public async API.
//===----------------------------------------------------------------------===//

import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// How to reach and log in to a broker.
public struct AMQPConnectionConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var authentication: AMQPAuthentication
    /// TLS settings; `nil` = plain TCP.
    public var tls: TLSConfiguration?
    /// The name sent in SNI and checked against the certificate (defaults to `host`).
    public var tlsServerHostname: String?
    /// Requested heartbeat in seconds (0 = off).
    public var heartbeat: UInt16
    /// Timeout for TCP connect and, separately, for the TLS + AMQP handshake.
    public var connectTimeout: TimeAmount
    /// The most unconfirmed publishes per channel in confirm mode.
    public var maxInFlightPublishes: Int
    public var connectionName: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        virtualHost: String = "/",
        username: String = "guest",
        password: String = "guest",
        tls: TLSConfiguration? = nil,
        tlsServerHostname: String? = nil,
        heartbeat: UInt16 = 60,
        connectTimeout: TimeAmount = .seconds(10),
        maxInFlightPublishes: Int = 1024,
        connectionName: String? = nil
    ) {
        self.host = host
        self.port = port
        self.virtualHost = virtualHost
        self.authentication = .plain(username: username, password: password)
        self.tls = tls
        self.tlsServerHostname = tlsServerHostname
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.maxInFlightPublishes = maxInFlightPublishes
        self.connectionName = connectionName
    }
}

/// A connection to an AMQP 0-9-1 broker.
public final class AMQPConnection: Sendable {
    let channel: any Channel
    /// The limits negotiated with the broker.
    public let parameters: AMQPNegotiatedParameters
    private let shared: NIOLockedValueBox<AMQPConnectionSharedState>

    private init(channel: any Channel, parameters: AMQPNegotiatedParameters, shared: NIOLockedValueBox<AMQPConnectionSharedState>) {
        self.channel = channel
        self.parameters = parameters
        self.shared = shared
    }

    /// Whether the broker currently blocks publishing (`connection.blocked`).
    public var isBlocked: Bool { self.shared.withLockedValue { $0.isBlocked } }

    /// Why the connection ended, once it has.
    public var closeError: AMQPClientError? { self.shared.withLockedValue { $0.failure } }

    /// Why the broker closed channel `id` with `channel.close`, if it did.
    func channelError(_ id: UInt16) -> AMQPClientError? {
        self.shared.withLockedValue { $0.channelErrors[id] }
    }

    /// Connects, logs in and opens the virtual host.
    public static func connect(
        _ configuration: AMQPConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(AMQPClientError) -> AMQPConnection {
        let eventLoop = eventLoopGroup.next()
        let connected = eventLoop.makePromise(of: AMQPNegotiatedParameters.self)
        let shared = NIOLockedValueBox(AMQPConnectionSharedState())
        var sslContext: NIOSSLContext?
        if let tls = configuration.tls {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw AMQPClientError(code: .tlsFailure, message: "invalid TLS configuration: \(error)")
            }
        }
        let context = sslContext
        var properties = AMQPCapabilities.clientProperties(product: "Sluice AMQP091", version: "1.0", connectionName: configuration.connectionName)
        properties["information"] = .string("https://www.rabbitmq.com/amqp-0-9-1-reference.html")
        let machineConfiguration = AMQPConnectionStateMachine.Configuration(
            authentication: configuration.authentication,
            virtualHost: configuration.virtualHost,
            heartbeat: configuration.heartbeat,
            clientProperties: properties
        )
        let hostname = configuration.tlsServerHostname ?? configuration.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        let sni = hostname.isIPAddress ? nil : hostname
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: sni))
                    }
                    try channel.pipeline.syncOperations.addHandler(AMQPClientHandler(
                        configuration: machineConfiguration,
                        connectPromise: connected,
                        handshakeTimeout: configuration.connectTimeout,
                        maxInFlightPublishes: configuration.maxInFlightPublishes,
                        shared: shared
                    ))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            let clientError: AMQPClientError
            if case ChannelError.connectTimeout = error {
                clientError = AMQPClientError(code: .connectTimeout, message: "connecting to \(configuration.host):\(configuration.port) timed out")
            } else {
                clientError = AMQPClientError(code: .connectFailed, message: "cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
            connected.fail(clientError)
            throw clientError
        }
        let parameters: AMQPNegotiatedParameters
        do {
            parameters = try await connected.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw AMQPClientError.wrap(error)
        }
        return AMQPConnection(channel: channel, parameters: parameters, shared: shared)
    }

    /// Opens a new channel.
    public func openChannel() async throws(AMQPClientError) -> AMQPChannel {
        let promise = self.channel.eventLoop.makePromise(of: UInt16.self)
        let id = try await self.request(.openChannel(promise), promise.futureResult)
        return AMQPChannel(connection: self, id: id)
    }

    /// Closes the connection (connection.close / close-ok). Pending
    /// operations fail with ``AMQPClientError/Code/closed``.
    public func close() async {
        let promise = self.channel.eventLoop.makePromise(of: Void.self)
        _ = try? await self.request(.closeConnection(promise), promise.futureResult)
        try? await self.channel.closeFuture.get()
    }

    @discardableResult
    func request<T: Sendable>(_ request: AMQPClientRequest, _ future: EventLoopFuture<T>) async throws(AMQPClientError) -> T {
        self.channel.writeAndFlush(request).whenFailure { _ in
            // The handler never saw the request (the channel is closed).
            request.fail(self.closeError ?? AMQPClientError(code: .connectionLost, message: "the connection is closed"))
        }
        do {
            return try await future.get()
        } catch {
            throw AMQPClientError.wrap(error)
        }
    }
}

extension AMQPClientError {
    static func wrap(_ error: any Error) -> AMQPClientError {
        if let error = error as? AMQPClientError { return error }
        return AMQPClientError(code: .connectionLost, message: "connection error: \(error)")
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}

/// Result of `queue.declare`.
public struct AMQPQueueDeclareResult: Hashable, Sendable {
    public var queue: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}

/// An AMQP channel. Operations on one channel run one at a time in order.
public final class AMQPChannel: Sendable {
    public let connection: AMQPConnection
    public let id: UInt16
    private let consumerCounter = NIOLockedValueBox(0)

    init(connection: AMQPConnection, id: UInt16) {
        self.connection = connection
        self.id = id
    }

    @discardableResult
    func rpc(_ method: AMQPMethod) async throws(AMQPClientError) -> AMQPMethod {
        let promise = self.connection.channel.eventLoop.makePromise(of: AMQPMethod.self)
        return try await self.connection.request(.rpc(channel: self.id, method, promise), promise.futureResult)
    }

    /// `exchange.declare`. Re-declaring an existing exchange with other
    /// settings fails with the broker's 406 PRECONDITION_FAILED channel
    /// close (``AMQPClientError/Code/channelClosedByServer``); the channel is
    /// then unusable.
    public func exchangeDeclare(
        _ name: String,
        type: String = "direct",
        durable: Bool = false,
        autoDelete: Bool = false,
        internal: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) {
        try await self.rpc(.exchange(.declare(.init(
            exchange: AMQPShortString(name), type: AMQPShortString(type), passive: passive,
            durable: durable, autoDelete: autoDelete, internal: `internal`, arguments: arguments
        ))))
    }

    /// `exchange.delete`.
    public func exchangeDelete(_ name: String, ifUnused: Bool = false) async throws(AMQPClientError) {
        try await self.rpc(.exchange(.delete(.init(exchange: AMQPShortString(name), ifUnused: ifUnused))))
    }

    /// `queue.declare`; an empty name lets the broker pick one.
    @discardableResult
    public func queueDeclare(
        _ name: String = "",
        durable: Bool = false,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) -> AMQPQueueDeclareResult {
        let response = try await self.rpc(.queue(.declare(.init(
            queue: AMQPShortString(name), passive: passive, durable: durable,
            exclusive: exclusive, autoDelete: autoDelete, arguments: arguments
        ))))
        guard case .queue(.declareOk(let ok)) = response else {
            throw AMQPClientError(code: .protocolError, message: "unexpected \(response.name)")
        }
        return AMQPQueueDeclareResult(queue: ok.queue.string ?? "", messageCount: ok.messageCount, consumerCount: ok.consumerCount)
    }

    /// `queue.bind`.
    public func queueBind(queue: String, exchange: String, routingKey: String = "", arguments: AMQPFieldTable = [:]) async throws(AMQPClientError) {
        try await self.rpc(.queue(.bind(.init(
            queue: AMQPShortString(queue), exchange: AMQPShortString(exchange),
            routingKey: AMQPShortString(routingKey), arguments: arguments
        ))))
    }

    /// `queue.delete`; returns the number of messages deleted.
    @discardableResult
    public func queueDelete(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws(AMQPClientError) -> UInt32 {
        let response = try await self.rpc(.queue(.delete(.init(queue: AMQPShortString(name), ifUnused: ifUnused, ifEmpty: ifEmpty))))
        guard case .queue(.deleteOk(let ok)) = response else { return 0 }
        return ok.messageCount
    }

    /// `confirm.select`: afterwards `publish` returns only after the broker's ack.
    public func confirmSelect() async throws(AMQPClientError) {
        try await self.rpc(.confirm(.select(.init())))
    }

    /// `basic.qos`: at most `prefetch` unacknowledged deliveries per consumer
    /// (per channel with `global`).
    public func basicQos(prefetch: UInt16, global: Bool = false) async throws(AMQPClientError) {
        try await self.rpc(.basic(.qos(.init(prefetchCount: prefetch, global: global))))
    }

    /// `basic.publish`. In confirm mode this returns after the broker's ack
    /// and throws ``AMQPClientError/Code/publishNacked`` on a nack or
    /// ``AMQPClientError/Code/publishReturned`` when a mandatory message was
    /// unroutable; without confirms it returns once the frames are written.
    public func publish(
        exchange: String,
        routingKey: String,
        body: ByteBuffer,
        properties: AMQPBasicProperties = .none,
        mandatory: Bool = false
    ) async throws(AMQPClientError) {
        let promise = self.connection.channel.eventLoop.makePromise(of: Void.self)
        let publish = AMQPMethod.Basic.Publish(exchange: AMQPShortString(exchange), routingKey: AMQPShortString(routingKey), mandatory: mandatory)
        try await self.connection.request(.publish(channel: self.id, publish, properties, body, promise), promise.futureResult)
    }

    /// `basic.consume`. Deliveries arrive in the returned sequence; with
    /// `noAck: false` (the default) the broker sends at most the `basicQos`
    /// prefetch before the reader acks, so a slow reader slows the broker.
    /// The sequence ends when the consumer is cancelled by this client and
    /// throws when the broker cancels it or the channel/connection closes.
    /// Dropping the iterator (or cancelling the reading task) sends
    /// `basic.cancel`. With `noAck: true` nothing bounds the buffer.
    public func consume(
        queue: String,
        consumerTag: String? = nil,
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPFieldTable = [:]
    ) async throws(AMQPClientError) -> AMQPConsumer {
        let tag = consumerTag ?? "sluice-\(self.id)-\(self.consumerCounter.withLockedValue { $0 += 1; return $0 })"
        let (stream, continuation) = AsyncThrowingStream<AMQPDelivery, any Error>.makeStream()
        let consume = AMQPMethod.Basic.Consume(queue: AMQPShortString(queue), consumerTag: AMQPShortString(tag), noAck: noAck, exclusive: exclusive, arguments: arguments)
        let promise = self.connection.channel.eventLoop.makePromise(of: AMQPMethod.self)
        try await self.connection.request(.consume(channel: self.id, consume, continuation, promise), promise.futureResult)
        // A reader that stops iterating (break, task cancelled) cancels the
        // consumer on the broker, so it stops delivering to it.
        let connection = self.connection
        let id = self.id
        continuation.onTermination = { termination in
            guard case .cancelled = termination else { return }
            let cancelled = connection.channel.eventLoop.makePromise(of: AMQPMethod.self)
            let request = AMQPClientRequest.rpc(channel: id, .basic(.cancel(.init(consumerTag: AMQPShortString(tag)))), cancelled)
            connection.channel.writeAndFlush(request).whenFailure { error in
                cancelled.fail(error)
            }
        }
        return AMQPConsumer(consumerTag: tag, stream: stream)
    }

    /// `basic.cancel` for a consumer; its sequence then ends.
    public func cancel(consumerTag: String) async throws(AMQPClientError) {
        try await self.rpc(.basic(.cancel(.init(consumerTag: AMQPShortString(consumerTag)))))
    }

    /// `basic.ack`.
    public func ack(deliveryTag: UInt64, multiple: Bool = false) async throws(AMQPClientError) {
        try await self.asyncMethod(.basic(.ack(.init(deliveryTag: deliveryTag, multiple: multiple))))
    }

    /// `basic.nack`.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool = true) async throws(AMQPClientError) {
        try await self.asyncMethod(.basic(.nack(.init(deliveryTag: deliveryTag, multiple: multiple, requeue: requeue))))
    }

    /// `basic.reject`.
    public func reject(deliveryTag: UInt64, requeue: Bool = true) async throws(AMQPClientError) {
        try await self.asyncMethod(.basic(.reject(.init(deliveryTag: deliveryTag, requeue: requeue))))
    }

    /// `channel.close`; pending operations on the channel fail.
    public func close() async throws(AMQPClientError) {
        let promise = self.connection.channel.eventLoop.makePromise(of: Void.self)
        try await self.connection.request(.closeChannel(channel: self.id, promise), promise.futureResult)
    }

    private func asyncMethod(_ method: AMQPMethod) async throws(AMQPClientError) {
        let promise = self.connection.channel.eventLoop.makePromise(of: Void.self)
        try await self.connection.request(.asyncMethod(channel: self.id, method, promise), promise.futureResult)
    }
}

/// The deliveries of one consumer, pulled by the reader.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let consumerTag: String
    let stream: AsyncThrowingStream<AMQPDelivery, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<AMQPDelivery, any Error>.AsyncIterator

        public mutating func next() async throws -> AMQPDelivery? {
            try await self.base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator())
    }
}
