import NIOConcurrencyHelpers
import NIOCore

/// A message received on a subscription.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var properties: MQTTProperties
    /// Set for a QoS 1/2 message of a ``MQTTAcknowledgementMode/manual`` subscription.
    var acknowledger: MQTTAcknowledger?

    public init(_ publish: MQTTPublishPacket) {
        self.topic = publish.topicName
        self.payload = publish.payload
        self.qos = publish.qos
        self.retain = publish.retain
        self.properties = publish.properties
    }

    /// Whether the broker waits for ``acknowledge()`` before it counts the message as delivered.
    public var needsAcknowledgement: Bool { self.acknowledger != nil }

    /// Sends the PUBACK (QoS 1) or PUBREC (QoS 2) of a message of a manually acknowledged
    /// subscription; does nothing otherwise, and nothing the second time. Acknowledge messages in
    /// the order they arrived (MQTT 5 §4.6). A message whose session was lost meanwhile is not
    /// acknowledged: the broker forgot it.
    public func acknowledge() {
        self.acknowledger?.acknowledge()
    }
}

/// When a subscription's QoS 1/2 messages are acknowledged to the broker.
public enum MQTTAcknowledgementMode: Sendable, Hashable {
    /// When the message enters the subscription's buffer.
    case onReceipt
    /// When the reader calls ``MQTTMessage/acknowledge()``: a message the reader never
    /// acknowledges stays unacknowledged, and the broker redelivers it to the session.
    case manual
}

/// Acknowledges one received message once. Compared by identity.
final class MQTTAcknowledger: Sendable, Hashable {
    private let action: @Sendable () -> Void
    private let done = NIOLockedValueBox(false)

    init(_ action: @escaping @Sendable () -> Void) {
        self.action = action
    }

    func acknowledge() {
        let first = self.done.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { self.action() }
    }

    static func == (lhs: MQTTAcknowledger, rhs: MQTTAcknowledger) -> Bool { lhs === rhs }
    func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// The received messages of one subscription, pulled as an `AsyncSequence`.
///
/// Named `MQTTClientSubscription` because the codec already defines `MQTTSubscription`
/// (a topic filter with its options).
///
/// The buffer is bounded (``MQTTClientConfiguration/subscriptionBufferSize``). When a message
/// arrives for a full buffer, the connection parks it *without acknowledging it* and stops
/// reading from the socket until the consumer pulls. The broker can then have at most
/// Receive Maximum unacknowledged QoS 1/2 messages in flight to this client, so it stops
/// sending; QoS 0 traffic is held back by TCP flow control.
///
/// The sequence finishes (returns nil) after `unsubscribe` or a client `disconnect`, and throws
/// ``MQTTClientError`` when the connection is lost. A subscription of an ``MQTTSession`` lives
/// as long as the session: a reconnect is only a pause, and it throws when the session gives up
/// (or when the broker refuses to re-establish it after losing the session).
public struct MQTTClientSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    public typealias Failure = MQTTClientError

    public let topicFilter: String
    public let subscriptionIdentifier: UInt32
    /// The SUBACK reason code (granted QoS).
    public let grantedReasonCode: MQTTReasonCode
    let buffer: MQTTSubscriptionBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MQTTSubscriptionBuffer

        public mutating func next() async throws(MQTTClientError) -> MQTTMessage? {
            try await self.buffer.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(MQTTClientError) -> MQTTMessage? {
            try await self.buffer.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(buffer: self.buffer)
    }

    /// Hands each message to `receive` as it arrives, on the connection's event loop, instead of
    /// queueing it for the iterator: for a reader that does little per message and should not
    /// wait for a task to be scheduled for each. Messages already queued go first, in order (on
    /// the caller's thread).
    ///
    /// Returns when `receive` returns false or the sequence finishes; throws what the sequence
    /// would throw, and ``MQTTClientError/Kind/cancelled`` when the task is cancelled. `receive`
    /// must not block: the connection reads nothing else meanwhile. Use either this or the
    /// iterator, not both.
    public func handOver(to receive: @escaping @Sendable (MQTTMessage) -> Bool) async throws(MQTTClientError) {
        try await self.buffer.handOver(to: receive)
    }
}

/// Bounded single-consumer buffer between the event loop (producer) and a subscriber, who
/// either pulls (`next`) or has the messages handed over as they come (`handOver`).
final class MQTTSubscriptionBuffer: Sendable {
    private struct State {
        var messages: [MQTTMessage] = []
        var head = 0
        var waiter: (id: UInt64, continuation: CheckedContinuation<MQTTMessage?, any Error>)?
        var nextWaiterID: UInt64 = 0
        var finished: Result<Void, MQTTClientError>?
        /// The producer was refused for lack of room and wants to hear when room appears.
        var producerWaiting = false
        var handOver: HandOver?

        var count: Int { self.messages.count - self.head }

        /// Whether the producer hands a message straight to the reader.
        var handsOver: Bool { self.handOver.map { !$0.draining } ?? false }

        mutating func takeAll() -> [MQTTMessage] {
            defer {
                self.messages = []
                self.head = 0
            }
            return Array(self.messages[self.head...])
        }

        mutating func popFirst() -> MQTTMessage? {
            guard self.head < self.messages.count else { return nil }
            let message = self.messages[self.head]
            self.head += 1
            if self.head > 64 && self.head * 2 > self.messages.count {
                self.messages.removeFirst(self.head)
                self.head = 0
            }
            return message
        }
    }

    /// A reader that has the messages handed over.
    private struct HandOver {
        let receive: @Sendable (MQTTMessage) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
        /// The messages queued before it came are being handed over; newer ones queue behind them.
        var draining = true
    }

    let capacity: Int
    private let state = NIOLockedValueBox(State())
    /// Called (without the lock held) when the consumer made room after a refused offer.
    private let onRoom: @Sendable () -> Void

    init(capacity: Int, onRoom: @escaping @Sendable () -> Void) {
        self.capacity = max(capacity, 1)
        self.onRoom = onRoom
    }

    /// Whether `offer` would succeed now. Only the consumer removes messages, so the answer can
    /// only turn from false to true concurrently.
    func hasRoom() -> Bool {
        self.state.withLockedValue { state in
            if state.finished != nil || state.waiter != nil || state.handsOver || state.count < self.capacity { return true }
            state.producerWaiting = true
            return false
        }
    }

    /// Producer side. Returns false (and remembers to call `onRoom`) when full.
    func offer(_ message: MQTTMessage) -> Bool {
        enum Outcome {
            case accepted
            case refused
            case resume(CheckedContinuation<MQTTMessage?, any Error>)
            case handOver(@Sendable (MQTTMessage) -> Bool)
        }
        let outcome: Outcome = self.state.withLockedValue { state in
            if state.finished != nil { return .accepted }  // dropped: nobody will read it
            if let waiter = state.waiter {
                state.waiter = nil
                return .resume(waiter.continuation)
            }
            if let handOver = state.handOver, !handOver.draining { return .handOver(handOver.receive) }
            if state.count < self.capacity {
                state.messages.append(message)
                return .accepted
            }
            state.producerWaiting = true
            return .refused
        }
        switch outcome {
        case .accepted:
            return true
        case .refused:
            return false
        case .resume(let continuation):
            continuation.resume(returning: message)
            return true
        case .handOver(let receive):
            if !receive(message) { self.endHandOver(.success(())) }
            return true
        }
    }

    func finish(_ result: Result<Void, MQTTClientError>) {
        let waiter: CheckedContinuation<MQTTMessage?, any Error>? = self.state.withLockedValue { state in
            guard state.finished == nil else { return nil }
            state.finished = result
            let waiter = state.waiter
            state.waiter = nil
            return waiter?.continuation
        }
        switch result {
        case .success: waiter?.resume(returning: nil)
        case .failure(let error): waiter?.resume(throwing: error)
        }
        // A hand-over still draining ends when it finds the queue empty.
        if self.state.withLockedValue({ $0.handsOver }) { self.endHandOver(result) }
    }

    /// See ``MQTTClientSubscription/handOver(to:)``.
    func handOver(to receive: @escaping @Sendable (MQTTMessage) -> Bool) async throws(MQTTClientError) {
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let start: Result<[MQTTMessage], MQTTClientError> = self.state.withLockedValue { state in
                        if Task.isCancelled {
                            return .failure(MQTTClientError(kind: .cancelled, message: "cancelled before messages were handed over"))
                        }
                        if state.handOver != nil || state.waiter != nil {
                            return .failure(MQTTClientError(kind: .invalidRequest, message: "the subscription already has a reader"))
                        }
                        state.handOver = HandOver(receive: receive, continuation: continuation)
                        return .success(state.takeAll())
                    }
                    switch start {
                    case .failure(let error): continuation.resume(throwing: error)
                    case .success(let queued): self.drain(queued, into: receive)
                    }
                }
            } onCancel: {
                self.endHandOver(.failure(MQTTClientError(kind: .cancelled, message: "cancelled while messages were handed over")))
            }
        } catch let error as MQTTClientError {
            throw error
        } catch {
            throw MQTTClientError(kind: .cancelled, message: "cancelled while messages were handed over")
        }
    }

    /// Hands over the messages queued before the reader came, then those queued meanwhile, until
    /// none is left; from then on the producer hands each over itself.
    private func drain(_ queued: [MQTTMessage], into receive: @Sendable (MQTTMessage) -> Bool) {
        var batch = queued
        while true {
            for message in batch where !receive(message) {
                self.endHandOver(.success(()))
                return
            }
            enum Next {
                case more([MQTTMessage])
                case live(notify: Bool)
                case finished(Result<Void, MQTTClientError>, notify: Bool)
            }
            let next: Next = self.state.withLockedValue { state in
                guard state.handOver != nil else { return .live(notify: false) }  // ended meanwhile
                if state.count > 0 { return .more(state.takeAll()) }
                state.handOver?.draining = false
                let notify = state.producerWaiting
                state.producerWaiting = false
                if let finished = state.finished { return .finished(finished, notify: notify) }
                return .live(notify: notify)
            }
            switch next {
            case .more(let messages):
                batch = messages
            case .live(let notify):
                if notify { self.onRoom() }
                return
            case .finished(let result, let notify):
                if notify { self.onRoom() }
                self.endHandOver(result)
                return
            }
        }
    }

    /// Ends the hand-over once: returns or throws to its reader.
    private func endHandOver(_ result: Result<Void, MQTTClientError>) {
        let continuation = self.state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
            defer { state.handOver = nil }
            return state.handOver?.continuation
        }
        switch result {
        case .success: continuation?.resume()
        case .failure(let error): continuation?.resume(throwing: error)
        }
    }

    func next() async throws(MQTTClientError) -> MQTTMessage? {
        enum Immediate {
            case message(MQTTMessage, notify: Bool)
            case finished(Result<Void, MQTTClientError>)
            case wait
        }
        let immediate: Immediate = self.state.withLockedValue { state in
            if let message = state.popFirst() {
                let notify = state.producerWaiting
                state.producerWaiting = false
                return .message(message, notify: notify)
            }
            if let finished = state.finished { return .finished(finished) }
            return .wait
        }
        switch immediate {
        case .message(let message, let notify):
            if notify { self.onRoom() }
            return message
        case .finished(.success):
            return nil
        case .finished(.failure(let error)):
            throw error
        case .wait:
            break
        }
        let waiterID = self.state.withLockedValue { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MQTTMessage?, any Error>) in
                    enum Outcome {
                        case waiting
                        case message(MQTTMessage, notify: Bool)
                        case finished(Result<Void, MQTTClientError>)
                        case cancelled
                    }
                    let outcome: Outcome = self.state.withLockedValue { state in
                        if Task.isCancelled { return .cancelled }
                        if let message = state.popFirst() {
                            let notify = state.producerWaiting
                            state.producerWaiting = false
                            return .message(message, notify: notify)
                        }
                        if let finished = state.finished { return .finished(finished) }
                        // Empty buffer: any earlier refused offer was followed by the pops that
                        // emptied it, and the first of those already notified the producer.
                        state.waiter = (waiterID, continuation)
                        return .waiting
                    }
                    switch outcome {
                    case .waiting:
                        break
                    case .message(let message, let notify):
                        if notify { self.onRoom() }
                        continuation.resume(returning: message)
                    case .finished(.success):
                        continuation.resume(returning: nil)
                    case .finished(.failure(let error)):
                        continuation.resume(throwing: error)
                    case .cancelled:
                        continuation.resume(throwing: CancellationError())
                    }
                }
            } onCancel: {
                let waiter = self.state.withLockedValue { state -> CheckedContinuation<MQTTMessage?, any Error>? in
                    guard let waiter = state.waiter, waiter.id == waiterID else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                waiter?.resume(throwing: CancellationError())
            }
        } catch let error as MQTTClientError {
            throw error
        } catch {
            throw MQTTClientError(kind: .cancelled, message: "cancelled while waiting for a message")
        }
    }
}
