import Foundation
import Logging
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
    private let loops = FanOutLoops()
    private let state = Mutex(State())

    private struct State {
        var hub: FanOutHub?
        var closed = false
    }

    init(base: any EndpointConnector, settings: FanOutSettings, logger: Logger) {
        self.base = base
        self.settings = settings
        self.logger = logger
    }

    func start() async throws { try await base.start() }

    func publish(_ message: Message) async throws { try await base.publish(message) }

    func cursorProblem(_ cursor: String) -> String? { base.cursorProblem(cursor) }

    func sharesSubscription(for request: SubscribeRequest) -> Bool { base.sharesSubscription(for: request) }

    /// The shared subscription's hub while one runs (for tests).
    var hubSubscriberCount: Int? { state.withLock { $0.hub?.subscriberCount } }

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
                var targets: [FanOutSubscriber] = []
                for try await message in upstream {
                    var shared = message
                    shared.encodings = WireEncodings()
                    guard hub.targets(into: &targets) else { break }
                    for subscriber in targets { subscriber.offer(shared) }
                    targets.removeAll(keepingCapacity: true)
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
final class FanOutHub: Sendable {
    private let state = Mutex(State())

    private struct State {
        var phase = Phase.starting([])
        var groups: [String: Group] = [:]
        var subscriberCount = 0
        var pump: Task<Void, Never>?
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
            state.groups[subscriber.clientIdentifier, default: Group(members: [])].members.append(subscriber)
            state.subscriberCount += 1
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
            group.members.remove(at: index)
            state.groups[key] = group.members.isEmpty ? nil : group
            state.subscriberCount -= 1
            return state.subscriberCount
        }
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

    /// The subscriber of each client identifier that gets the next message; false when nobody is
    /// left.
    func targets(into targets: inout [FanOutSubscriber]) -> Bool {
        state.withLock { state in
            guard state.subscriberCount > 0 else { return false }
            for index in state.groups.indices {
                let members = state.groups.values[index].members
                if members.count == 1 {
                    targets.append(members[0])
                } else {
                    let next = state.groups.values[index].next
                    let chosen = (0..<members.count).lazy.map { (next &+ $0) % members.count }.first { !members[$0].isFull } ?? next % members.count
                    targets.append(members[chosen])
                    state.groups.values[index].next = chosen &+ 1
                }
            }
            return true
        }
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

    func deliver(to connection: any LiveConnection) { subscriber.deliver(to: connection) }

    func stopDelivering() async { await subscriber.stopDelivering() }

    func stopDeliveringOnLoop() { subscriber.stopDeliveringOnLoop() }

    func whenEnded(_ action: @escaping @Sendable ((any Error)?) -> Void) { subscriber.whenEnded(action) }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscriber: subscriber, lease: lease) }

    struct AsyncIterator: AsyncIteratorProtocol {
        let subscriber: FanOutSubscriber
        let lease: FanOutLease

        mutating func next() async throws -> Message? { try await subscriber.next() }
    }
}
