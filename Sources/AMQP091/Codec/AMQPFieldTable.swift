//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: field tables, field arrays and field values.
//===----------------------------------------------------------------------===//

/// An AMQP decimal value (`D`): a scale (number of decimal digits after the
/// point) and an unsigned 32-bit value. The represented number is
/// `value / 10^scale`.
public struct AMQPDecimal: Hashable, Sendable, CustomStringConvertible {
    public var scale: UInt8
    public var value: UInt32

    public init(scale: UInt8, value: UInt32) {
        self.scale = scale
        self.value = value
    }

    public var description: String {
        "AMQPDecimal(scale: \(self.scale), value: \(self.value))"
    }
}

/// A value in an AMQP field table or field array, with every type tag
/// RabbitMQ uses (see RabbitMQ's AMQP 0-9-1 errata on field types).
///
/// Equality and hashing of `.float` and `.double` compare bit patterns, so
/// that NaN values (which can be received) compare equal to themselves and a
/// decoded value always round trips to an equal value.
public enum AMQPFieldValue: Sendable, CustomStringConvertible {
    /// `t`: boolean (one octet, non-zero is true).
    case bool(Bool)
    /// `b`: signed 8-bit integer.
    case int8(Int8)
    /// `B`: unsigned 8-bit integer.
    case uint8(UInt8)
    /// `s`: signed 16-bit integer.
    case int16(Int16)
    /// `u`: unsigned 16-bit integer.
    case uint16(UInt16)
    /// `I`: signed 32-bit integer.
    case int32(Int32)
    /// `i`: unsigned 32-bit integer.
    case uint32(UInt32)
    /// `l`: signed 64-bit integer.
    case int64(Int64)
    /// `f`: IEEE-754 single precision float.
    case float(Float)
    /// `d`: IEEE-754 double precision float.
    case double(Double)
    /// `D`: decimal (scale octet + unsigned 32-bit value).
    case decimal(AMQPDecimal)
    /// `S`: long string (32-bit length + octets).
    case longString(AMQPLongString)
    /// `x`: byte array (32-bit length + octets).
    case byteArray([UInt8])
    /// `A`: field array (32-bit byte size + values).
    case array([AMQPFieldValue])
    /// `T`: timestamp (unsigned 64-bit, seconds since the epoch).
    case timestamp(UInt64)
    /// `F`: nested field table.
    case table(AMQPFieldTable)
    /// `V`: void (no value).
    case void

    /// The one-octet type tag written on the wire before the value.
    public var typeTag: UInt8 {
        switch self {
        case .bool: return UInt8(ascii: "t")
        case .int8: return UInt8(ascii: "b")
        case .uint8: return UInt8(ascii: "B")
        case .int16: return UInt8(ascii: "s")
        case .uint16: return UInt8(ascii: "u")
        case .int32: return UInt8(ascii: "I")
        case .uint32: return UInt8(ascii: "i")
        case .int64: return UInt8(ascii: "l")
        case .float: return UInt8(ascii: "f")
        case .double: return UInt8(ascii: "d")
        case .decimal: return UInt8(ascii: "D")
        case .longString: return UInt8(ascii: "S")
        case .byteArray: return UInt8(ascii: "x")
        case .array: return UInt8(ascii: "A")
        case .timestamp: return UInt8(ascii: "T")
        case .table: return UInt8(ascii: "F")
        case .void: return UInt8(ascii: "V")
        }
    }

    /// Convenience: a long string value from text.
    public static func string(_ string: String) -> AMQPFieldValue {
        .longString(AMQPLongString(string))
    }

    /// The value as text when it is a valid UTF-8 long string.
    public var stringValue: String? {
        if case .longString(let value) = self { return value.string }
        return nil
    }

    /// The value as a `Bool` when it is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an `Int64` when it is any integer type that fits.
    public var integerValue: Int64? {
        switch self {
        case .int8(let v): return Int64(v)
        case .uint8(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int64(let v): return v
        default: return nil
        }
    }

    /// The value as a nested table when it is one.
    public var tableValue: AMQPFieldTable? {
        if case .table(let value) = self { return value }
        return nil
    }

    /// The value as an array when it is one.
    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var description: String {
        switch self {
        case .bool(let v): return "\(v)"
        case .int8(let v): return "\(v) as Int8"
        case .uint8(let v): return "\(v) as UInt8"
        case .int16(let v): return "\(v) as Int16"
        case .uint16(let v): return "\(v) as UInt16"
        case .int32(let v): return "\(v) as Int32"
        case .uint32(let v): return "\(v) as UInt32"
        case .int64(let v): return "\(v) as Int64"
        case .float(let v): return "\(v) as Float"
        case .double(let v): return "\(v) as Double"
        case .decimal(let v): return v.description
        case .longString(let v): return v.debugDescription
        case .byteArray(let v): return "<\(v.count) bytes>"
        case .array(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .timestamp(let v): return "timestamp(\(v))"
        case .table(let v): return v.description
        case .void: return "void"
        }
    }
}

extension AMQPFieldValue: Hashable {
    public static func == (lhs: AMQPFieldValue, rhs: AMQPFieldValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): return a == b
        case (.int8(let a), .int8(let b)): return a == b
        case (.uint8(let a), .uint8(let b)): return a == b
        case (.int16(let a), .int16(let b)): return a == b
        case (.uint16(let a), .uint16(let b)): return a == b
        case (.int32(let a), .int32(let b)): return a == b
        case (.uint32(let a), .uint32(let b)): return a == b
        case (.int64(let a), .int64(let b)): return a == b
        case (.float(let a), .float(let b)): return a.bitPattern == b.bitPattern
        case (.double(let a), .double(let b)): return a.bitPattern == b.bitPattern
        case (.decimal(let a), .decimal(let b)): return a == b
        case (.longString(let a), .longString(let b)): return a == b
        case (.byteArray(let a), .byteArray(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.timestamp(let a), .timestamp(let b)): return a == b
        case (.table(let a), .table(let b)): return a == b
        case (.void, .void): return true
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.typeTag)
        switch self {
        case .bool(let v): hasher.combine(v)
        case .int8(let v): hasher.combine(v)
        case .uint8(let v): hasher.combine(v)
        case .int16(let v): hasher.combine(v)
        case .uint16(let v): hasher.combine(v)
        case .int32(let v): hasher.combine(v)
        case .uint32(let v): hasher.combine(v)
        case .int64(let v): hasher.combine(v)
        case .float(let v): hasher.combine(v.bitPattern)
        case .double(let v): hasher.combine(v.bitPattern)
        case .decimal(let v): hasher.combine(v)
        case .longString(let v): hasher.combine(v)
        case .byteArray(let v): hasher.combine(v)
        case .array(let v): hasher.combine(v)
        case .timestamp(let v): hasher.combine(v)
        case .table(let v): hasher.combine(v)
        case .void: break
        }
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// A string literal becomes a long string (`S`).
    public init(stringLiteral value: String) {
        self = .longString(AMQPLongString(value))
    }

    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }

    public init(arrayLiteral elements: AMQPFieldValue...) {
        self = .array(elements)
    }

    public init(dictionaryLiteral elements: (AMQPShortString, AMQPFieldValue)...) {
        self = .table(AMQPFieldTable(elements.map { AMQPFieldTable.Entry(key: $0.0, value: $0.1) }))
    }
}

/// An AMQP field table: an ordered list of key/value pairs.
///
/// Order is kept exactly as received or built, and duplicate keys are kept
/// too (the wire format allows them), so decoding and re-encoding is byte
/// exact. The subscript looks up the first entry with a key.
public struct AMQPFieldTable: Hashable, Sendable, RandomAccessCollection, MutableCollection,
    ExpressibleByDictionaryLiteral, CustomStringConvertible
{
    /// One key/value pair of a table.
    public struct Entry: Hashable, Sendable {
        public var key: AMQPShortString
        public var value: AMQPFieldValue

        public init(key: AMQPShortString, value: AMQPFieldValue) {
            self.key = key
            self.value = value
        }
    }

    /// The maximum nesting depth of tables and arrays inside one another that
    /// the codec accepts (when decoding) and produces (when encoding). A table
    /// containing no tables or arrays has depth 1.
    public static let maximumNestingDepth = 32

    /// The entries, in wire order.
    public var entries: [Entry]

    public init() {
        self.entries = []
    }

    public init(_ entries: [Entry]) {
        self.entries = entries
    }

    public init(_ pairs: [(AMQPShortString, AMQPFieldValue)]) {
        self.entries = pairs.map { Entry(key: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (AMQPShortString, AMQPFieldValue)...) {
        self.entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    public var startIndex: Int { self.entries.startIndex }
    public var endIndex: Int { self.entries.endIndex }

    public subscript(position: Int) -> Entry {
        get { self.entries[position] }
        set { self.entries[position] = newValue }
    }

    /// The value of the first entry named `key`. Setting a value replaces the
    /// first entry with that key (or appends a new entry); setting `nil`
    /// removes every entry with that key.
    public subscript(key: AMQPShortString) -> AMQPFieldValue? {
        get {
            self.entries.first(where: { $0.key == key })?.value
        }
        set {
            if let newValue {
                if let index = self.entries.firstIndex(where: { $0.key == key }) {
                    self.entries[index].value = newValue
                } else {
                    self.entries.append(Entry(key: key, value: newValue))
                }
            } else {
                self.entries.removeAll(where: { $0.key == key })
            }
        }
    }

    /// Appends an entry (even if the key already exists).
    public mutating func append(key: AMQPShortString, value: AMQPFieldValue) {
        self.entries.append(Entry(key: key, value: value))
    }

    /// The keys, in order.
    public var keys: [AMQPShortString] { self.entries.map(\.key) }

    public var description: String {
        "[" + self.entries.map { "\($0.key.debugDescription): \($0.value)" }.joined(separator: ", ") + "]"
    }
}
