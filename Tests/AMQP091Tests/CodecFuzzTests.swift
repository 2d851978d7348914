import NIOCore
import Testing

import AMQP091

/// A small deterministic generator (SplitMix64), so every run of the fuzz
/// tests feeds the same inputs in the same order.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: self.next()) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in self.byte() } }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }
}

/// Randomized robustness tests. Each runs for a bounded wall-clock time (and
/// a bounded number of iterations) with a fixed seed.
@Suite("Codec fuzzing")
struct CodecFuzzTests {
    static let maxFrameSize: UInt32 = 4096

    /// Interesting bytes for mutations: frame types, frame-end, field tags,
    /// length-ish values.
    static let interestingBytes: [UInt8] = [
        0x00, 0x01, 0x02, 0x03, 0x08, 0x7F, 0x80, 0xFF, 0xCE, 0xFE,
        UInt8(ascii: "F"), UInt8(ascii: "A"), UInt8(ascii: "S"), UInt8(ascii: "x"), UInt8(ascii: "V"), UInt8(ascii: "D"),
    ]

    /// Tracks failures so a broken property reports a few cases, not thousands.
    struct Checker {
        var decoder: AMQPFrameDecoder
        var assembler = AMQPCommandAssembler(maxBodySize: 1 << 20)
        var failures = 0
        var framesDecoded = 0
        var errors = 0
        var incomplete = 0

        init(maxFrameSize: UInt32) {
            self.decoder = AMQPFrameDecoder(maxFrameSize: maxFrameSize)
        }

        mutating func fail(_ message: String, _ input: [UInt8]) {
            self.failures += 1
            if self.failures <= 5 {
                let hex = input.prefix(96).map { String($0, radix: 16) }.joined(separator: " ")
                Issue.record("\(message); input (\(input.count) bytes): \(hex)")
            }
        }

        /// Feeds `input` to the decoder until it needs more bytes or fails,
        /// checking the decoder's contract at every step.
        mutating func check(_ input: [UInt8]) {
            var buffer = TestSupport.buffer(input)
            for _ in 0..<64 {
                let before = buffer.readerIndex
                let frame: AMQPFrame?
                do {
                    frame = try self.decoder.decode(from: &buffer)
                } catch {
                    // The only possible error type is AMQPCodecError (typed throws).
                    self.errors += 1
                    if buffer.readerIndex != before { self.fail("reader index moved on error \(error)", input) }
                    if error.message.isEmpty { self.fail("error without message \(error.code)", input) }
                    return
                }
                guard let frame else {
                    self.incomplete += 1
                    if buffer.readerIndex != before { self.fail("reader index moved on nil", input) }
                    return
                }
                self.framesDecoded += 1
                if buffer.readerIndex - before < AMQPFrame.overhead { self.fail("frame consumed too few bytes", input) }
                self.checkRoundTrip(frame, input)
                do {
                    _ = try self.assembler.process(frame)
                } catch {
                    self.assembler.resetAll()
                }
                if buffer.readableBytes == 0 { return }
            }
        }

        /// A decoded frame re-encodes (within the same frame_max) and decodes
        /// to an equal frame; encoding is canonical from then on.
        mutating func checkRoundTrip(_ frame: AMQPFrame, _ input: [UInt8]) {
            var encoded = ByteBuffer()
            do {
                try frame.encode(into: &encoded, maxFrameSize: self.decoder.maxFrameSize)
            } catch {
                self.fail("decoded frame failed to re-encode: \(error) \(frame)", input)
                return
            }
            let firstEncoding = TestSupport.bytes(encoded)
            do {
                guard let again = try self.decoder.decode(from: &encoded) else {
                    self.fail("re-encoded frame is incomplete: \(frame)", input)
                    return
                }
                if again != frame { self.fail("round trip changed the frame: \(frame) vs \(again)", input) }
                if encoded.readableBytes != 0 { self.fail("re-encoded frame left bytes", input) }
                var second = ByteBuffer()
                try again.encode(into: &second, maxFrameSize: self.decoder.maxFrameSize)
                if TestSupport.bytes(second) != firstEncoding { self.fail("encoding is not canonical", input) }
            } catch {
                self.fail("re-encoded frame failed to decode: \(error)", input)
            }
        }
    }

    /// Deterministic minimum, wall-clock bound after that, hard maximum.
    static func keepGoing(_ iterations: Int, minimum: Int, maximum: Int, deadline: ContinuousClock.Instant) -> Bool {
        if iterations < minimum { return true }
        return iterations < maximum && ContinuousClock.now < deadline
    }

    static func seedInputs() throws -> [[UInt8]] {
        var seeds = try TestSupport.sampleFrames().map { try TestSupport.encode($0) }
        let body = TestSupport.buffer(Array(repeating: 0x42, count: 300))
        var content = ByteBuffer()
        try AMQPFrame.encodeContent(
            channel: 1,
            method: .basic(.deliver(.init(consumerTag: "c", deliveryTag: 1, exchange: "e", routingKey: "r"))),
            properties: TestSupport.allProperties,
            body: body,
            maxFrameSize: 1024,
            into: &content
        )
        seeds.append(TestSupport.bytes(content))
        return seeds
    }

    /// Rewrites the size field and frame-end of the frame starting at 0 so a
    /// mutated payload still passes framing and reaches the payload parsers.
    static func repairFraming(_ bytes: inout [UInt8]) {
        guard bytes.count >= 8 else { return }
        let size = UInt32(bytes.count - 8)
        bytes[3] = UInt8(size >> 24)
        bytes[4] = UInt8((size >> 16) & 0xFF)
        bytes[5] = UInt8((size >> 8) & 0xFF)
        bytes[6] = UInt8(size & 0xFF)
        bytes[bytes.count - 1] = 0xCE
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip a bit
                bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // random byte
                bytes[position] = rng.byte()
            case 2 where !bytes.isEmpty:  // interesting byte
                bytes[position] = Self.interestingBytes.randomElement(using: &rng)!
            case 3:  // insert bytes
                bytes.insert(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)), at: position)
            case 4 where !bytes.isEmpty:  // delete bytes
                let count = min(Int.random(in: 1...8, using: &rng), bytes.count - position)
                bytes.removeSubrange(position..<(position + count))
            case 5:  // truncate
                bytes = Array(bytes.prefix(position))
            case 6 where bytes.count >= 4:  // overwrite a 32-bit word with an extreme length
                let at = Int.random(in: 0...(bytes.count - 4), using: &rng)
                let value: UInt32 = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, UInt32(bytes.count), UInt32.random(in: 0...300, using: &rng)]
                    .randomElement(using: &rng)!
                bytes.replaceSubrange(at..<(at + 4), with: TestSupport.be32(value))
            case 7 where !bytes.isEmpty:  // duplicate a region
                let count = min(Int.random(in: 1...16, using: &rng), bytes.count - position)
                bytes.insert(contentsOf: bytes[position..<(position + count)], at: position)
            default:
                break
            }
        }
        if rng.chance(60) {
            Self.repairFraming(&bytes)
        }
        return bytes
    }

    @Test("random bytes decode to a frame, nil, or a typed error")
    func randomBytes() {
        var rng = SplitMix64(seed: 0x5EED_0001)
        var checker = Checker(maxFrameSize: Self.maxFrameSize)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(1200))
        var iterations = 0
        let knownMethods = TestSupport.allMethods.map { ($0.classID, $0.methodID) }
        // At least `minimumIterations` (the same inputs on every run, however
        // slow the machine), then more until the deadline.
        while Self.keepGoing(iterations, minimum: 2_000, maximum: 400_000, deadline: deadline) && checker.failures == 0 {
            iterations += 1
            var input: [UInt8]
            switch iterations % 3 {
            case 0:
                // Pure noise.
                input = rng.bytes(Int.random(in: 0...64, using: &rng))
            case 1:
                // Valid framing around a random payload of a random frame type.
                let type: UInt8 = [1, 2, 3, 8, rng.byte()].randomElement(using: &rng)!
                let payload = rng.bytes(Int.random(in: 0...80, using: &rng))
                input = TestSupport.rawFrame(type: type, channel: UInt16.random(in: 0...3, using: &rng), payload: payload)
            default:
                // Valid framing, a known class/method id, random arguments.
                let (classID, methodID) = knownMethods.randomElement(using: &rng)!
                let payload = TestSupport.methodPayload(classID: classID, methodID: methodID, rng.bytes(Int.random(in: 0...48, using: &rng)))
                input = TestSupport.rawFrame(type: 1, channel: 1, payload: payload)
            }
            checker.check(input)
        }
        #expect(checker.failures == 0)
        #expect(iterations >= 500)
        #expect(checker.errors > 0)
        #expect(checker.framesDecoded > 0)
        #expect(checker.incomplete > 0)
    }

    @Test("mutations of valid frames decode to a frame, nil, or a typed error; decoded frames round trip")
    func mutatedFrames() throws {
        var rng = SplitMix64(seed: 0x5EED_0002)
        let seeds = try Self.seedInputs()
        var checker = Checker(maxFrameSize: Self.maxFrameSize)
        var unlimited = Checker(maxFrameSize: 0)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(2000))
        var iterations = 0
        while Self.keepGoing(iterations, minimum: 2_000, maximum: 400_000, deadline: deadline)
            && checker.failures + unlimited.failures == 0
        {
            iterations += 1
            let input = Self.mutate(seeds.randomElement(using: &rng)!, &rng)
            if iterations % 4 == 0 {
                unlimited.check(input)
            } else {
                checker.check(input)
            }
        }
        #expect(checker.failures == 0)
        #expect(unlimited.failures == 0)
        #expect(iterations >= 500)
        #expect(checker.framesDecoded > 0)
        #expect(checker.errors > 0)
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int) -> AMQPFieldValue {
        let choice = Int.random(in: 0..<(depth >= 5 ? 15 : 17), using: &rng)
        switch choice {
        case 0: return .bool(rng.chance(50))
        case 1: return .int8(Int8(truncatingIfNeeded: rng.next()))
        case 2: return .uint8(rng.byte())
        case 3: return .int16(Int16(truncatingIfNeeded: rng.next()))
        case 4: return .uint16(UInt16(truncatingIfNeeded: rng.next()))
        case 5: return .int32(Int32(truncatingIfNeeded: rng.next()))
        case 6: return .uint32(UInt32(truncatingIfNeeded: rng.next()))
        case 7: return .int64(Int64(bitPattern: rng.next()))
        case 8: return .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 9: return .double(Double(bitPattern: rng.next()))
        case 10: return .decimal(AMQPDecimal(scale: rng.byte(), value: UInt32(truncatingIfNeeded: rng.next())))
        case 11: return .longString(AMQPLongString(bytes: rng.bytes(Int.random(in: 0...20, using: &rng))))
        case 12: return .byteArray(rng.bytes(Int.random(in: 0...20, using: &rng)))
        case 13: return .timestamp(rng.next())
        case 14: return .void
        case 15: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default: return .table(randomTable(&rng, depth: depth + 1))
        }
    }

    static func randomTable(_ rng: inout SplitMix64, depth: Int) -> AMQPFieldTable {
        AMQPFieldTable(
            (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                AMQPFieldTable.Entry(
                    key: AMQPShortString(bytes: rng.bytes(Int.random(in: 0...12, using: &rng))),
                    value: randomValue(&rng, depth: depth)
                )
            }
        )
    }

    @Test("random field tables round trip byte for byte")
    func randomTables() throws {
        var rng = SplitMix64(seed: 0x5EED_0003)
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(1000))
        var iterations = 0
        var failures = 0
        while Self.keepGoing(iterations, minimum: 500, maximum: 100_000, deadline: deadline) && failures == 0 {
            iterations += 1
            let table = Self.randomTable(&rng, depth: 1)
            var buffer = ByteBuffer()
            try table.encode(into: &buffer)
            let bytes = TestSupport.bytes(buffer)
            let decoded = try AMQPFieldTable.decode(from: &buffer)
            if decoded != table || buffer.readableBytes != 0 {
                failures += 1
                Issue.record("table did not round trip: \(table)")
            }
            var again = ByteBuffer()
            try decoded.encode(into: &again)
            if TestSupport.bytes(again) != bytes {
                failures += 1
                Issue.record("table re-encoding differs: \(table)")
            }
        }
        #expect(iterations >= 500)
    }
}
