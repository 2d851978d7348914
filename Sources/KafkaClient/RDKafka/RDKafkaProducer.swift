import CRdKafka
import CoreMetrics
import Foundation
import Logging
import NIOCore

/// Delivery reports, served by the producer's thread: the per-message opaque is a retained
/// `RDKafkaDelivery`, released here.
let rdKafkaDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let pending = message.pointee._private else { return }
    let delivery = Unmanaged<RDKafkaDelivery>.fromOpaque(pending).takeRetainedValue()
    let core = opaque.flatMap { rdKafkaSink($0) as? RDKafkaProducerCore }
    let code = message.pointee.err
    if code == RD_KAFKA_RESP_ERR_NO_ERROR {
        core?.delivered()
        delivery.continuation.resume(
            returning: KafkaDeliveryReport(topic: delivery.topic, partition: message.pointee.partition, offset: message.pointee.offset))
    } else if code == RD_KAFKA_RESP_ERR__PURGE_QUEUE || code == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, let reason = core?.purgeReason {
        delivery.continuation.resume(throwing: reason)
    } else {
        delivery.continuation.resume(throwing: KafkaError(code: code))
    }
}

/// One record waiting for its delivery report.
final class RDKafkaDelivery: Sendable {
    let continuation: CheckedContinuation<KafkaDeliveryReport, any Error>
    let topic: String

    init(continuation: CheckedContinuation<KafkaDeliveryReport, any Error>, topic: String) {
        self.continuation = continuation
        self.topic = topic
    }
}

/// The state behind a ``KafkaProducer``.
///
/// `@unchecked Sendable`: `handle` is written once before the thread starts and read-only after;
/// it stays valid until the serving thread destroys it, which happens only after `closing` was set
/// under the lock and no `produce` call is inside librdkafka (`activeCalls` is 0). Everything
/// else mutable is guarded by `lock`.
final class RDKafkaProducerCore: RDKafkaEventSink, @unchecked Sendable {
    let logger: Logger
    private var handle: OpaquePointer!
    private let lock = NSCondition()
    // Guarded by `lock`:
    private var closing = false
    private var closed = false
    private var activeCalls = 0
    private var closeTimeout: Duration = .seconds(5)
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    /// The last terminal connection failure (authentication, TLS, unreachable before any
    /// delivery) and when it happened: records in the queue are failed with it, and sends
    /// shortly after it fail at once instead of waiting for `message.timeout.ms`.
    private var failure: (error: KafkaError, at: ContinuousClock.Instant)?
    private var purgeRequested = false
    /// "All brokers are down" before any delivery: it becomes the failure after
    /// ``RDKafkaErrorLog/unreachableGrace`` unless a more telling error (authentication, TLS)
    /// arrives first, as it usually does just after.
    private var pendingUnreachable: (error: KafkaError, since: ContinuousClock.Instant)?
    private var hasDelivered = false
    private var errorLog = RDKafkaErrorLog()

    /// How long after a terminal failure new sends fail at once.
    static let failFastWindow: Duration = .seconds(2)

    let statisticsMetrics: KafkaStatisticsMetrics?

    init(logger: Logger, statisticsMetrics: KafkaStatisticsMetrics?) {
        self.logger = logger
        self.statisticsMetrics = statisticsMetrics
    }

    static func make(properties: [String: String], logger: Logger, metricsFactory: (any MetricsFactory)?) throws(KafkaError) -> RDKafkaProducerCore {
        try KafkaLibrary.requireSupportedVersion()
        let conf = try RDKafkaConfiguration.make(properties)
        rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryCallback)
        let core = RDKafkaProducerCore(logger: logger, statisticsMetrics: KafkaStatisticsMetrics(properties: properties, factory: metricsFactory))
        let handle = try rdKafkaNew(type: RD_KAFKA_PRODUCER, conf: conf, sink: core)
        core.start(handle)
        return core
    }

    func start(_ handle: OpaquePointer) {
        self.handle = handle
        let thread = Thread { [self] in self.serve() }
        thread.name = "rdkafka-producer"
        thread.start()
    }

    var purgeReason: KafkaError? {
        lock.withLock { failure?.error }
    }

    func delivered() {
        lock.withLock {
            hasDelivered = true
            failure = nil
            pendingUnreachable = nil
        }
    }

    func handleError(_ error: KafkaError) {
        let level: Logger.Level = lock.withLock {
            if error.isTerminal {
                failure = (error, .now)
                purgeRequested = true
                pendingUnreachable = nil
            } else if error.isUnreachable, !hasDelivered, pendingUnreachable == nil {
                pendingUnreachable = (error, .now)
            }
            return errorLog.level(for: error, terminal: error.isTerminal)
        }
        logger.log(level: level, "Kafka producer: \(error)")
    }

    func produce(_ record: KafkaProducerRecord, continuation: CheckedContinuation<KafkaDeliveryReport, any Error>) {
        let refusal: KafkaError? = lock.withLock {
            if closing { return .closed }
            if let failure, ContinuousClock.now - failure.at < Self.failFastWindow { return failure.error }
            activeCalls += 1
            return nil
        }
        if let refusal {
            continuation.resume(throwing: refusal)
            return
        }
        defer { lock.withLock { activeCalls -= 1; if activeCalls == 0 { lock.broadcast() } } }

        let delivery = Unmanaged.passRetained(RDKafkaDelivery(continuation: continuation, topic: record.topic))
        var headers: OpaquePointer? = nil
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for header in record.headers {
                if let value = header.value {
                    value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let error: OpaquePointer? = record.topic.withCString { topic in
            record.value.withUnsafeReadableBytes { value in
                withKey(record.key) { key in
                    var arguments: [rd_kafka_vu_t] = []
                    arguments.reserveCapacity(7)
                    var argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_TOPIC
                    argument.u.cstr = topic
                    arguments.append(argument)
                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_VALUE
                    argument.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    argument.u.mem.size = value.count
                    arguments.append(argument)
                    if let key {
                        argument = rd_kafka_vu_t()
                        argument.vtype = RD_KAFKA_VTYPE_KEY
                        argument.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                        argument.u.mem.size = key.count
                        arguments.append(argument)
                    }
                    if let partition = record.partition {
                        argument = rd_kafka_vu_t()
                        argument.vtype = RD_KAFKA_VTYPE_PARTITION
                        argument.u.i32 = partition
                        arguments.append(argument)
                    }
                    if let headers {
                        argument = rd_kafka_vu_t()
                        argument.vtype = RD_KAFKA_VTYPE_HEADERS
                        argument.u.headers = headers
                        arguments.append(argument)
                    }
                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    argument.u.i = RD_KAFKA_MSG_F_COPY
                    arguments.append(argument)
                    argument = rd_kafka_vu_t()
                    argument.vtype = RD_KAFKA_VTYPE_OPAQUE
                    argument.u.ptr = delivery.toOpaque()
                    arguments.append(argument)
                    return rd_kafka_produceva(handle, arguments, arguments.count)
                }
            }
        }
        if let error {
            // Not enqueued: librdkafka did not take the headers or the opaque.
            let code = rd_kafka_error_code(error)
            let text = String(cString: rd_kafka_error_string(error))
            rd_kafka_error_destroy(error)
            if let headers { rd_kafka_headers_destroy(headers) }
            delivery.takeRetainedValue().continuation.resume(throwing: KafkaError(code: code, detail: text))
        }
    }

    /// librdkafka's in-process mock cluster of this client (`test.mock.num.brokers`), for tests:
    /// `body` gets it while the client is open.
    func withMockCluster<R>(_ body: (RDKafkaMockCluster) -> R) -> R? {
        guard lock.withLock({ () -> Bool in
            if closing { return false }
            activeCalls += 1
            return true
        }) else { return nil }
        defer { lock.withLock { activeCalls -= 1; if activeCalls == 0 { lock.broadcast() } } }
        guard let cluster = rd_kafka_handle_mock_cluster(handle) else { return nil }
        return body(RDKafkaMockCluster(cluster: cluster))
    }

    func metadata(timeout: Duration) async throws -> KafkaClusterMetadata {
        guard lock.withLock({ () -> Bool in
            if closing { return false }
            activeCalls += 1
            return true
        }) else { throw KafkaError.closed }
        defer { lock.withLock { activeCalls -= 1; if activeCalls == 0 { lock.broadcast() } } }
        return try await RDKafkaBlocking.run { () throws(KafkaError) -> KafkaClusterMetadata in
            try RDKafkaMetadata.read(self.handle, timeout: timeout)
        }
    }

    func close(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyClosed: Bool = lock.withLock {
                if closed { return true }
                closing = true
                closeTimeout = timeout
                closeWaiters.append(continuation)
                lock.broadcast()
                return false
            }
            if alreadyClosed { continuation.resume() }
        }
    }

    /// The serving thread: polls for delivery reports and error events until closed, then flushes
    /// and destroys the client.
    private func serve() {
        while true {
            let (stop, purge): (Bool, Bool) = lock.withLock {
                if let pending = pendingUnreachable, ContinuousClock.now - pending.since >= RDKafkaErrorLog.unreachableGrace {
                    failure = (pending.error, .now)
                    purgeRequested = true
                    pendingUnreachable = nil
                    logger.error("Kafka producer: no broker reachable: \(pending.error)")
                }
                let purge = purgeRequested
                purgeRequested = false
                return (closing, purge)
            }
            if stop { break }
            if purge {
                _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING)
            }
            rd_kafka_poll(handle, 50)
        }
        let timeout: Duration = lock.withLock {
            while activeCalls > 0 { lock.wait() }
            return closeTimeout
        }
        let flushed = rd_kafka_flush(handle, Int32(timeout / .milliseconds(1)))
        if flushed != RD_KAFKA_RESP_ERR_NO_ERROR {
            lock.withLock { failure = (KafkaError(.closed, message: "the Kafka producer closed before the broker acknowledged the record"), .now) }
            _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            rd_kafka_poll(handle, 0)
        }
        rd_kafka_destroy(handle)
        let waiters: [CheckedContinuation<Void, Never>] = lock.withLock {
            closed = true
            defer { closeWaiters = [] }
            return closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

private func withKey<Result>(_ key: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> Result) -> Result {
    guard let key else { return body(nil) }
    return key.withUnsafeBytes { body($0) }
}
