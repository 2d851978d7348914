import Testing
@testable import SluiceCore

@Suite("StopSignal")
struct StopSignalTests {
    @Test func reasonIsNilUntilFired() {
        let signal = StopSignal()
        #expect(signal.reason == nil)
        signal.fire(.shutdown)
        #expect(signal.reason == .shutdown)
    }

    @Test func waitReturnsTheReasonAfterFire() async {
        let signal = StopSignal()
        let waiter = Task { await signal.wait() }
        // Give the waiter time to suspend, so that fire resumes a registered waiter.
        try? await Task.sleep(for: .milliseconds(50))
        signal.fire(.undeployed)
        #expect(await waiter.value == .undeployed)
    }

    @Test func fireBeforeWait() async {
        let signal = StopSignal()
        signal.fire(.shutdown)
        #expect(await signal.wait() == .shutdown)
        #expect(await signal.wait() == .shutdown)
    }

    @Test func onlyTheFirstFireCounts() async {
        let signal = StopSignal()
        signal.fire(.undeployed)
        signal.fire(.shutdown)
        #expect(signal.reason == .undeployed)
        #expect(await signal.wait() == .undeployed)
    }

    @Test func everyWaiterIsWoken() async {
        let signal = StopSignal()
        let waiters = (0..<20).map { _ in Task { await signal.wait() } }
        try? await Task.sleep(for: .milliseconds(50))
        signal.fire(.shutdown)
        for waiter in waiters {
            #expect(await waiter.value == .shutdown)
        }
    }

    @Test func cancellingAWaiterReturnsNil() async {
        let signal = StopSignal()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await waiter.value == nil)
        // The signal still works for others, and firing after the cancellation is harmless.
        signal.fire(.shutdown)
        #expect(await signal.wait() == .shutdown)
    }

    @Test func waitingInACancelledTaskReturnsNil() async {
        let signal = StopSignal()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await signal.wait()
        }
        #expect(await waiter.value == nil)
    }

    @Test func cancellingOneWaiterLeavesTheOthers() async {
        let signal = StopSignal()
        let cancelled = Task { await signal.wait() }
        let kept = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        signal.fire(.undeployed)
        #expect(await kept.value == .undeployed)
    }

    @Test func eventsYieldOnce() async {
        let signal = StopSignal()
        signal.fire(.shutdown)
        var received: [StopSignal.Reason] = []
        for await reason in signal.events {
            received.append(reason)
        }
        #expect(received == [.shutdown])
    }

    @Test func eventsWaitForTheSignal() async {
        let signal = StopSignal()
        let collector = Task {
            var received: [StopSignal.Reason] = []
            for await reason in signal.events { received.append(reason) }
            return received
        }
        try? await Task.sleep(for: .milliseconds(50))
        signal.fire(.undeployed)
        #expect(await collector.value == [.undeployed])
    }

    @Test func eventsEndWhenCancelled() async {
        let signal = StopSignal()
        let collector = Task {
            var received: [StopSignal.Reason] = []
            for await reason in signal.events { received.append(reason) }
            return received
        }
        try? await Task.sleep(for: .milliseconds(50))
        collector.cancel()
        #expect(await collector.value == [])
    }

    @Test func eventsIteratorEndsAfterOneElement() async {
        let signal = StopSignal()
        signal.fire(.shutdown)
        var iterator = signal.events.makeAsyncIterator()
        #expect(await iterator.next() == .shutdown)
        #expect(await iterator.next() == nil)
        #expect(await iterator.next() == nil)
    }
}
