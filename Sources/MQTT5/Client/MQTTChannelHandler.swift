import NIOCore
import NIOSSL

/// Connects one channel to an ``MQTTConnectionCore``: forwards its events (active, packets,
/// errors, inactive), writes the core's packets and holds back socket reads while the core's
/// subscription buffers are full. One handler per channel; the core outlives it.
/// Event-loop bound: every method runs on the channel's event loop.
final class MQTTChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    let core: MQTTConnectionCore
    private let connectDeadline: NIODeadline
    private var context: ChannelHandlerContext?
    private var attached = false
    private var detached = false
    /// The channel became active and CONNECT was requested.
    private(set) var isStarted = false
    private var pendingRead = false
    /// A flush is queued on the event loop: the packets written until it runs go out together.
    private var flushQueued = false

    init(core: MQTTConnectionCore, connectDeadline: NIODeadline) {
        self.core = core
        self.connectDeadline = connectDeadline
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.attached = self.core.attach(self)
        if context.channel.isActive { self.start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard self.attached else {
            // The core is over (or busy with another channel): this connection is not wanted.
            context.close(promise: nil)
            return
        }
        guard !self.isStarted else { return }
        self.isStarted = true
        self.core.transportActive(self, connectDeadline: self.connectDeadline)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.core.packetReceived(self.unwrapInboundIn(data), from: self)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let mapped: MQTTClientError
        switch error {
        case let error as MQTTClientError:
            mapped = error
        case let error as MQTTCodecError:
            mapped = MQTTClientError(kind: .protocolError, reasonCode: error.reasonCode, message: error.description)
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            mapped = MQTTClientError(kind: .tlsFailure, message: "TLS failure: \(error)")
        default:
            mapped = MQTTClientError(kind: .connectionClosed, message: "connection error: \(error)")
        }
        self.core.errorCaught(mapped, from: self)
        // Make sure the channel goes away even if the state machine had already closed.
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.detach()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.detach()
        self.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if self.core.holdsReads(for: self) {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    // MARK: Called by the core

    /// Writes a packet; it is flushed once the event loop has run what is queued now, so that the
    /// packets of many concurrent requests (publishes from many HTTP clients) share one system call.
    func write(_ packet: MQTTPacket) {
        guard let context = self.context else { return }
        context.write(self.wrapOutboundOut(packet), promise: nil)
        guard !self.flushQueued else { return }
        self.flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            self.context?.flush()
        }
    }

    func close() {
        self.context?.flush()  // DISCONNECT, written just before, leaves first
        self.context?.close(promise: nil)
    }

    /// The core has room again: perform a read held back earlier.
    func resumeReading() {
        guard self.pendingRead, let context = self.context else { return }
        self.pendingRead = false
        context.read()
    }

    private func detach() {
        guard self.attached, !self.detached else { return }
        self.detached = true
        self.core.detach(self)
    }
}

extension MQTTTopic {
    /// Whether the Topic Name `topic` matches the Topic Filter `filter` (§4.7), including
    /// shared subscriptions (`$share/name/filter`) and the `$`-topic rule for wildcards.
    public static func filter(_ filter: String, matches topic: String) -> Bool {
        var filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        if isSharedSubscription(filter) {
            guard filterLevels.count >= 3 else { return false }
            filterLevels.removeFirst(2)
        }
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = filterLevels.first, first == "+" || first == "#" {
            return false
        }
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
            index += 1
        }
        return index == topicLevels.count
    }
}
