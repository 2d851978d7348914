import NIOCore
import NIOPosix
import SluiceCore
import Synchronization

/// A broker resource (a connection, a publishing channel) opened once and shared by concurrent
/// callers: the first caller opens it, the others wait for the same attempt. A failed attempt or a
/// resource that is no longer usable is opened again by the next caller; once closed, callers get
/// `stopping`.
final class SharedResource<Value: Sendable>: Sendable {
    private enum Stage {
        case idle
        case opening(Task<Value, any Error>)
        case open(Value)
        case closed
    }

    private enum Next {
        case use(Value)
        case await(Task<Value, any Error>)
    }

    private let stage = Mutex<Stage>(.idle)
    private let isUsable: @Sendable (Value) -> Bool

    init(isUsable: @escaping @Sendable (Value) -> Bool) {
        self.isUsable = isUsable
    }

    /// The shared resource, opened with `open` when there is none (or it is no longer usable).
    func get(open: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let next: Next = try stage.withLock { stage in
            switch stage {
            case .closed:
                throw GatewayError(.stopping, "The endpoint is closed")
            case .open(let value) where isUsable(value):
                return .use(value)
            case .opening(let task):
                return .await(task)
            case .idle, .open:
                let task = Task { try await open() }
                stage = .opening(task)
                return .await(task)
            }
        }
        switch next {
        case .use(let value):
            return value
        case .await(let task):
            do {
                let value = try await task.value
                stage.withLock { stage in
                    if case .opening = stage { stage = .open(value) }
                }
                return value
            } catch {
                stage.withLock { stage in
                    if case .opening = stage { stage = .idle }
                }
                throw error
            }
        }
    }

    /// Forgets the open resource: the next caller opens a new one.
    func reset() {
        stage.withLock { stage in
            if case .open = stage { stage = .idle }
        }
    }

    /// Ends sharing and returns the resource to close, if there is (or is about to be) one.
    func close() async -> Value? {
        let previous = stage.withLock { stage -> Stage in
            defer { stage = .closed }
            return stage
        }
        switch previous {
        case .open(let value): return value
        case .opening(let task): return try? await task.value
        case .idle, .closed: return nil
        }
    }
}

/// A ``SharedResource`` per event loop: a caller on an event loop (a POST answered on its
/// connection's loop) uses, and opens, the resource bound to that loop, so its broker round trip
/// never crosses threads; a caller on no loop takes the group's next one. At most one resource per
/// loop of the group.
final class SharedResourcePerLoop<Value: Sendable>: Sendable {
    private struct Resources {
        var byLoop: [ObjectIdentifier: SharedResource<Value>] = [:]
        var closed = false
    }

    private let resources = Mutex(Resources())
    private let isUsable: @Sendable (Value) -> Bool

    init(isUsable: @escaping @Sendable (Value) -> Bool) {
        self.isUsable = isUsable
    }

    /// The resource of the caller's event loop, opened on that loop with `open` when there is none.
    func get(open: @escaping @Sendable (any EventLoop) async throws -> Value) async throws -> Value {
        let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        let isUsable = self.isUsable
        let resource = try resources.withLock { resources in
            if resources.closed { throw GatewayError(.stopping, "The endpoint is closed") }
            if let resource = resources.byLoop[ObjectIdentifier(eventLoop)] { return resource }
            let resource = SharedResource(isUsable: isUsable)
            resources.byLoop[ObjectIdentifier(eventLoop)] = resource
            return resource
        }
        return try await resource.get { try await open(eventLoop) }
    }

    /// Ends sharing and returns the resources to close.
    func close() async -> [Value] {
        let all = resources.withLock { resources in
            resources.closed = true
            return Array(resources.byLoop.values)
        }
        var values: [Value] = []
        for resource in all {
            if let value = await resource.close() { values.append(value) }
        }
        return values
    }
}
