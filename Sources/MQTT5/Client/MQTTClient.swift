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
    /// ``MQTTSession`` only: subscribe again when a session resumes, for brokers that keep a
    /// session but lose some of its subscriptions (see
    /// ``MQTTConnectionStateMachine/resubscribesOnResume``).
    public var resubscribesOnResume = false

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
    private let core: NIOLoopBound<MQTTConnectionCore>
    /// What the server granted in CONNACK.
    public let connectionInfo: MQTTConnectionInfo

    private init(channel: any Channel, core: NIOLoopBound<MQTTConnectionCore>, connectionInfo: MQTTConnectionInfo) {
        self.channel = channel
        self.core = core
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
        let deadline = NIODeadline.now() + MQTTTransport.timeAmount(configuration.connectTimeout)
        let sslContext: NIOSSLContext?
        do {
            sslContext = try MQTTTransport.sslContext(for: configuration)
        } catch {
            connectPromise.fail(error)
            throw error
        }
        let settings = configuration.connect
        let bufferSize = configuration.subscriptionBufferSize
        let authHook = configuration.authHook

        let channel: any Channel
        do {
            channel = try await MQTTTransport.connect(configuration: configuration, sslContext: sslContext, eventLoop: eventLoop) {
                // One connection, one session: the state machine ends with the channel.
                let core = MQTTConnectionCore(
                    eventLoop: eventLoop,
                    settings: settings,
                    keepsSessionAcrossConnections: false,
                    subscriptionBufferSize: bufferSize,
                    authHook: authHook
                )
                core.onConnected = { connectPromise.succeed($0) }
                core.onConnectFailed = { connectPromise.fail($0) }
                core.onFinished = { connectPromise.fail($0 ?? .closed()) }  // no-op if completed
                return MQTTChannelHandler(core: core, connectDeadline: deadline)
            }.get()
        } catch {
            let mapped = MQTTClientError.from(error)
            connectPromise.fail(mapped)
            throw mapped
        }

        let info: MQTTConnectionInfo
        do {
            info = try await connectPromise.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw MQTTClientError.from(error)
        }
        do {
            let core = try await eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: MQTTChannelHandler.self).core, eventLoop: eventLoop)
            }.get()
            return MQTTClient(channel: channel, core: core, connectionInfo: info)
        } catch {
            channel.close(promise: nil)
            throw MQTTClientError.from(error)
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
        let core = self.core
        _ = try await Self.wait(self.channel.eventLoop.flatSubmit { core.value.publish(token: core.value.tokens.next(), packet) })
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
        let core = self.core
        let subscription = MQTTSubscription(topicFilter: topicFilter, options: options)
        return try await Self.wait(self.channel.eventLoop.flatSubmit { core.value.subscribe(token: core.value.tokens.next(), subscription, properties: properties) })
    }

    /// Unsubscribes; the subscription's sequence then finishes.
    public func unsubscribe(_ subscription: MQTTClientSubscription, properties: MQTTProperties = MQTTProperties()) async throws(MQTTClientError) {
        let core = self.core
        let identifier = subscription.subscriptionIdentifier
        try await Self.wait(self.channel.eventLoop.flatSubmit { core.value.unsubscribe(token: core.value.tokens.next(), identifiers: [identifier], properties: properties) })
    }

    /// Unsubscribes every subscription made with exactly this topic filter.
    public func unsubscribe(_ topicFilter: String, properties: MQTTProperties = MQTTProperties()) async throws(MQTTClientError) {
        let core = self.core
        try await Self.wait(self.channel.eventLoop.flatSubmit {
            core.value.unsubscribe(token: core.value.tokens.next(), identifiers: core.value.subscriptionIdentifiers(matchingFilter: topicFilter), properties: properties)
        })
    }

    /// Sends DISCONNECT with `reason`, fails pending operations, finishes subscriptions and
    /// waits until the connection is closed.
    public func disconnect(reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = MQTTProperties()) async {
        let core = self.core
        self.channel.eventLoop.execute { core.value.disconnect(reason: reason, properties: properties) }
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
            throw MQTTClientError.from(error)
        }
    }
}
