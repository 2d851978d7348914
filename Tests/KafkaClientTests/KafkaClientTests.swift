import Foundation
@testable import KafkaClient
import MetricsTestKit
import NIOCore
import TestProcesses
import Testing

/// Without a broker: the library, configuration errors, librdkafka's in-process mock cluster.
@Suite struct KafkaClientLibraryTests {
    @Test func loadedLibraryIsNewEnough() throws {
        try KafkaLibrary.requireSupportedVersion()
        #expect(KafkaLibrary.version >= KafkaLibrary.minimumVersion)
        #expect(KafkaLibrary.loadedFrom?.contains("librdkafka") == true)
    }

    @Test func unknownPropertyIsAConfigurationError() {
        #expect {
            _ = try KafkaProducer(properties: ["no.such.property": "1"])
        } throws: { error in
            (error as? KafkaError)?.kind == .configuration && "\(error)".contains("no.such.property")
        }
    }

    @Test func invalidSecretValueIsNeverEchoed() {
        // An invalid value of a secret property is reported by name only.
        #expect {
            _ = try KafkaProducer(properties: ["ssl.key.pem": "not-a-key-TOPSECRET", "security.protocol": "ssl", "linger.ms": "abc"])
        } throws: { error in
            !"\(error)".contains("TOPSECRET")
        }
        #expect {
            _ = try KafkaProducer(properties: ["linger.ms": "abc"])
        } throws: { error in
            "\(error)".contains("queue.buffering.max.ms")
        }
    }

    @Test func errorsAreClassified() {
        // librdkafka's codes: REBALANCE_IN_PROGRESS 27, _AUTHENTICATION -169, _ALL_BROKERS_DOWN -187.
        #expect(KafkaError(.broker, code: 27, message: "").meansPartitionMoved)
        #expect(!KafkaError(.broker, code: 29, message: "").meansPartitionMoved)
        #expect(KafkaError(.connection, code: -169, message: "").isTerminal)
        #expect(KafkaError(.connection, code: -187, message: "").isUnreachable)
        #expect(!KafkaError(.connection, code: -187, message: "").isTerminal)
    }

    @Test func consumerNeedsAGroup() {
        #expect(throws: KafkaError.self) { _ = try KafkaConsumer(properties: [:], subscription: .topics(["t"])) }
    }

    @Test func mockClusterRoundTrip() async throws {
        // librdkafka's in-process mock cluster: no broker process at all.
        let producer = try KafkaProducer(properties: ["test.mock.num.brokers": "1", "acks": "all", "linger.ms": "1"])
        let report = try await producer.send(KafkaProducerRecord(topic: "mock", partition: 0, value: ByteBuffer(string: "hello")))
        #expect(report.topic == "mock")
        #expect(report.offset == 0)
        await producer.close()
    }

    @Test func mockClusterRetriesRetriableProduceErrorsAndFailsOthers() async throws {
        let producer = try KafkaProducer(properties: ["test.mock.num.brokers": "1", "acks": "all", "retry.backoff.ms": "10", "linger.ms": "0"])
        // Create the topic, then make the next two Produce requests fail with a retriable error
        // (NOT_ENOUGH_REPLICAS, 19): librdkafka retries, the send succeeds.
        try await producer.send(KafkaProducerRecord(topic: "mock", partition: 0, value: ByteBuffer(string: "first")))
        #expect(producer.withMockCluster { $0.pushRequestErrors(apiKey: 0, [19, 19]) } != nil)
        let report = try await producer.send(KafkaProducerRecord(topic: "mock", partition: 0, value: ByteBuffer(string: "retried")))
        #expect(report.offset == 1)
        // A refusal (TOPIC_AUTHORIZATION_FAILED, 29) fails that send with the broker's reason.
        _ = producer.withMockCluster { $0.pushRequestErrors(apiKey: 0, [29]) }
        await #expect {
            try await producer.send(KafkaProducerRecord(topic: "mock", partition: 0, value: ByteBuffer(string: "refused")))
        } throws: { error in
            (error as? KafkaError)?.kind == .broker && (error as? KafkaError)?.name == "TOPIC_AUTHORIZATION_FAILED"
        }
        await producer.close()
    }

    @Test func unreachableBrokerFailsFast() async throws {
        let producer = try KafkaProducer(properties: ["bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": "60000"])
        let start = ContinuousClock.now
        await #expect {
            try await producer.send(KafkaProducerRecord(topic: "t", value: ByteBuffer(string: "x")))
        } throws: { error in
            (error as? KafkaError)?.kind == .connection
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        await producer.close()
        let consumer = try KafkaConsumer(properties: ["bootstrap.servers": "127.0.0.1:1", "group.id": "g"], subscription: .topics(["t"]))
        await #expect {
            for try await _ in consumer.messages {}
        } throws: { error in
            (error as? KafkaError)?.kind == .connection
        }
        await consumer.close()
    }
}

/// Against a real Kafka-compatible broker (Tansu), one broker per test on its own port
/// (19100–19119).
@Suite struct KafkaClientBrokerTests {
    static func consumerProperties(_ broker: TansuBroker, group: String, reset: String = "earliest") -> [String: String] {
        [
            "bootstrap.servers": broker.bootstrapServers, "group.id": group, "auto.offset.reset": reset,
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "1500", "enable.auto.commit": "false",
        ]
    }

    func withBroker(port: Int, _ body: (TansuBroker) async throws -> Void) async throws {
        let broker = TansuBroker(port: port)
        try await broker.start()
        defer { broker.stop() }
        try await body(broker)
    }

    @Test func produceAndConsumeWithKeyHeadersCommitAndCursor() async throws {
        try await withBroker(port: 19100) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers, "acks": "all", "enable.idempotence": "true", "linger.ms": "5"])
            let metadata = try await producer.metadata()
            #expect(metadata.brokers == [broker.bootstrapServers])
            var reports: [KafkaDeliveryReport] = []
            for index in 0..<20 {
                reports.append(
                    try await producer.send(
                        KafkaProducerRecord(
                            topic: "t1", key: Array("k\(index % 3)".utf8), value: ByteBuffer(string: "m\(index)"),
                            headers: [KafkaHeader(name: "h", value: Array("v\(index)".utf8)), KafkaHeader(name: "null", value: nil)])))
            }
            #expect(reports.allSatisfy { $0.offset >= 0 && $0.topic == "t1" })

            let consumer = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g1"), subscription: .topics(["t1"]))
            var seen: [String] = []
            var last: [KafkaTopicPartition: Int64] = [:]
            for try await message in consumer.messages {
                let text = String(buffer: message.value)
                seen.append(text)
                #expect(message.headers == [KafkaHeader(name: "h", value: Array("v\(text.dropFirst())".utf8)), KafkaHeader(name: "null", value: nil)])
                #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == "k\(Int(text.dropFirst())! % 3)")
                #expect(message.timestamp != nil)
                last[KafkaTopicPartition(topic: message.topic, partition: message.partition)] = message.offset
                if seen.count == 20 { break }
            }
            #expect(Set(seen) == Set((0..<20).map { "m\($0)" }))
            try consumer.commitInBackground(consumed: last.map { KafkaPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
            await consumer.close()  // waits for the commit in flight

            // Committed: the group's next member starts after it.
            try await producer.send(KafkaProducerRecord(topic: "t1", key: Array("k0".utf8), value: ByteBuffer(string: "after")))
            let second = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g1"), subscription: .topics(["t1"]))
            var iterator = second.messages.makeAsyncIterator()
            #expect(try await iterator.next().map { String(buffer: $0.value) } == "after")
            await second.close()

            // A cursor: a new group at `latest` resumes right after the positions given.
            let partition = reports[0].partition
            let onPartition = reports.filter { $0.partition == partition }
            let cursor = onPartition[0]
            let third = try KafkaConsumer(
                properties: Self.consumerProperties(broker, group: "g-cursor", reset: "latest"), subscription: .topics(["t1"]),
                startAfter: [KafkaPartitionOffset(topic: "t1", partition: partition, offset: cursor.offset)])
            var resumed: [Int64] = []
            for try await message in third.messages where message.partition == partition {
                resumed.append(message.offset)
                if resumed.count == onPartition.count - 1 { break }
            }
            #expect(resumed == onPartition.dropFirst().map(\.offset))
            await third.close()
            await producer.close()
        }
    }

    @Test func storedOffsetsAreCommittedAutomatically() async throws {
        try await withBroker(port: 19101) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers])
            for index in 0..<5 { try await producer.send(KafkaProducerRecord(topic: "auto", partition: 0, value: ByteBuffer(string: "a\(index)"))) }
            var properties = Self.consumerProperties(broker, group: "g-auto")
            properties["enable.auto.commit"] = "true"
            properties["enable.auto.offset.store"] = "false"
            properties["auto.commit.interval.ms"] = "200"
            let consumer = try KafkaConsumer(properties: properties, subscription: .topics(["auto"]))
            var iterator = consumer.messages.makeAsyncIterator()
            for _ in 0..<3 {
                let message = try #require(try await iterator.next())
                try consumer.store(consumed: [message.position])
            }
            await consumer.close()  // commits what was stored
            // A synchronous commit on a closed consumer is refused.
            await #expect(throws: KafkaError.self) { try await consumer.commit(consumed: [KafkaPartitionOffset(topic: "auto", partition: 0, offset: 0)]) }
            let next = try KafkaConsumer(properties: properties, subscription: .topics(["auto"]))
            var nextIterator = next.messages.makeAsyncIterator()
            #expect(try await nextIterator.next().map { String(buffer: $0.value) } == "a3")
            await next.close()
            await producer.close()
        }
    }

    @Test func membersOfOneGroupSplitPartitionsAndCloseHandsThemOver() async throws {
        try await withBroker(port: 19102) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers])
            try await producer.send(KafkaProducerRecord(topic: "split", value: ByteBuffer(string: "x")))  // creates it, 4 partitions
            let first = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g-split"), subscription: .topics(["split"]))
            let second = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g-split"), subscription: .topics(["split"]))
            let all = Set((0..<4).map { KafkaTopicPartition(topic: "split", partition: Int32($0)) })
            try await eventually { first.assignment.union(second.assignment) == all && first.assignment.isDisjoint(with: second.assignment) && !first.assignment.isEmpty && !second.assignment.isEmpty }
            await first.close()
            try await eventually { second.assignment == all }
            await second.close()
            await producer.close()
        }
    }

    @Test func noCommittedOffsetWithResetErrorIsAnError() async throws {
        try await withBroker(port: 19103) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers])
            try await producer.send(KafkaProducerRecord(topic: "t2", value: ByteBuffer(string: "x")))
            let consumer = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g2", reset: "error"), subscription: .topics(["t2"]))
            await #expect {
                for try await _ in consumer.messages {}
            } throws: { error in
                (error as? KafkaError)?.kind == .noCommittedOffset
            }
            await consumer.close()
            await producer.close()
        }
    }

    @Test func patternSubscription() async throws {
        try await withBroker(port: 19104) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers])
            try await producer.send(KafkaProducerRecord(topic: "orders.eu", value: ByteBuffer(string: "eu")))
            try await producer.send(KafkaProducerRecord(topic: "orders.us", value: ByteBuffer(string: "us")))
            try await producer.send(KafkaProducerRecord(topic: "other", value: ByteBuffer(string: "no")))
            let consumer = try KafkaConsumer(properties: Self.consumerProperties(broker, group: "g-pattern"), subscription: .pattern("orders\\..*"))
            var seen: Set<String> = []
            for try await message in consumer.messages {
                seen.insert(String(buffer: message.value))
                if seen.count == 2 { break }
            }
            #expect(seen == ["eu", "us"])
            await consumer.close()
            await producer.close()
        }
    }

    @Test func statisticsBecomeMetrics() async throws {
        try await withBroker(port: 19107) { broker in
            let metrics = TestMetrics()
            let producer = try KafkaProducer(
                properties: ["bootstrap.servers": broker.bootstrapServers, "statistics.interval.ms": "100", "client.id": "stats-test"], metricsFactory: metrics)
            for index in 0..<5 { try await producer.send(KafkaProducerRecord(topic: "stats", value: ByteBuffer(string: "s\(index)"))) }
            let dimensions = [("client_id", "stats-test"), ("role", "producer")]
            try await eventually {
                ((try? metrics.expectCounter("sluice_kafka_messages_produced_total", dimensions))?.totalValue ?? 0) >= 5
            }
            #expect(try metrics.expectCounter("sluice_kafka_requests_sent_total", dimensions).totalValue > 0)
            #expect(try metrics.expectGauge("sluice_kafka_producer_queued_messages", dimensions).lastValue == 0)
            #expect(try metrics.expectGauge("sluice_kafka_broker_round_trip_seconds", dimensions + [("broker", broker.bootstrapServers)]).lastValue ?? 0 > 0)
            await producer.close()
        }
    }

    @Test func statisticsParsing() throws {
        let json = #"{"name":"p#1","client_id":"c","type":"consumer","msg_cnt":3,"tx":10,"tx_bytes":100,"rx":9,"rx_bytes":90,"txmsgs":0,"rxmsgs":7,"brokers":{"b":{"nodeid":1,"nodename":"h:1","rtt":{"avg":2500}},"boot":{"nodeid":-1,"nodename":"h:1","rtt":{"avg":0}}},"cgrp":{"rebalance_cnt":2}}"#
        let statistics = try #require(KafkaStatistics(json: Array(json.utf8)))
        #expect(statistics.role == "consumer")
        #expect(statistics.messagesConsumed == 7)
        #expect(statistics.brokerRoundTrip == ["h:1": 0.0025])
        #expect(statistics.rebalances == 2)
        #expect(KafkaStatistics(json: Array("not json".utf8)) == nil)
    }

    @Test func topicTheBrokerRefusesIsAnErrorAndOthersStillFlow() async throws {
        try await withBroker(port: 19106) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers, "acks": "all", "message.timeout.ms": "10000"])
            await #expect {
                try await producer.send(KafkaProducerRecord(topic: "not a valid topic", value: ByteBuffer(string: "x")))
            } throws: { error in
                (error as? KafkaError)?.kind == .broker && "\(error)".contains("Invalid topic")
            }
            let report = try await producer.send(KafkaProducerRecord(topic: "valid", value: ByteBuffer(string: "y")))
            #expect(report.offset == 0)
            await producer.close()
        }
    }

    @Test func brokerRestartIsSurvived() async throws {
        try await withBroker(port: 19105) { broker in
            let producer = try KafkaProducer(properties: ["bootstrap.servers": broker.bootstrapServers, "acks": "all", "message.timeout.ms": "20000"])
            try await producer.send(KafkaProducerRecord(topic: "r", value: ByteBuffer(string: "before")))
            broker.stop()
            try await Task.sleep(for: .milliseconds(500))
            try await broker.start()
            // Tansu keeps nothing in memory across the restart; the producer reconnects and delivers.
            let report = try await producer.send(KafkaProducerRecord(topic: "r", value: ByteBuffer(string: "after")))
            #expect(report.offset >= 0)
            await producer.close()
        }
    }
}

func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}
