import MQTT5
import NIOCore
import Testing

/// Randomized tests with a fixed seed and a time budget (about a second each, three tests).
/// Whatever the input, the decoder may only return a packet, return nil or throw an
/// `MQTTCodecError` (its typed throws guarantee the error type; a trap would crash the run).
/// Every packet it returns must re-encode, and decoding that encoding must give it back.
@Suite("Codec fuzzing")
struct CodecFuzzTests {
    typealias S = MQTT5TestSupport

    static let budget: Duration = .milliseconds(1_000)
    static let minimumIterations = 200

    /// Runs `body` until the time budget is spent (and at least `minimumIterations` times).
    static func run(seed: UInt64, _ body: (inout MQTT5SeededGenerator) throws -> Void) rethrows -> Int {
        var rng = MQTT5SeededGenerator(seed: seed)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: budget)
        var iterations = 0
        while iterations < minimumIterations || clock.now < deadline {
            try body(&rng)
            iterations += 1
            if iterations >= 2_000_000 { break }
        }
        return iterations
    }

    /// Decodes everything in `bytes` with `decoder` and checks the invariants; returns the
    /// number of packets decoded. (Plain checks with `Issue.record` keep the hot loop fast.)
    @discardableResult
    static func feed(_ bytes: [UInt8], decoder: MQTTPacketDecoder) -> Int {
        var buffer = S.buffer(bytes)
        var packets = 0
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            let packet: MQTTPacket?
            do {
                packet = try decoder.decode(buffer: &buffer)
            } catch {
                if buffer.readerIndex != before { Issue.record("reader index moved on error for \(bytes)") }
                if error.message.isEmpty || !error.reasonCode.isError { Issue.record("bad error \(error) for \(bytes)") }
                return packets
            }
            guard let packet else {
                if buffer.readerIndex != before { Issue.record("reader index moved on nil for \(bytes)") }
                return packets
            }
            packets += 1
            let consumed = buffer.readerIndex - before
            if consumed <= 0 || consumed > decoder.maximumPacketSize {
                Issue.record("consumed \(consumed) bytes for \(bytes)")
            }
            checkReencode(packet, input: bytes)
        }
        return packets
    }

    /// A decoded packet must encode, decode back to itself, and encode canonically.
    static func checkReencode(_ packet: MQTTPacket, input: [UInt8]) {
        do {
            var encoded = try S.encoder.encode(packet)
            let first = S.bytes(encoded)
            let again = try S.decoder.decode(buffer: &encoded)
            guard let again, again == packet, encoded.readableBytes == 0 else {
                Issue.record("re-decoded packet differs: \(packet) from \(input)")
                return
            }
            if try S.encode(again) != first { Issue.record("encoding is not canonical for \(packet)") }
        } catch {
            Issue.record("a decoded packet failed to re-encode: \(error); packet \(packet) from \(input)")
        }
    }

    // MARK: Tests

    @Test("random valid packets round trip")
    func randomPacketsRoundTrip() throws {
        var generator = MQTT5RandomPacketGenerator()
        let iterations = try Self.run(seed: 0x00C0_FFEE) { rng in
            let packet = generator.packet(using: &rng)
            var buffer = try S.encoder.encode(packet)
            let decoded = try S.decoder.decode(buffer: &buffer)
            if decoded != packet || buffer.readableBytes != 0 { Issue.record("round trip failed for \(packet)") }
        }
        #expect(iterations >= Self.minimumIterations)
    }

    @Test("mutated valid packets never crash the decoder")
    func mutatedPackets() throws {
        var generator = MQTT5RandomPacketGenerator()
        var corpus = try S.samplePackets.map { try S.encode($0) }
        var rng0 = MQTT5SeededGenerator(seed: 42)
        for _ in 0..<200 { corpus.append(try S.encode(generator.packet(using: &rng0))) }
        var decodedCount = 0
        let iterations = Self.run(seed: 0xBAD_5EED) { rng in
            var bytes = corpus.randomElement(using: &rng)!
            if Int.random(in: 0..<8, using: &rng) == 0 { bytes += corpus.randomElement(using: &rng)! }
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                Self.mutate(&bytes, using: &rng)
            }
            let maximum = Int.random(in: 0..<4, using: &rng) == 0
                ? Int.random(in: 0...300, using: &rng) : MQTTPacketDecoder.protocolMaximumPacketSize
            decodedCount += Self.feed(bytes, decoder: MQTTPacketDecoder(maximumPacketSize: maximum))
        }
        #expect(iterations >= Self.minimumIterations)
        // Plenty of mutations leave a decodable packet (payload bytes, flags, ...).
        #expect(decodedCount > 0)
    }

    @Test("random bytes never crash the decoder")
    func randomBytes() {
        var decodedCount = 0
        let iterations = Self.run(seed: 0x0123_4567_89AB_CDEF) { rng in
            let count = Int.random(in: 0...64, using: &rng)
            var bytes = Self.randomBytes(count, using: &rng)
            // Often make the header plausible so bodies get parsed.
            if !bytes.isEmpty && Bool.random(using: &rng) {
                let type = UInt8.random(in: 1...15, using: &rng)
                let flags: UInt8 = [6, 8, 10].contains(type) ? 2 : (type == 3 ? UInt8.random(in: 0...15, using: &rng) & 0b1011 : 0)
                bytes[0] = type << 4 | flags
                if bytes.count > 1 { bytes[1] = UInt8(min(bytes.count - 2, 127)) }
            }
            decodedCount += Self.feed(bytes, decoder: S.decoder)
        }
        #expect(iterations >= Self.minimumIterations)
        #expect(decodedCount > 0)
    }

    static func randomBytes(_ count: Int, using rng: inout MQTT5SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = rng.next()
            for _ in 0..<8 where bytes.count < count {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }

    // MARK: Mutations

    static func mutate(_ bytes: inout [UInt8], using rng: inout MQTT5SeededGenerator) {
        let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0x26, 0x0B, 0x23, 0xC0, 0xED]
        switch Int.random(in: 0..<8, using: &rng) {
        case 0 where !bytes.isEmpty:  // flip a bit
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        case 1 where !bytes.isEmpty:  // random byte
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 2 where !bytes.isEmpty:  // interesting byte
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = interesting.randomElement(using: &rng)!
        case 3:  // insert
            bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
        case 4 where !bytes.isEmpty:  // delete
            bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
        case 5 where !bytes.isEmpty:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
        case 6 where bytes.count > 2:  // duplicate a range
            let start = Int.random(in: 0..<bytes.count, using: &rng)
            let end = Int.random(in: start...min(bytes.count, start + 16), using: &rng)
            bytes.insert(contentsOf: bytes[start..<end], at: Int.random(in: 0...bytes.count, using: &rng))
        case 7 where bytes.count > 1:  // rewrite the remaining length to match the (mutated) body
            let body = Array(bytes.dropFirst(2))
            bytes = S.packet(bytes[0], body)
        default:
            bytes.append(UInt8.random(in: 0...255, using: &rng))
        }
    }
}

/// Generates random packets that the specification allows.
struct MQTT5RandomPacketGenerator {
    private static let pieces = ["a", "b", "/", "x/y", "é", "温", "🦆", "$", " ", "0", "Z", "\u{FEFF}", "-"]

    func string(_ rng: inout MQTT5SeededGenerator, maxPieces: Int = 6, wildcards: Bool = false) -> String {
        var result = ""
        for _ in 0..<Int.random(in: 0...maxPieces, using: &rng) {
            if wildcards && Int.random(in: 0..<5, using: &rng) == 0 {
                result += Bool.random(using: &rng) ? "+" : "#"
            } else {
                result += Self.pieces.randomElement(using: &rng)!
            }
        }
        return result
    }

    func topicName(_ rng: inout MQTT5SeededGenerator) -> String {
        let name = self.string(&rng)
        return name.isEmpty ? "t" : name
    }

    func bytes(_ rng: inout MQTT5SeededGenerator, max: Int = 24) -> ByteBuffer {
        let count = Int.random(in: 0...max, using: &rng)
        return ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    func maybe(_ rng: inout MQTT5SeededGenerator) -> Bool { Int.random(in: 0..<3, using: &rng) == 0 }

    func packetIdentifier(_ rng: inout MQTT5SeededGenerator) -> UInt16 { UInt16.random(in: 1...UInt16.max, using: &rng) }

    func reasonCode(_ rng: inout MQTT5SeededGenerator, for type: MQTTPacketType) -> MQTTReasonCode {
        MQTTReasonCode.allCases.filter { $0.isAllowed(in: type) }.randomElement(using: &rng)!
    }

    func properties(_ rng: inout MQTT5SeededGenerator, _ context: MQTTPropertyContext) -> MQTTProperties {
        var p = MQTTProperties()
        for identifier in MQTTPropertyIdentifier.allCases where identifier.isAllowed(in: context) && self.maybe(&rng) {
            switch identifier {
            case .payloadFormatIndicator: p.payloadFormatIndicator = MQTTPayloadFormatIndicator.allCases.randomElement(using: &rng)
            case .messageExpiryInterval: p.messageExpiryInterval = UInt32.random(in: 0...UInt32.max, using: &rng)
            case .contentType: p.contentType = self.string(&rng)
            case .responseTopic: p.responseTopic = self.string(&rng)
            case .correlationData: p.correlationData = self.bytes(&rng)
            case .subscriptionIdentifier:
                let count = context == .publish ? Int.random(in: 1...3, using: &rng) : 1
                p.subscriptionIdentifiers = (0..<count).map { _ in UInt32.random(in: 1...MQTTVariableByteInteger.maxValue, using: &rng) }
            case .sessionExpiryInterval: p.sessionExpiryInterval = UInt32.random(in: 0...UInt32.max, using: &rng)
            case .assignedClientIdentifier: p.assignedClientIdentifier = self.string(&rng)
            case .serverKeepAlive: p.serverKeepAlive = UInt16.random(in: 0...UInt16.max, using: &rng)
            case .authenticationMethod: p.authenticationMethod = self.string(&rng)
            case .authenticationData:
                p.authenticationData = self.bytes(&rng)
                if p.authenticationMethod == nil { p.authenticationMethod = "M" }
            case .requestProblemInformation: p.requestProblemInformation = Bool.random(using: &rng)
            case .willDelayInterval: p.willDelayInterval = UInt32.random(in: 0...UInt32.max, using: &rng)
            case .requestResponseInformation: p.requestResponseInformation = Bool.random(using: &rng)
            case .responseInformation: p.responseInformation = self.string(&rng)
            case .serverReference: p.serverReference = self.string(&rng)
            case .reasonString: p.reasonString = self.string(&rng)
            case .receiveMaximum: p.receiveMaximum = UInt16.random(in: 1...UInt16.max, using: &rng)
            case .topicAliasMaximum: p.topicAliasMaximum = UInt16.random(in: 0...UInt16.max, using: &rng)
            case .topicAlias: p.topicAlias = UInt16.random(in: 1...UInt16.max, using: &rng)
            case .maximumQoS: p.maximumQoS = Bool.random(using: &rng) ? .atMostOnce : .atLeastOnce
            case .retainAvailable: p.retainAvailable = Bool.random(using: &rng)
            case .userProperty:
                p.userProperties = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                    MQTTUserProperty(name: self.string(&rng), value: self.string(&rng))
                }
            case .maximumPacketSize: p.maximumPacketSize = UInt32.random(in: 1...UInt32.max, using: &rng)
            case .wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable = Bool.random(using: &rng)
            case .subscriptionIdentifierAvailable: p.subscriptionIdentifierAvailable = Bool.random(using: &rng)
            case .sharedSubscriptionAvailable: p.sharedSubscriptionAvailable = Bool.random(using: &rng)
            }
        }
        return p
    }

    mutating func packet(using rng: inout MQTT5SeededGenerator) -> MQTTPacket {
        let type = MQTTPacketType.allCases.randomElement(using: &rng)!
        switch type {
        case .connect:
            var will: MQTTWill?
            if Bool.random(using: &rng) {
                will = MQTTWill(
                    topic: self.topicName(&rng),
                    payload: self.bytes(&rng),
                    qos: MQTTQoS.allCases.randomElement(using: &rng)!,
                    retain: Bool.random(using: &rng),
                    properties: self.properties(&rng, .will)
                )
            }
            return .connect(
                MQTTConnectPacket(
                    clientIdentifier: self.string(&rng),
                    cleanStart: Bool.random(using: &rng),
                    keepAlive: UInt16.random(in: 0...UInt16.max, using: &rng),
                    username: self.maybe(&rng) ? self.string(&rng) : nil,
                    password: self.maybe(&rng) ? self.bytes(&rng) : nil,
                    will: will,
                    properties: self.properties(&rng, .connect)
                )
            )
        case .connack:
            let code = self.reasonCode(&rng, for: .connack)
            return .connack(
                MQTTConnAckPacket(
                    sessionPresent: code == .success && Bool.random(using: &rng),
                    reasonCode: code,
                    properties: self.properties(&rng, .connack)
                )
            )
        case .publish:
            let qos = MQTTQoS.allCases.randomElement(using: &rng)!
            var properties = self.properties(&rng, .publish)
            var topic = self.topicName(&rng)
            if properties.topicAlias != nil && Bool.random(using: &rng) { topic = "" }
            if topic.isEmpty && properties.topicAlias == nil { properties.topicAlias = 1 }
            return .publish(
                MQTTPublishPacket(
                    topicName: topic,
                    payload: self.bytes(&rng, max: 64),
                    qos: qos,
                    packetIdentifier: qos == .atMostOnce ? nil : self.packetIdentifier(&rng),
                    dup: qos != .atMostOnce && Bool.random(using: &rng),
                    retain: Bool.random(using: &rng),
                    properties: properties
                )
            )
        case .puback, .pubrec, .pubrel, .pubcomp:
            let context: MQTTPropertyContext = switch type {
            case .puback: .puback
            case .pubrec: .pubrec
            case .pubrel: .pubrel
            default: .pubcomp
            }
            let ack = MQTTPubAckPacket(
                packetIdentifier: self.packetIdentifier(&rng),
                reasonCode: self.maybe(&rng) ? self.reasonCode(&rng, for: type) : .success,
                properties: self.maybe(&rng) ? self.properties(&rng, context) : MQTTProperties()
            )
            switch type {
            case .puback: return .puback(ack)
            case .pubrec: return .pubrec(ack)
            case .pubrel: return .pubrel(ack)
            default: return .pubcomp(ack)
            }
        case .subscribe:
            let subscriptions = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                let filter = self.string(&rng, wildcards: true)
                return MQTTSubscription(
                    topicFilter: filter,
                    options: MQTTSubscriptionOptions(
                        maximumQoS: MQTTQoS.allCases.randomElement(using: &rng)!,
                        noLocal: !MQTTTopic.isSharedSubscription(filter) && Bool.random(using: &rng),
                        retainAsPublished: Bool.random(using: &rng),
                        retainHandling: MQTTRetainHandling.allCases.randomElement(using: &rng)!
                    )
                )
            }
            return .subscribe(
                MQTTSubscribePacket(
                    packetIdentifier: self.packetIdentifier(&rng),
                    subscriptions: subscriptions,
                    properties: self.properties(&rng, .subscribe)
                )
            )
        case .suback:
            return .suback(
                MQTTSubAckPacket(
                    packetIdentifier: self.packetIdentifier(&rng),
                    reasonCodes: (0..<Int.random(in: 1...5, using: &rng)).map { _ in self.reasonCode(&rng, for: .suback) },
                    properties: self.properties(&rng, .suback)
                )
            )
        case .unsubscribe:
            return .unsubscribe(
                MQTTUnsubscribePacket(
                    packetIdentifier: self.packetIdentifier(&rng),
                    topicFilters: (0..<Int.random(in: 1...4, using: &rng)).map { _ in self.string(&rng, wildcards: true) },
                    properties: self.properties(&rng, .unsubscribe)
                )
            )
        case .unsuback:
            return .unsuback(
                MQTTUnsubAckPacket(
                    packetIdentifier: self.packetIdentifier(&rng),
                    reasonCodes: (0..<Int.random(in: 1...5, using: &rng)).map { _ in self.reasonCode(&rng, for: .unsuback) },
                    properties: self.properties(&rng, .unsuback)
                )
            )
        case .pingreq:
            return .pingreq
        case .pingresp:
            return .pingresp
        case .disconnect:
            return .disconnect(
                MQTTDisconnectPacket(
                    reasonCode: self.maybe(&rng) ? .normalDisconnection : self.reasonCode(&rng, for: .disconnect),
                    properties: self.maybe(&rng) ? MQTTProperties() : self.properties(&rng, .disconnect)
                )
            )
        case .auth:
            return .auth(
                MQTTAuthPacket(
                    reasonCode: self.reasonCode(&rng, for: .auth),
                    properties: self.maybe(&rng) ? MQTTProperties() : self.properties(&rng, .auth)
                )
            )
        }
    }
}
