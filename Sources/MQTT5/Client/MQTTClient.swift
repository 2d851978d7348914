import NIOCore
import NIOPosix
import NIOSSL

/// Everything needed to connect an ``MQTTClient``.
public struct MQTTClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// CONNECT settings (client id, clean start, keep alive, session expiry, limits, credentials).
    public var connect: MQTTConnectSettings
    /// TLS: nil for plain TCP. Certificate and hostname verification are this configuration's
    /// choice (`certificateVerification`).
    public var tls: TLSConfiguration?
    /// Server name for SNI and hostname verification; defaults to `host` unless it is an IP address.
    public var tlsServerHostname: String?
    /// Bound for TCP connect, TLS handshake and CONNACK together.
    public var connectTimeout: Duration
    /// Capacity of each subscription's message buffer (see ``MQTTClientSubscription``).
    public var subscriptionBufferSize: Int
    /// Enhanced authentication hook: answers a server AUTH packet (nil refuses it).
    public var authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)?

    public init(
        host: String,
        port: Int = 1883,
        connect: MQTTConnectSettings = MQTTConnectSettings(),
        tls: TLSConfiguration? = nil,
        tlsServerHostname: String? = nil,
        connectTimeout: Duration = .seconds(10),
        subscriptionBufferSize: Int = 100,
        authHook: (@Sendable (MQTTAuthPacket) -> MQTTAuthPacket?)? = nil
    ) {
        self.host = host
        self.port = port
        self.connect = connect
        self.tls = tls
        self.tlsServerHostname = tlsServerHostname
        self.connectTimeout = connectTimeout
        self.subscriptionBufferSize = subscriptionBufferSize
        self.authHook = authHook
    }
}

/// A connected MQTT 5 client on SwiftNIO. Obtain one with ``connect(configuration:eventLoopGroup:)``
/// or use ``withConnection(configuration:eventLoopGroup:_:)``. All operations fail (never hang)
/// once the connection is gone.
public final class MQTTClient: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<MQTTChannelHandler>
    /// What the server granted in CONNACK.
    public let connectionInfo: MQTTConnectionInfo

    private init(channel: any Channel, handler: NIOLoopBound<MQTTChannelHandler>, connectionInfo: MQTTConnectionInfo) {
        self.channel = channel
        self.handler = handler
        self.connectionInfo = connectionInfo
    }

    /// Connects and waits for CONNACK. Throws ``MQTTClientError``: `.connectionRefusedByServer`
    /// with the CONNACK reason code, `.connectionFailed`, `.tlsFailure` or `.connectTimeout`.
    public static func connect(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(MQTTClientError) -> MQTTClient {
        let eventLoop = eventLoopGroup.next()
        let connectPromise = eventLoop.makePromise(of: MQTTConnectionInfo.self)
        let timeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000 + configuration.connectTimeout.components.attoseconds / 1_000_000_000)
        let deadline = NIODeadline.now() + timeout

        var sslContext: NIOSSLContext?
        if let tls = configuration.tls {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                connectPromise.fail(error)
                throw MQTTClientError(kind: .tlsFailure, message: "invalid TLS configuration: \(error)")
            }
        }
        let sniHostname = configuration.tlsServerHostname ?? (Self.isIPAddress(configuration.host) ? nil : configuration.host)
        let settings = configuration.connect
        let bufferSize = configuration.subscriptionBufferSize
        let authHook = configuration.authHook
        let maximumPacketSize = configuration.connect.maximumPacketSize.map(Int.init) ?? MQTTPacketDecoder.protocolMaximumPacketSize
        let finalSSLContext = sslContext

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let finalSSLContext {
                        try sync.addHandler(NIOSSLClientHandler(context: finalSSLContext, serverHostname: sniHostname))
                    }
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: maximumPacketSize)))
                    try sync.addHandler(MessageToByteHandler(MQTTPacketEncoder()))
                    try sync.addHandler(MQTTChannelHandler(
                        settings: settings,
                        connectPromise: connectPromise,
                        connectDeadline: deadline,
                        subscriptionBufferSize: bufferSize,
                        authHook: authHook
                    ))
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            let mapped: MQTTClientError
            if let channelError = error as? ChannelError, case .connectTimeout = channelError {
                mapped = MQTTClientError(kind: .connectTimeout, message: "TCP connect to \(configuration.host):\(configuration.port) timed out")
            } else {
                mapped = MQTTClientError(kind: .connectionFailed, message: "cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
            connectPromise.fail(mapped)
            throw mapped
        }

        let info: MQTTConnectionInfo
        do {
            info = try await connectPromise.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw Self.map(error)
        }
        do {
            let handler = try await eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: MQTTChannelHandler.self), eventLoop: eventLoop)
            }.get()
            return MQTTClient(channel: channel, handler: handler, connectionInfo: info)
        } catch {
            channel.close(promise: nil)
            throw Self.map(error)
        }
    }

    /// Connects, runs `body`, then disconnects (also when `body` throws).
    public static func withConnection<Result: Sendable>(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (MQTTClient) async throws -> Result
    ) async throws -> Result {
        let client = try await MQTTClient.connect(configuration: configuration, eventLoopGroup: eventLoopGroup)
        do {
            let result = try await body(client)
            await client.disconnect()
            return result
        } catch {
            await client.disconnect()
            throw error
        }
    }

    /// Publishes and returns once it is complete: when written for QoS 0, after PUBACK for
    /// QoS 1, after PUBCOMP for QoS 2. Waits for an in-flight slot when the server's Receive
    /// Maximum is reached. Throws `.publishFailed` with the reason code of a failed acknowledgement.
    public func publish(
        topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTClientError) {
        let packet = MQTTPublishPacket(topicName: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        let handler = self.handler
        _ = try await Self.wait(self.channel.eventLoop.flatSubmit { handler.value.publish(packet) })
    }

    /// Convenience: publishes a UTF-8 string payload.
    public func publish(
        topic: String,
        payload: String,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTClientError) {
        try await self.publish(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    /// Subscribes to one topic filter and returns its message sequence once SUBACK granted it.
    /// Throws `.subscribeFailed` with the SUBACK reason code when refused.
    public func subscribe(
        _ topicFilter: String,
        options: MQTTSubscriptionOptions = MQTTSubscriptionOptions(),
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTClientError) -> MQTTClientSubscription {
        let handler = self.handler
        let subscription = MQTTSubscription(topicFilter: topicFilter, options: options)
        return try await Self.wait(self.channel.eventLoop.flatSubmit { handler.value.subscribe(subscription, properties: properties) })
    }

    /// Unsubscribes; the subscription's sequence then finishes.
    public func unsubscribe(_ subscription: MQTTClientSubscription, properties: MQTTProperties = MQTTProperties()) async throws(MQTTClientError) {
        let handler = self.handler
        let identifier = subscription.subscriptionIdentifier
        try await Self.wait(self.channel.eventLoop.flatSubmit { handler.value.unsubscribe(identifiers: [identifier], properties: properties) })
    }

    /// Unsubscribes every subscription made with exactly this topic filter.
    public func unsubscribe(_ topicFilter: String, properties: MQTTProperties = MQTTProperties()) async throws(MQTTClientError) {
        let handler = self.handler
        try await Self.wait(self.channel.eventLoop.flatSubmit {
            handler.value.unsubscribe(identifiers: handler.value.subscriptionIdentifiers(matchingFilter: topicFilter), properties: properties)
        })
    }

    /// Sends DISCONNECT with `reason`, fails pending operations, finishes subscriptions and
    /// waits until the connection is closed.
    public func disconnect(reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) async {
        let handler = self.handler
        self.channel.eventLoop.execute { handler.value.disconnect(reason: reason, properties: properties) }
        try? await self.channel.closeFuture.get()
    }

    /// Completes when the connection has closed, for whatever reason.
    public func waitUntilClosed() async {
        try? await self.channel.closeFuture.get()
    }

    public var isActive: Bool { self.channel.isActive }

    // MARK: Helpers

    private static func wait<T: Sendable>(_ future: EventLoopFuture<T>) async throws(MQTTClientError) -> T {
        do {
            return try await future.get()
        } catch {
            throw Self.map(error)
        }
    }

    private static func map(_ error: any Error) -> MQTTClientError {
        switch error {
        case let error as MQTTClientError: return error
        case is CancellationError: return MQTTClientError(kind: .cancelled, message: "cancelled")
        case let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed || error == .eof:
            return .closed()
        default: return MQTTClientError(kind: .connectionClosed, message: "\(error)")
        }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
