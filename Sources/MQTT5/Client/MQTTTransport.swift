import NIOCore
import NIOPosix
import NIOSSL

/// Opening the network connection of an ``MQTTClientConfiguration``: TCP (optionally TLS) with
/// the codec and an ``MQTTChannelHandler``. Shared by ``MQTTClient`` and ``MQTTSession``.
enum MQTTTransport {
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let components = duration.components
        return .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    static func sslContext(for configuration: MQTTClientConfiguration) throws(MQTTClientError) -> NIOSSLContext? {
        guard let tls = configuration.tls else { return nil }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw MQTTClientError(kind: .tlsFailure, message: "invalid TLS configuration: \(error)")
        }
    }

    /// Connects on `eventLoop`. `makeHandler` runs on `eventLoop` when the channel is set up.
    /// Fails with ``MQTTClientError`` (`.connectionFailed` or `.connectTimeout`).
    static func connect(
        configuration: MQTTClientConfiguration,
        sslContext: NIOSSLContext?,
        eventLoop: any EventLoop,
        makeHandler: @escaping @Sendable () -> MQTTChannelHandler
    ) -> EventLoopFuture<any Channel> {
        let sniHostname = configuration.tlsServerHostname ?? (Self.isIPAddress(configuration.host) ? nil : configuration.host)
        let maximumPacketSize = configuration.connect.maximumPacketSize.map(Int.init) ?? MQTTPacketDecoder.protocolMaximumPacketSize
        let host = configuration.host
        let port = configuration.port
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(Self.timeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: sniHostname))
                    }
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: maximumPacketSize)))
                    try sync.addHandler(MessageToByteHandler(MQTTPacketEncoder()))
                    try sync.addHandler(makeHandler())
                }
            }
            .connect(host: host, port: port)
            .flatMapErrorThrowing { error in
                if let channelError = error as? ChannelError, case .connectTimeout = channelError {
                    throw MQTTClientError(kind: .connectTimeout, message: "TCP connect to \(host):\(port) timed out")
                }
                throw MQTTClientError(kind: .connectionFailed, message: "cannot connect to \(host):\(port): \(error)")
            }
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

extension MQTTClientError {
    /// Any error surfacing from a future or task, as an ``MQTTClientError``.
    static func from(_ error: any Error) -> MQTTClientError {
        switch error {
        case let error as MQTTClientError: return error
        case is CancellationError: return MQTTClientError(kind: .cancelled, message: "cancelled")
        case let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed || error == .eof:
            return .closed()
        default: return MQTTClientError(kind: .connectionClosed, message: "\(error)")
        }
    }
}
