import CRdKafka
import CoreMetrics
import Foundation
import Logging
import NIOCore

/// Rebalances, served by the consumer's thread inside `rd_kafka_consumer_poll`.
private let rdKafkaRebalanceCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
        handle, code, partitions, opaque in
        guard let handle, let core = rdKafkaSink(opaque) as? RDKafkaConsumerCore else { return }
        core.rebalance(handle, code: code, partitions: partitions)
    }

/// Results of commits (automatic and ``RDKafkaConsumerCore/commitInBackground(_:)``), served by
/// the consumer's thread: failures are logged (a later commit covers the same offsets).
private let rdKafkaOffsetCommitCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
        _, code, _, opaque in
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR__NO_OFFSET, let sink = rdKafkaSink(opaque) else { return }
        sink.logger.warning("Kafka consumer: a commit failed: \(KafkaError(code: code))")
    }

/// The state behind a ``KafkaConsumer``.
///
/// `@unchecked Sendable`: `handle` is written once before the thread starts; it is destroyed by
/// the serving thread only after `closing` was set and no caller is inside librdkafka
/// (`activeCalls` is 0). `startAfter` is touched only by the serving thread (rebalance callbacks).
/// Everything else mutable is guarded by `lock`.
final class RDKafkaConsumerCore: RDKafkaEventSink, @unchecked Sendable {
    let logger: Logger
    private var handle: OpaquePointer!
    private let capacity: Int
    private var startAfter: [KafkaTopicPartition: Int64]
    private let lock = NSCondition()
    // Guarded by `lock`:
    private var buffer = CircularBuffer<KafkaConsumerMessage>()
    private var waiter: CheckedContinuation<KafkaConsumerMessage?, any Error>?
    private var failure: KafkaError?
    private var finished = false
    private var closing = false
    private var activeCalls = 0
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var assignment: Set<KafkaTopicPartition> = []
    private var everAssigned = false
    private var errorLog = RDKafkaErrorLog()
    /// "All brokers are down" before the first assignment: it becomes the failure after
    /// ``RDKafkaErrorLog/unreachableGrace`` unless a more telling error arrives first.
    private var pendingUnreachable: (error: KafkaError, since: ContinuousClock.Instant)?

    let statisticsMetrics: KafkaStatisticsMetrics?

    init(logger: Logger, statisticsMetrics: KafkaStatisticsMetrics?, bufferCapacity: Int, startAfter: [KafkaPartitionOffset]) {
        self.logger = logger
        self.statisticsMetrics = statisticsMetrics
        self.capacity = bufferCapacity
        self.startAfter = Dictionary(
            startAfter.map { (KafkaTopicPartition(topic: $0.topic, partition: $0.partition), $0.offset) }, uniquingKeysWith: max)
    }

    static func make(
        properties: [String: String], subscription: KafkaSubscription, startAfter: [KafkaPartitionOffset], bufferCapacity: Int, logger: Logger,
        metricsFactory: (any MetricsFactory)?
    ) throws(KafkaError) -> RDKafkaConsumerCore {
        try KafkaLibrary.requireSupportedVersion()
        let conf = try RDKafkaConfiguration.make(properties)
        rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
        rd_kafka_conf_set_offset_commit_cb(conf, rdKafkaOffsetCommitCallback)
        let core = RDKafkaConsumerCore(
            logger: logger, statisticsMetrics: KafkaStatisticsMetrics(properties: properties, factory: metricsFactory), bufferCapacity: bufferCapacity,
            startAfter: startAfter)
        let handle = try rdKafkaNew(type: RD_KAFKA_CONSUMER, conf: conf, sink: core)
        rd_kafka_poll_set_consumer(handle)
        let names = subscription.librdkafkaNames
        let list = rd_kafka_topic_partition_list_new(Int32(names.count))!
        for name in names { rd_kafka_topic_partition_list_add(list, name, RD_KAFKA_PARTITION_UA) }
        let code = rd_kafka_subscribe(handle, list)
        rd_kafka_topic_partition_list_destroy(list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError(code: code, detail: "subscribing to \(names.joined(separator: ", ")) failed: \(String(cString: rd_kafka_err2str(code)))")
        }
        core.start(handle)
        return core
    }

    private func start(_ handle: OpaquePointer) {
        self.handle = handle
        let thread = Thread { [self] in self.serve() }
        thread.name = "rdkafka-consumer"
        thread.start()
    }

    var currentAssignment: Set<KafkaTopicPartition> { lock.withLock { assignment } }

    // MARK: Reader side

    func next() async throws -> KafkaConsumerMessage? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<KafkaConsumerMessage?, any Error>) in
                lock.lock()
                if let message = buffer.popFirst() {
                    lock.broadcast()
                    lock.unlock()
                    continuation.resume(returning: message)
                } else if let failure {
                    lock.unlock()
                    continuation.resume(throwing: failure)
                } else if finished {
                    lock.unlock()
                    continuation.resume(returning: nil)
                } else if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            let waiting: CheckedContinuation<KafkaConsumerMessage?, any Error>? = lock.withLock {
                defer { waiter = nil }
                return waiter
            }
            waiting?.resume(throwing: CancellationError())
        }
    }

    private func enterCall() throws(KafkaError) {
        let open = lock.withLock { () -> Bool in
            if closing { return false }
            activeCalls += 1
            return true
        }
        if !open { throw KafkaError.closed }
    }

    private func leaveCall() {
        lock.withLock {
            activeCalls -= 1
            if activeCalls == 0 { lock.broadcast() }
        }
    }

    func store(_ positions: [KafkaPartitionOffset]) throws(KafkaError) {
        try enterCall()
        defer { leaveCall() }
        let list = rdKafkaPartitionList(positions.map { KafkaPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset + 1) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_offsets_store(handle, list)
        // A partition revoked meanwhile refuses the store (_STATE): its new owner goes on from the
        // last commit, which is what at-least-once allows.
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, code != RD_KAFKA_RESP_ERR__STATE {
            throw KafkaError(code: code)
        }
    }

    func commitInBackground(_ positions: [KafkaPartitionOffset]) throws(KafkaError) {
        try enterCall()
        defer { leaveCall() }
        let list = rdKafkaPartitionList(positions.map { KafkaPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset + 1) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let code = rd_kafka_commit(handle, list, 1)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: code) }
    }

    func commit(_ positions: [KafkaPartitionOffset]) async throws {
        try enterCall()
        defer { leaveCall() }
        let next = positions.map { KafkaPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset + 1) }
        try await RDKafkaBlocking.run { () throws(KafkaError) in
            let list = rdKafkaPartitionList(next)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let code = rd_kafka_commit(self.handle, list, 0)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: code) }
            for index in 0..<Int(list.pointee.cnt) where list.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(code: list.pointee.elems[index].err)
            }
        }
    }

    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = lock.withLock {
                if finished && handle == nil { return true }
                closing = true
                closeWaiters.append(continuation)
                lock.broadcast()
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: Serving thread

    func handleError(_ error: KafkaError) {
        let (terminal, level): (Bool, Logger.Level) = lock.withLock {
            let terminal = error.isTerminal
            if terminal, failure == nil {
                failure = error
                pendingUnreachable = nil
                lock.broadcast()
            } else if error.isUnreachable, !everAssigned, pendingUnreachable == nil {
                pendingUnreachable = (error, .now)
            }
            return (terminal, errorLog.level(for: error, terminal: terminal))
        }
        logger.log(level: level, "Kafka consumer: \(error)")
        if terminal { wakeWaiterWithFailure() }
    }

    private func wakeWaiterWithFailure() {
        let (waiting, failure): (CheckedContinuation<KafkaConsumerMessage?, any Error>?, KafkaError?) = lock.withLock {
            guard buffer.isEmpty, let waiting = waiter else { return (nil, nil) }
            waiter = nil
            return (waiting, self.failure)
        }
        if let waiting, let failure { waiting.resume(throwing: failure) }
    }

    func rebalance(_ handle: OpaquePointer, code: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        // NULL when the group is gone (never inside a rebalance, but never dereferenced blindly).
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        var changed: [KafkaTopicPartition] = []
        if let partitions {
            for index in 0..<Int(partitions.pointee.cnt) {
                let element = partitions.pointee.elems.advanced(by: index)
                let partition = KafkaTopicPartition(topic: String(cString: element.pointee.topic), partition: element.pointee.partition)
                changed.append(partition)
                if code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, let after = startAfter.removeValue(forKey: partition) {
                    element.pointee.offset = after + 1
                }
            }
        }
        if code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, partitions) { reportAssignError(error) }
            } else {
                let result = rd_kafka_assign(handle, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { handleError(KafkaError(code: result)) }
            }
            lock.withLock {
                if !cooperative { assignment = [] }
                assignment.formUnion(changed)
                everAssigned = true
                pendingUnreachable = nil
            }
            logger.debug("Kafka consumer: assigned \(changed.map { "\($0.topic)[\($0.partition)]" }.joined(separator: ", "))")
        } else {
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, partitions) { reportAssignError(error) }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            lock.withLock {
                if cooperative { assignment.subtract(changed) } else { assignment = [] }
            }
            if code != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                handleError(KafkaError(code: code))
            }
        }
    }

    private func reportAssignError(_ error: OpaquePointer) {
        let failure = KafkaError(code: rd_kafka_error_code(error), detail: String(cString: rd_kafka_error_string(error)))
        rd_kafka_error_destroy(error)
        handleError(failure)
    }

    private func serve() {
        while true {
            let (stop, unreachable): (Bool, KafkaError?) = lock.withLock {
                if failure == nil, let pending = pendingUnreachable, ContinuousClock.now - pending.since >= RDKafkaErrorLog.unreachableGrace {
                    failure = pending.error
                    pendingUnreachable = nil
                    return (closing, pending.error)
                }
                while !closing, buffer.count >= capacity || failure != nil {
                    _ = lock.wait(until: Date(timeIntervalSinceNow: 0.2))
                }
                return (closing, nil)
            }
            if let unreachable {
                logger.error("Kafka consumer: no broker reachable: \(unreachable)")
                wakeWaiterWithFailure()
                continue
            }
            if stop { break }
            guard let message = rd_kafka_consumer_poll(handle, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let code = message.pointee.err
            if code == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                handleError(KafkaError(code: code, detail: String(cString: rd_kafka_err2str(code)) + describeErrorMessage(message)))
                continue
            }
            deliver(convert(message))
        }
        lock.withLock { while activeCalls > 0 { lock.wait() } }
        let code = rd_kafka_consumer_close(handle)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka consumer: leaving the group failed: \(KafkaError(code: code))")
        }
        rd_kafka_destroy(handle)
        let (waiters, reader): ([CheckedContinuation<Void, Never>], CheckedContinuation<KafkaConsumerMessage?, any Error>?) = lock.withLock {
            finished = true
            handle = nil
            defer {
                closeWaiters = []
                waiter = nil
            }
            return (closeWaiters, buffer.isEmpty ? waiter : nil)
        }
        reader?.resume(returning: nil)
        for waiter in waiters { waiter.resume() }
    }

    private func describeErrorMessage(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String {
        let text = rdKafkaString(message.pointee.payload, count: message.pointee.len)
        var place = ""
        if let topic = message.pointee.rkt {
            place = " on \(String(cString: rd_kafka_topic_name(topic)))[\(message.pointee.partition)]"
        }
        return text.isEmpty ? place : ": \(text)\(place)"
    }

    private func deliver(_ message: KafkaConsumerMessage) {
        let waiting: CheckedContinuation<KafkaConsumerMessage?, any Error>? = lock.withLock {
            if let waiting = waiter {
                waiter = nil
                return waiting
            }
            buffer.append(message)
            return nil
        }
        waiting?.resume(returning: message)
    }

    private func convert(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerMessage {
        let record = message.pointee
        let topic = String(cString: rd_kafka_topic_name(record.rkt))
        var value = ByteBuffer()
        if let payload = record.payload, record.len > 0 {
            value = ByteBufferAllocator().buffer(bytes: UnsafeRawBufferPointer(start: payload, count: record.len))
        }
        var key: [UInt8]? = nil
        if let pointer = record.key {
            key = Array(UnsafeRawBufferPointer(start: pointer, count: record.key_len))
        }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            while true {
                var name: UnsafePointer<CChar>? = nil
                var bytes: UnsafeRawPointer? = nil
                var size = 0
                guard rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { break }
                let headerValue = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaConsumerMessage(
            topic: topic, partition: record.partition, offset: record.offset, key: key, value: value, headers: headers,
            timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 ? nil : timestamp)
    }
}
