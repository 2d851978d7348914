import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import Testing

@testable import MQTT5

/// A subscription's messages handed over as they arrive (``MQTTClientSubscription/handOver(to:)``)
/// instead of pulled: order, the queue before the reader came, room for the producer, and every
/// way the hand-over ends.
@Suite struct SubscriptionHandOverTests {
    private static func message(_ number: Int) -> MQTTMessage {
        MQTTMessage(MQTTPublishPacket(topicName: "t", payload: ByteBuffer(string: "\(number)"), qos: .atMostOnce))
    }

    private static func number(_ message: MQTTMessage) -> Int { Int(String(buffer: message.payload))! }

    /// What a reader received, and a way to wait until it has `count` of them.
    private final class Received: Sendable {
        private let state = Mutex<(numbers: [Int], waiters: [(Int, CheckedContinuation<Void, Never>)])>(([], []))
        let stopAfter: Int?

        init(stopAfter: Int? = nil) { self.stopAfter = stopAfter }

        var numbers: [Int] { state.withLock { $0.numbers } }

        func receive(_ message: MQTTMessage) -> Bool {
            let (ready, more) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
                state.numbers.append(SubscriptionHandOverTests.number(message))
                let count = state.numbers.count
                let ready = state.waiters.filter { $0.0 <= count }.map(\.1)
                state.waiters.removeAll { $0.0 <= count }
                return (ready, stopAfter.map { count < $0 } ?? true)
            }
            for continuation in ready { continuation.resume() }
            return more
        }

        func wait(for count: Int) async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.numbers.count >= count { return true }
                    state.waiters.append((count, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// A buffer whose room notifications are counted.
    private static func buffer(capacity: Int) -> (MQTTSubscriptionBuffer, NIOLockedValueBox<Int>) {
        let rooms = NIOLockedValueBox(0)
        let buffer = MQTTSubscriptionBuffer(capacity: capacity) { rooms.withLockedValue { $0 += 1 } }
        return (buffer, rooms)
    }

    @Test func queuedMessagesGoFirstThenEachAsItArrives() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        for number in 1...3 { #expect(buffer.offer(Self.message(number))) }
        let received = Received()
        let reader = Task { try await buffer.handOver(to: received.receive) }
        await received.wait(for: 3)
        for number in 4...50 { #expect(buffer.offer(Self.message(number))) }
        await received.wait(for: 50)
        #expect(received.numbers == Array(1...50))
        buffer.finish(.success(()))
        try await reader.value
    }

    @Test func aReaderThatHandsOverLeavesRoomForEveryMessage() async throws {
        let (buffer, rooms) = Self.buffer(capacity: 2)
        #expect(buffer.offer(Self.message(1)))
        #expect(buffer.offer(Self.message(2)))
        // Full: the producer is refused and waits to hear of room.
        #expect(!buffer.hasRoom())
        let received = Received()
        let reader = Task { try await buffer.handOver(to: received.receive) }
        await received.wait(for: 2)
        // Told once the queue was handed over; from then on there is always room.
        #expect(rooms.withLockedValue { $0 } == 1)
        for number in 3...10 {
            #expect(buffer.hasRoom())
            #expect(buffer.offer(Self.message(number)))
        }
        #expect(received.numbers == Array(1...10))
        buffer.finish(.success(()))
        try await reader.value
    }

    @Test func theReaderEndsItByReturningFalse() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        let received = Received(stopAfter: 2)
        let reader = Task { try await buffer.handOver(to: received.receive) }
        // The first offers may come before the reader: they are queued, then handed over.
        for number in 1...2 { #expect(buffer.offer(Self.message(number))) }
        try await reader.value
        #expect(received.numbers == [1, 2])
        // Nothing more is handed over: later messages wait in the queue for nobody.
        #expect(buffer.offer(Self.message(3)))
        #expect(received.numbers == [1, 2])
    }

    @Test func theEndOfTheSubscriptionReturnsAfterWhatWasQueued() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        for number in 1...3 { #expect(buffer.offer(Self.message(number))) }
        buffer.finish(.success(()))
        let received = Received()
        try await buffer.handOver(to: received.receive)
        #expect(received.numbers == [1, 2, 3])
    }

    @Test func aLostConnectionThrows() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        let received = Received()
        let reader = Task { try await buffer.handOver(to: received.receive) }
        #expect(buffer.offer(Self.message(1)))
        await received.wait(for: 1)
        buffer.finish(.failure(MQTTClientError(kind: .connectionClosed, message: "gone")))
        let error = await #expect(throws: MQTTClientError.self) { try await reader.value }
        #expect(error?.kind == .connectionClosed)
        #expect(received.numbers == [1])
    }

    @Test func cancellingTheReaderEndsIt() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        let received = Received()
        let reader = Task { try await buffer.handOver(to: received.receive) }
        #expect(buffer.offer(Self.message(1)))
        await received.wait(for: 1)
        reader.cancel()
        let error = await #expect(throws: MQTTClientError.self) { try await reader.value }
        #expect(error?.kind == .cancelled)
    }

    @Test func aSecondReaderIsRefused() async throws {
        let (buffer, _) = Self.buffer(capacity: 10)
        let received = Received()
        let first = Task { try await buffer.handOver(to: received.receive) }
        #expect(buffer.offer(Self.message(1)))
        await received.wait(for: 1)
        let error = await #expect(throws: MQTTClientError.self) { try await buffer.handOver(to: received.receive) }
        #expect(error?.kind == .invalidRequest)
        buffer.finish(.success(()))
        try await first.value
        #expect(received.numbers == [1])
    }

    /// Messages offered while the queue is being handed over wait behind it: 4,000 offered
    /// during the hand-over of 2,000 queued arrive after them, in order.
    @Test func orderHoldsWhileTheQueueIsHandedOver() async throws {
        let (buffer, _) = Self.buffer(capacity: 10_000)
        for number in 1...2_000 { #expect(buffer.offer(Self.message(number))) }
        let received = Received()
        let reader = Task { try await buffer.handOver(to: received.receive) }
        let producer = Task {
            var number = 2_001
            while number <= 6_000 {
                if buffer.offer(Self.message(number)) { number += 1 } else { await Task.yield() }
            }
        }
        await producer.value
        await received.wait(for: 6_000)
        let numbers = received.numbers
        #expect(numbers.count == 6_000)
        // The first message out of order, if any (the whole list would flood the report).
        let misplaced = numbers.indices.first { numbers[$0] != $0 + 1 }
        #expect(misplaced == nil)
        buffer.finish(.success(()))
        try await reader.value
    }
}
