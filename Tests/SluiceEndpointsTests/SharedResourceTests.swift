import NIOCore
import NIOPosix
import SluiceCore
import Synchronization
import Testing

@testable import SluiceEndpoints

@Suite struct SharedResourcePerLoopTests {
    final class Opened: Sendable {
        let loop: ObjectIdentifier
        init(_ loop: any EventLoop) { self.loop = ObjectIdentifier(loop) }
    }

    /// Runs `body` on `eventLoop` (a caller answering a request on its connection's loop).
    static func on<T: Sendable>(_ eventLoop: any EventLoop, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task(executorPreference: EventLoopTaskExecutor(eventLoop)) { try await body() }.value
    }

    @Test func eachLoopHasItsOwnResourceOpenedOnThatLoop() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let loops = Array(group.makeIterator())
        try #require(loops.count >= 2)
        let opens = Mutex(0)
        let resources = SharedResourcePerLoop<Opened> { _ in true }
        let open: @Sendable (any EventLoop) async throws -> Opened = { eventLoop in
            opens.withLock { $0 += 1 }
            return Opened(eventLoop)
        }
        let first = try await Self.on(loops[0]) { try await resources.get(open: open) }
        let again = try await Self.on(loops[0]) { try await resources.get(open: open) }
        let second = try await Self.on(loops[1]) { try await resources.get(open: open) }
        #expect(first === again)
        #expect(first.loop == ObjectIdentifier(loops[0]))
        #expect(second.loop == ObjectIdentifier(loops[1]))
        #expect(opens.withLock { $0 } == 2)
        // Off any loop, a caller gets one of the loops' resources, never more than one per loop.
        for _ in 0..<4 { _ = try await resources.get(open: open) }
        #expect(opens.withLock { $0 } <= loops.count)
        #expect(await resources.close().count == opens.withLock { $0 })
        await #expect(throws: GatewayError.self) { try await resources.get(open: open) }
    }
}
