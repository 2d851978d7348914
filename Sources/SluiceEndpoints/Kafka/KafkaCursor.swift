import Foundation

/// A position in Kafka topics: the offset last delivered per topic and partition. It is both a
/// message id and a cursor (contract §2 Kafka): `t1@0#12,1#7;t2@0#3`, base64 when the consumer's
/// `encodeMessageId` is on. A stream resumes *after* the offsets a cursor names.
///
/// Each message's id is the cursor of its stream up to and including it (every partition the stream
/// has delivered from), so resuming after any id misses nothing and repeats nothing, however many
/// partitions the stream reads.
struct KafkaCursor: Sendable, Hashable {
    /// Topic → partition → offset of the last message delivered.
    private(set) var positions: [String: [Int32: Int64]] = [:]

    init() {}

    init(positions: [String: [Int32: Int64]]) {
        self.positions = positions
    }

    var isEmpty: Bool { positions.isEmpty }

    mutating func advance(topic: String, partition: Int32, offset: Int64) {
        positions[topic, default: [:]][partition] = offset
    }

    /// Every (topic, partition, offset).
    var entries: [(topic: String, partition: Int32, offset: Int64)] {
        positions.keys.sorted().flatMap { topic in
            positions[topic]!.keys.sorted().map { (topic, $0, positions[topic]![$0]!) }
        }
    }

    /// `t1@0#12,1#7;t2@0#3`, topics and partitions in order.
    var text: String {
        positions.keys.sorted().map { topic in
            let partitions = positions[topic]!
            return topic + "@" + partitions.keys.sorted().map { "\($0)#\(partitions[$0]!)" }.joined(separator: ",")
        }.joined(separator: ";")
    }

    func encoded(base64: Bool) -> String {
        base64 ? Data(text.utf8).base64EncodedString() : text
    }

    enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        var description: String {
            switch self {
            case .invalid(let reason): reason
            }
        }
    }

    /// Reads a cursor in either spelling: base64 when `base64` (plain text is accepted too, since
    /// it can never be mistaken for base64 of a cursor: it contains `@` and `#`).
    init(parsing cursor: String, base64: Bool) throws(ParseError) {
        var text = cursor
        if base64, !cursor.contains("@") {
            guard let data = Data(base64Encoded: cursor), let decoded = String(data: data, encoding: .utf8) else {
                throw .invalid("a Kafka cursor is base64 of topic@partition#offset[,partition#offset][;topic@...]")
            }
            text = decoded
        }
        let format = "a Kafka cursor is topic@partition#offset[,partition#offset][;topic@...]"
        for topicPart in text.split(separator: ";", omittingEmptySubsequences: false) {
            let pieces = topicPart.split(separator: "@", omittingEmptySubsequences: false)
            guard pieces.count == 2, KafkaEndpointConfiguration.isValidTopicName(String(pieces[0])) else { throw .invalid(format) }
            for position in pieces[1].split(separator: ",", omittingEmptySubsequences: false) {
                let numbers = position.split(separator: "#", omittingEmptySubsequences: false)
                guard numbers.count == 2, let partition = Int32(numbers[0]), partition >= 0, let offset = Int64(numbers[1]), offset >= 0 else {
                    throw .invalid(format)
                }
                positions[String(pieces[0]), default: [:]][partition] = offset
            }
        }
    }
}
