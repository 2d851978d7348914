import Foundation
import Logging
import NIOCore
import SluiceCore
import Synchronization

/// How live fan-out treats its subscribers (settings `fanOut.*`).
public struct FanOutSettings: Sendable, Hashable {
    /// Messages that may wait for one subscriber. When its buffer is full, newer messages for it
    /// are dropped (QoS none promises nothing more).
    public var subscriberBufferSize = 1000
    /// A subscriber whose buffer stays full this long is disconnected, with the reason.
    public var slowSubscriberTimeout: Duration = .seconds(10)

    public init(subscriberBufferSize: Int = 1000, slowSubscriberTimeout: Duration = .seconds(10)) {
        self.subscriberBufferSize = subscriberBufferSize
        self.slowSubscriberTimeout = slowSubscriberTimeout
    }
}

/// Serves the subscribers of an endpoint that need no state of their own (QoS none, live; see
/// ``EndpointConnector/sharesSubscription(for:)``) from **one** broker subscription: each message
/// is taken from the broker once and handed to every client identifier's subscribers (round robin
/// among subscribers that share an identifier, so that they split the messages as they would with
/// subscriptions of their own). The message carries ``WireEncodings`` so that entrypoints encode it
/// once for all. Every subscriber has a bounded buffer (``FanOutSettings``). Everything else goes
/// to the wrapped connector unchanged.
final class FanOutConnector: EndpointConnector {
    let base: any EndpointConnector
    let settings: FanOutSettings
    let logger: Logger
    private let loops: FanOutLoops
    private let state = Mutex(State())

    private struct State {
        var hub: FanOutHub?
        var closed = false
    }

    init(base: any EndpointConnector, settings: FanOutSettings, logger: Logger) {
        self.base = base
        self.settings = settings
        self.logger = logger
        loops = FanOutLoops(capacity: settings.subscriberBufferSize, logger: logger)
    }

    func start() async throws { try await base.start() }

    func publish(_ message: Message) async throws { try await base.publish(message) }

    func cursorProblem(_ cursor: String) -> String? { base.cursorProblem(cursor) }

    func sharesSubscription(for request: SubscribeRequest) -> Bool { base.sharesSubscription(for: request) }

    /// The shared subscription's hub while one runs (for tests).
    var hubSubscriberCount: Int? { state.withLock { $0.hub?.subscriberCount } }

    /// The fan-out queue of an event loop (for tests).
    func loopQueue(for eventLoop: any EventLoop) -> FanOutLoopQueue { loops.queue(for: eventLoop) }

    func subscribe(_ request: SubscribeRequest) async throws -> MessageSubscription {
        guard base.sharesSubscription(for: request) else { return try await base.subscribe(request) }
        let subscriber = FanOutSubscriber(
            clientIdentifier: request.clientIdentifier, capacity: settings.subscriberBufferSize,
            slowTimeout: settings.slowSubscriberTimeout, closeConnection: request.closeConnection, loops: loops,
            logger: logger)
        let (hub, created) = try state.withLock { state throws(GatewayError) -> (FanOutHub, Bool) in
            if state.closed { throw GatewayError(.stopping, "The endpoint is closed") }
            if let hub = state.hub, hub.add(subscriber) { return (hub, false) }
            let hub = FanOutHub()
            _ = hub.add(subscriber)
            state.hub = hub
            return (hub, true)
        }
        if created { startPump(hub) }
        // From here the lease takes the subscriber out of the hub when it goes.
        let lease = FanOutLease(connector: self, hub: hub, subscriber: subscriber)
        try await hub.ready()
        return MessageSubscription(FanOutMessages(subscriber: subscriber, lease: lease))
    }

    func close() async {
        let hub = state.withLock { state -> FanOutHub? in
            state.closed = true
            defer { state.hub = nil }
            return state.hub
        }
        hub?.stopPump()
        await base.close()
    }

    /// Takes a subscriber that went away out of its hub; the last one ends the broker
    /// subscription.
    fileprivate func leave(_ hub: FanOutHub, _ subscriber: FanOutSubscriber) {
        let emptied = state.withLock { state -> Bool in
            guard hub.remove(subscriber) == 0, state.hub === hub else { return false }
            state.hub = nil
            return true
        }
        logger.debug("Fan-out subscriber left", metadata: ["emptied": "\(emptied)"])
        if emptied { hub.stopPump() }
    }

    /// Reads the shared broker subscription and hands each message to the subscribers.
    private func startPump(_ hub: FanOutHub) {
        let base = self.base
        let logger = self.logger
        // A client identifier of its own: the broker sees one subscriber (one MQTT shared
        // subscription, one Kafka group, one RabbitMQ queue) for all of the hub's.
        let request = SubscribeRequest(
            clientIdentifier: "sluice-fanout-\(UUID().uuidString.prefix(8).lowercased())", qos: .none, entrypoint: "fan-out")
        // The pump serves subscribers on every event loop: on the global executor, whatever the
        // preference of the request that happened to start it.
        let task = Task(executorPreference: globalConcurrentExecutor) {
            var outcome: (any Error)?
            do {
                let upstream = try await base.subscribe(request)
                hub.running()
                if let source = upstream.handingOver {
                    // Straight from the thread that reads the broker to the event loops.
                    try await source.handOver { hub.offer($0) }
                } else {
                    for try await message in upstream {
                        guard hub.offer(message) else { break }
                    }
                }
            } catch is CancellationError {
            } catch {
                outcome = error
            }
            if !Task.isCancelled, let outcome {
                logger.warning("Shared subscription failed", metadata: ["error": "\(GatewayError.from(outcome))"])
            }
            logger.debug("Shared subscription ended", metadata: ["cancelled": "\(Task.isCancelled)"])
            hub.end(outcome)
            self.state.withLock { state in
                if state.hub === hub { state.hub = nil }
            }
        }
        hub.attach(task)
    }
}

/// One shared broker subscription and its subscribers, grouped by client identifier.
///
/// A subscriber alone with its client identifier gets every message. When it also writes to its
/// connection itself, it gets them from its event loop: the hub hands each message to each loop
/// once (``FanOutLoopQueue/deliver(_:to:)``), with the list of the loop's such subscribers, and
/// the loop writes to them. No work per subscriber is left on the thread that reads the broker,
/// and a subscriber's state is touched by its own loop only. Subscribers that share an
/// identifier get the messages in turn (through their loops too when they write themselves);
/// those whose reader pulls are offered each message one by one.
final class FanOutHub: Sendable {
    private let state = Mutex(State())

    private struct State {
        var phase = Phase.starting([])
        var groups: [String: Group] = [:]
        var subscriberCount = 0
        var pump: Task<Void, Never>?
        /// The loop of each subscriber that writes to its connection itself.
        var loopOf: [ObjectIdentifier: FanOutLoopQueue] = [:]
        /// By loop: its subscribers that get every message through it.
        var loopMembers: [ObjectIdentifier: LoopMembers] = [:]
        /// Subscribers alone with their identifier whose reader pulls: offered every message.
        var pulling: [ObjectIdentifier: FanOutSubscriber] = [:]
        /// The identifiers with more than one subscriber: each message is offered to one of them.
        var sharedIdentifiers: Set<String> = []

        /// Where a subscriber alone with its identifier is served from: its loop or one by one.
        mutating func place(_ subscriber: FanOutSubscriber) {
            let key = ObjectIdentifier(subscriber)
            if let queue = loopOf[key] {
                loopMembers[ObjectIdentifier(queue), default: LoopMembers(queue: queue)].insert(subscriber)
            } else {
                pulling[key] = subscriber
            }
        }

        mutating func unplace(_ subscriber: FanOutSubscriber) {
            let key = ObjectIdentifier(subscriber)
            if let queue = loopOf[key] {
                let loop = ObjectIdentifier(queue)
                loopMembers[loop]?.remove(subscriber)
                if loopMembers[loop]?.members.isEmpty == true { loopMembers[loop] = nil }
            }
            pulling[key] = nil
        }

        func isAlone(_ subscriber: FanOutSubscriber) -> Bool {
            groups[subscriber.clientIdentifier]?.members.count == 1 && groups[subscriber.clientIdentifier]?.members[0] === subscriber
        }
    }

    /// A loop's subscribers that get every message through it; removal swaps the last one in.
    private struct LoopMembers {
        let queue: FanOutLoopQueue
        var members: [FanOutSubscriber] = []
        var index: [ObjectIdentifier: Int] = [:]

        mutating func insert(_ subscriber: FanOutSubscriber) {
            let key = ObjectIdentifier(subscriber)
            guard index[key] == nil else { return }
            index[key] = members.count
            members.append(subscriber)
        }

        mutating func remove(_ subscriber: FanOutSubscriber) {
            guard let position = index.removeValue(forKey: ObjectIdentifier(subscriber)) else { return }
            let last = members.removeLast()
            if position < members.count {
                members[position] = last
                index[ObjectIdentifier(last)] = position
            }
        }
    }

    private enum Phase {
        case starting([CheckedContinuation<Void, any Error>])
        case running
        /// The broker subscription ended (nil: normally, or because nobody was left).
        case ended((any Error)?)
    }

    /// The subscribers that share a client identifier; each message goes to the next of them that
    /// has room.
    private struct Group {
        var members: [FanOutSubscriber]
        var next = 0
    }

    var subscriberCount: Int { state.withLock { $0.subscriberCount } }

    /// Adds a subscriber; false when the hub has ended (a new one is needed).
    func add(_ subscriber: FanOutSubscriber) -> Bool {
        state.withLock { state in
            if case .ended = state.phase { return false }
            let key = subscriber.clientIdentifier
            let others = state.groups[key]?.members ?? []
            state.groups[key, default: Group(members: [])].members.append(subscriber)
            state.subscriberCount += 1
            if others.isEmpty {
                state.place(subscriber)
            } else {
                // No longer alone: from the next message on, its subscribers split the messages.
                if others.count == 1 { state.unplace(others[0]) }
                state.sharedIdentifiers.insert(key)
            }
            return true
        }
    }

    /// Removes a subscriber; returns how many are left.
    func remove(_ subscriber: FanOutSubscriber) -> Int {
        state.withLock { state in
            let key = subscriber.clientIdentifier
            guard var group = state.groups[key], let index = group.members.firstIndex(where: { $0 === subscriber }) else {
                return state.subscriberCount
            }
            if group.members.count == 1 { state.unplace(subscriber) }
            state.loopOf[ObjectIdentifier(subscriber)] = nil
            group.members.remove(at: index)
            state.groups[key] = group.members.isEmpty ? nil : group
            state.subscriberCount -= 1
            if group.members.count == 1 {
                state.sharedIdentifiers.remove(key)
                state.place(group.members[0])
            } else if group.members.isEmpty {
                state.sharedIdentifiers.remove(key)
            }
            return state.subscriberCount
        }
    }

    /// The subscriber writes to its connection itself on `queue`'s loop from now on (nil: no
    /// longer).
    func setLoop(of subscriber: FanOutSubscriber, to queue: FanOutLoopQueue?) {
        state.withLock { state in
            guard state.groups[subscriber.clientIdentifier]?.members.contains(where: { $0 === subscriber }) == true else { return }
            let alone = state.isAlone(subscriber)
            if alone { state.unplace(subscriber) }
            state.loopOf[ObjectIdentifier(subscriber)] = queue
            if alone { state.place(subscriber) }
        }
    }

    /// Hands a message, with ``WireEncodings`` for its subscribers to share, to each loop for its
    /// subscribers that get every message, and to one subscriber of each shared identifier and
    /// each subscriber whose reader pulls; false when nobody is left.
    ///
    /// Whatever a subscriber that writes itself gets goes through its loop's queue, in the order
    /// of the messages, also when it shares its identifier: a subscriber that joins or leaves
    /// the loop's list never sees a message overtake an older one still waiting for the loop.
    func offer(_ message: Message) -> Bool {
        var shared = message
        shared.encodings = WireEncodings()
        var loops: [(FanOutLoopQueue, [FanOutSubscriber])] = []
        var targets: [FanOutSubscriber] = []
        let anybody = state.withLock { state -> Bool in
            guard state.subscriberCount > 0 else { return false }
            for members in state.loopMembers.values { loops.append((members.queue, members.members)) }
            targets.append(contentsOf: state.pulling.values)
            for key in state.sharedIdentifiers {
                guard let members = state.groups[key]?.members, !members.isEmpty else { continue }
                let next = state.groups[key]!.next
                let chosen = (0..<members.count).lazy.map { (next &+ $0) % members.count }.first { !members[$0].isFull } ?? next % members.count
                let member = members[chosen]
                if let queue = state.loopOf[ObjectIdentifier(member)] { loops.append((queue, [member])) } else { targets.append(member) }
                state.groups[key]!.next = chosen &+ 1
            }
            return true
        }
        guard anybody else { return false }
        for (queue, members) in loops where !queue.deliver(shared, to: members) {
            for member in members { member.noteDropped() }
        }
        for subscriber in targets { subscriber.offer(shared) }
        return true
    }

    /// Waits until the broker subscription is made; throws its failure.
    func ready() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result = state.withLock { state -> Result<Void, any Error>? in
                switch state.phase {
                case .starting(var waiters):
                    waiters.append(continuation)
                    state.phase = .starting(waiters)
                    return nil
                case .running: return .success(())
                case .ended(let error?): return .failure(error)
                case .ended(nil): return .failure(GatewayError(.stopping, "The endpoint is closed"))
                }
            }
            if let result { continuation.resume(with: result) }
        }
    }

    func attach(_ task: Task<Void, Never>) {
        let cancelled = state.withLock { state -> Bool in
            state.pump = task
            if case .ended = state.phase { return true }
            return false
        }
        if cancelled { task.cancel() }
    }

    func running() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .starting(let waiters) = state.phase else { return [] }
            state.phase = .running
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Ends every subscriber's stream (after what it has buffered) and refuses new ones.
    func end(_ error: (any Error)?) {
        let (waiters, subscribers) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], [FanOutSubscriber]) in
            var waiters: [CheckedContinuation<Void, any Error>] = []
            if case .starting(let pending) = state.phase { waiters = pending }
            state.phase = .ended(error)
            return (waiters, state.groups.values.flatMap(\.members))
        }
        let failure = error ?? GatewayError(.stopping, "The endpoint is closed")
        for waiter in waiters { waiter.resume(throwing: failure) }
        for subscriber in subscribers { subscriber.finish(error) }
    }

    func stopPump() {
        state.withLock { $0.pump }?.cancel()
    }
}

/// Keeps a subscriber in its hub for as long as its subscription is referenced.
final class FanOutLease: Sendable {
    let connector: FanOutConnector
    let hub: FanOutHub
    let subscriber: FanOutSubscriber

    init(connector: FanOutConnector, hub: FanOutHub, subscriber: FanOutSubscriber) {
        self.connector = connector
        self.hub = hub
        self.subscriber = subscriber
    }

    deinit {
        connector.leave(hub, subscriber)
    }
}

/// A fan-out subscriber's messages, pulled from its buffer; a stream can wait for them together
/// with its other events.
struct FanOutMessages: AsyncSequence, WakeableMessageSource {
    typealias Element = Message
    let subscriber: FanOutSubscriber
    let lease: FanOutLease

    func next(wakingOn waker: StreamWaker) async throws -> StreamWait { try await subscriber.next(wakingOn: waker) }

    func nextReady() throws -> Message? { try subscriber.nextReady() }

    func deliver(to connection: any LiveConnection) {
        if let queue = subscriber.deliver(to: connection) { lease.hub.setLoop(of: subscriber, to: queue) }
    }

    func stopDelivering() async {
        lease.hub.setLoop(of: subscriber, to: nil)
        await subscriber.stopDelivering()
    }

    func stopDeliveringOnLoop() {
        lease.hub.setLoop(of: subscriber, to: nil)
        subscriber.stopDeliveringOnLoop()
    }

    func whenEnded(_ action: @escaping @Sendable ((any Error)?) -> Void) { subscriber.whenEnded(action) }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscriber: subscriber, lease: lease) }

    struct AsyncIterator: AsyncIteratorProtocol {
        let subscriber: FanOutSubscriber
        let lease: FanOutLease

        mutating func next() async throws -> Message? { try await subscriber.next() }
    }
}
