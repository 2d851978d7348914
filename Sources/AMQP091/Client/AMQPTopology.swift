//===----------------------------------------------------------------------===//
// AMQP 0-9-1 client for Sluice: what an AMQPSession declared, as a value, and
// the order in which it is declared again on a new connection.
//===----------------------------------------------------------------------===//

import OrderedCollections

/// Everything an ``AMQPSession`` has to set up again after a reconnect:
/// its channels (with `basic.qos` and `confirm.select`), the exchanges,
/// queues and bindings it declared, and its consumers. A pure value without
/// I/O; the session records each operation once the broker accepted it and
/// asks for a ``replayPlan()`` after a reconnect.
///
/// Queue names: a queue the broker named (`queue.declare` with an empty
/// name) gets a new name on every connection. The name the user was first
/// given stays the name the session answers to; ``brokerName(ofQueue:)``
/// maps it to the queue's name on the current connection, and bindings,
/// consumers, deletes and default-exchange publishes go through it.
///
/// Channel numbers here are the session's own (``AMQPSessionChannel/id``),
/// not the wire channel ids, which can differ from one connection to the next.
///
/// Records are kept by key in the order first recorded, so that recording
/// one costs the same however many a session has (a gateway's session can
/// hold a queue, a binding and a consumer for each of thousands of clients).
struct AMQPTopology: Hashable, Sendable {
    struct Channel: Hashable, Sendable {
        var id: Int
        /// `basic.qos` prefetch per consumer (`global: false`), the last one set.
        var prefetch: UInt16?
        /// `basic.qos` prefetch per channel (`global: true`), the last one set.
        var globalPrefetch: UInt16?
        var confirmMode = false
    }

    struct Exchange: Hashable, Sendable {
        /// The session channel it was declared on.
        var channel: Int
        var declare: AMQPMethod.Exchange.Declare
        var name: String { self.declare.exchange.string ?? self.declare.exchange.description }
    }

    struct Queue: Hashable, Sendable {
        var channel: Int
        /// The name the user knows the queue by (for a server-named queue,
        /// the one the broker gave on the connection it was first declared on).
        var name: String
        var serverNamed: Bool
        /// The declare as first sent (empty queue name when server-named).
        var declare: AMQPMethod.Queue.Declare
    }

    struct Binding: Hashable, Sendable {
        var channel: Int
        /// The user's queue name.
        var queue: String
        var exchange: String
        var routingKey: String
        var arguments: AMQPFieldTable

        /// What makes a binding the same one, whatever channel bound it.
        var key: BindingKey { BindingKey(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments) }
    }

    struct BindingKey: Hashable, Sendable {
        var queue: String
        var exchange: String
        var routingKey: String
        var arguments: AMQPFieldTable
    }

    struct Consumer: Hashable, Sendable {
        var channel: Int
        var tag: String
        /// The user's queue name.
        var queue: String
        var noAck: Bool
        var exclusive: Bool
        var arguments: AMQPFieldTable
    }

    /// One operation of the replay, in the order of ``replayPlan()``.
    enum Step: Hashable, Sendable {
        case openChannel(Int)
        case qos(channel: Int, prefetch: UInt16, global: Bool)
        case confirmSelect(channel: Int)
        /// Runs on `channel` if it is still open, else on any channel.
        case declareExchange(channel: Int, AMQPMethod.Exchange.Declare)
        /// `name` is the user's name; the declare's queue is empty for a
        /// server-named queue. Report the resulting name with
        /// ``queueRedeclared(_:as:)``.
        case declareQueue(channel: Int, name: String, AMQPMethod.Queue.Declare)
        /// The queue is the user's name until ``resolved(_:)`` maps it.
        case bind(channel: Int, AMQPMethod.Queue.Bind)
        /// The queue is the user's name until ``resolved(_:)`` maps it.
        case consume(channel: Int, AMQPMethod.Basic.Consume)

        var channel: Int {
            switch self {
            case .openChannel(let id): return id
            case .qos(let id, _, _), .confirmSelect(let id), .declareExchange(let id, _),
                .declareQueue(let id, _, _), .bind(let id, _), .consume(let id, _):
                return id
            }
        }
    }

    private(set) var channels: [Int: Channel] = [:]
    /// By name.
    private var exchanges: OrderedDictionary<String, Exchange> = [:]
    /// By the user's name.
    private var queues: OrderedDictionary<String, Queue> = [:]
    private var bindings: OrderedDictionary<BindingKey, Binding> = [:]
    /// By channel and tag, in the order recorded (see ``ChannelRecords``).
    private var consumers = ChannelRecords<String, Consumer>()
    /// User name → name on the current connection, for renamed queues.
    private var brokerNames: [String: String] = [:]

    init() {}

    // MARK: Recording (after the broker accepted the operation)

    mutating func channelOpened(_ id: Int) {
        self.channels[id] = Channel(id: id)
    }

    /// The user closed the channel or the broker closed it with a
    /// channel-level error: it and its consumers are not recovered. What was
    /// declared on it stays (exchanges and queues belong to the broker).
    mutating func channelRemoved(_ id: Int) {
        self.channels[id] = nil
        self.consumers.removeChannel(id)
    }

    mutating func qosSet(channel: Int, prefetch: UInt16, global: Bool) {
        guard self.channels[channel] != nil else { return }
        if global {
            self.channels[channel]?.globalPrefetch = prefetch
        } else {
            self.channels[channel]?.prefetch = prefetch
        }
    }

    mutating func confirmSelected(channel: Int) {
        self.channels[channel]?.confirmMode = true
    }

    /// Passive declares are checks, not topology: they are not recorded.
    mutating func exchangeDeclared(_ declare: AMQPMethod.Exchange.Declare, channel: Int) {
        guard !declare.passive else { return }
        var declare = declare
        declare.noWait = false
        let record = Exchange(channel: channel, declare: declare)
        self.exchanges[record.name] = record  // a redeclare keeps its place
    }

    /// Forgets the exchange and the bindings to it.
    mutating func exchangeDeleted(_ name: String) {
        self.exchanges.removeValue(forKey: name)
        self.bindings.removeAll { $0.key.exchange == name }
    }

    /// `name` is the name the broker answered with (the user's name from
    /// now on); `declare` is the declare as sent (empty name = server-named).
    mutating func queueDeclared(_ declare: AMQPMethod.Queue.Declare, name: String, channel: Int) {
        guard !declare.passive else { return }
        var declare = declare
        declare.noWait = false
        let serverNamed = (declare.queue.string ?? declare.queue.description).isEmpty
        self.queues[name] = Queue(channel: channel, name: name, serverNamed: serverNamed, declare: declare)  // a redeclare keeps its place
        self.brokerNames[name] = nil
    }

    /// Forgets the queue, its bindings and its consumers (the broker
    /// cancels them).
    mutating func queueDeleted(_ name: String) {
        self.queues.removeValue(forKey: name)
        self.bindings.removeAll { $0.key.queue == name }
        self.consumers.removeAll { $0.queue == name }
        self.brokerNames[name] = nil
    }

    /// `queue` is the user's name. Binding twice records once.
    mutating func queueBound(queue: String, exchange: String, routingKey: String, arguments: AMQPFieldTable, channel: Int) {
        let record = Binding(channel: channel, queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        guard self.bindings[record.key] == nil else { return }
        self.bindings[record.key] = record
    }

    /// A consumer that takes a tag again goes to the end of the order.
    mutating func consumerAdded(_ consumer: Consumer) {
        self.consumers.record(consumer, channel: consumer.channel, key: consumer.tag)
    }

    mutating func consumerRemoved(channel: Int, tag: String) {
        self.consumers.remove(channel: channel, key: tag)
    }

    func hasConsumer(channel: Int, tag: String) -> Bool {
        self.consumers[channel: channel, key: tag] != nil
    }

    // MARK: Names

    /// The queue's name on the current connection (the name itself unless
    /// the broker renamed a server-named queue on a reconnect).
    func brokerName(ofQueue name: String) -> String {
        self.brokerNames[name] ?? name
    }

    /// The replayed declare of the user's queue `name` got `brokerName`.
    mutating func queueRedeclared(_ name: String, as brokerName: String) {
        self.brokerNames[name] = brokerName == name ? nil : brokerName
    }

    // MARK: Replay

    /// The operations that rebuild the session on a new connection, in
    /// order: every channel is opened (by id), then per channel `basic.qos`
    /// (per-consumer, then global) and `confirm.select`, then the exchange
    /// declares, the queue declares, the bindings, and the consumers, each
    /// in the order first recorded.
    func replayPlan() -> [Step] {
        var steps: [Step] = []
        let channels = self.channels.values.sorted { $0.id < $1.id }
        for channel in channels {
            steps.append(.openChannel(channel.id))
        }
        for channel in channels {
            if let prefetch = channel.prefetch {
                steps.append(.qos(channel: channel.id, prefetch: prefetch, global: false))
            }
            if let prefetch = channel.globalPrefetch {
                steps.append(.qos(channel: channel.id, prefetch: prefetch, global: true))
            }
            if channel.confirmMode {
                steps.append(.confirmSelect(channel: channel.id))
            }
        }
        for exchange in self.exchanges.values {
            steps.append(.declareExchange(channel: exchange.channel, exchange.declare))
        }
        for queue in self.queues.values {
            var declare = queue.declare
            if !queue.serverNamed {
                declare.queue = AMQPShortString(queue.name)
            }
            steps.append(.declareQueue(channel: queue.channel, name: queue.name, declare))
        }
        for binding in self.bindings.values {
            steps.append(.bind(channel: binding.channel, AMQPMethod.Queue.Bind(
                queue: AMQPShortString(binding.queue), exchange: AMQPShortString(binding.exchange),
                routingKey: AMQPShortString(binding.routingKey), arguments: binding.arguments
            )))
        }
        for consumer in self.consumers.inOrder where self.channels[consumer.channel] != nil {
            steps.append(.consume(channel: consumer.channel, AMQPMethod.Basic.Consume(
                queue: AMQPShortString(consumer.queue), consumerTag: AMQPShortString(consumer.tag),
                noAck: consumer.noAck, exclusive: consumer.exclusive, arguments: consumer.arguments
            )))
        }
        return steps
    }

    /// The step with the user's queue names replaced by the names on the
    /// current connection (after the queue declares ran).
    func resolved(_ step: Step) -> Step {
        switch step {
        case .bind(let channel, var bind):
            bind.queue = AMQPShortString(self.brokerName(ofQueue: bind.queue.string ?? bind.queue.description))
            return .bind(channel: channel, bind)
        case .consume(let channel, var consume):
            consume.queue = AMQPShortString(self.brokerName(ofQueue: consume.queue.string ?? consume.queue.description))
            return .consume(channel: channel, consume)
        default:
            return step
        }
    }

    /// The broker refused a replayed declaration, binding or consumer with
    /// a channel-level error (`step` as planned, with the user's names): it
    /// is dropped, so later reconnects do not try
    /// it again. (Declares are idempotent, so a refusal means the broker's
    /// state changed, e.g. a clashing re-declare by someone else.)
    mutating func replayStepRefused(_ step: Step) {
        switch step {
        case .declareExchange(_, let declare):
            self.exchanges.removeValue(forKey: declare.exchange.string ?? declare.exchange.description)
        case .declareQueue(_, let name, _):
            self.queues.removeValue(forKey: name)
        case .bind(_, let bind):
            self.bindings.removeValue(forKey: BindingKey(
                queue: bind.queue.string ?? bind.queue.description, exchange: bind.exchange.string ?? bind.exchange.description,
                routingKey: bind.routingKey.string ?? bind.routingKey.description, arguments: bind.arguments))
        case .consume(let channel, let consume):
            self.consumerRemoved(channel: channel, tag: consume.consumerTag.string ?? consume.consumerTag.description)
        case .openChannel, .qos, .confirmSelect:
            break
        }
    }
}
