/// Records kept per AMQP channel and key (consumers by channel and tag), in the order recorded:
/// recording a key again moves it to the end. Adding, removing one and removing a channel's
/// records visit only that channel's records, so that a session with a channel (and a consumer)
/// per client stays linear as its clients come and go; the order is restored by sorting when
/// all are read (a replay, which is rare).
struct ChannelRecords<Key: Hashable & Sendable, Record: Sendable>: Sendable {
    private var byChannel: [Int: [Key: (sequence: Int, record: Record)]] = [:]
    private var nextSequence = 0
    private(set) var count = 0

    subscript(channel channel: Int, key key: Key) -> Record? {
        self.byChannel[channel]?[key]?.record
    }

    mutating func record(_ record: Record, channel: Int, key: Key) {
        if self.byChannel[channel, default: [:]].updateValue((self.nextSequence, record), forKey: key) == nil {
            self.count += 1
        }
        self.nextSequence += 1
    }

    @discardableResult
    mutating func remove(channel: Int, key: Key) -> Record? {
        guard let removed = self.byChannel[channel]?.removeValue(forKey: key) else { return nil }
        self.count -= 1
        if self.byChannel[channel]?.isEmpty == true { self.byChannel[channel] = nil }
        return removed.record
    }

    /// Removes the channel's records and returns them.
    @discardableResult
    mutating func removeChannel(_ channel: Int) -> [Record] {
        guard let records = self.byChannel.removeValue(forKey: channel) else { return [] }
        self.count -= records.count
        return records.values.map(\.record)
    }

    mutating func removeAll(where shouldRemove: (Record) -> Bool) {
        for (channel, records) in self.byChannel {
            let kept = records.filter { !shouldRemove($0.value.record) }
            self.count -= records.count - kept.count
            self.byChannel[channel] = kept.isEmpty ? nil : kept
        }
    }

    mutating func removeAll() {
        self.byChannel = [:]
        self.count = 0
    }

    /// Every record, in no particular order.
    var all: [Record] {
        self.byChannel.values.flatMap { $0.values.map(\.record) }
    }

    /// Every record, in the order recorded.
    var inOrder: [Record] { self.ordered.map(\.record) }

    private var ordered: [(channel: Int, key: Key, record: Record)] {
        self.byChannel.flatMap { channel, records in
            records.map { (sequence: $0.value.sequence, channel: channel, key: $0.key, record: $0.value.record) }
        }
        .sorted { $0.sequence < $1.sequence }
        .map { (channel: $0.channel, key: $0.key, record: $0.record) }
    }
}

/// Equal when they hold the same records under the same channels and keys, in the same order.
extension ChannelRecords: Equatable where Record: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.ordered.elementsEqual(rhs.ordered) { $0.channel == $1.channel && $0.key == $1.key && $0.record == $1.record }
    }
}

extension ChannelRecords: Hashable where Record: Hashable {
    func hash(into hasher: inout Hasher) {
        for entry in self.ordered {
            hasher.combine(entry.channel)
            hasher.combine(entry.key)
            hasher.combine(entry.record)
        }
    }
}
