//===----------------------------------------------------------------------===//
// AMQP 0-9-1 codec for Sluice: short and long strings.
//===----------------------------------------------------------------------===//

/// An AMQP `shortstr`: at most 255 octets, length-prefixed by one octet.
///
/// The wire format does not promise UTF-8, so the value keeps the exact bytes
/// received (decoding never fails because of the encoding and re-encoding is
/// byte exact). ``string`` exposes the bytes as a `String` when they are valid
/// UTF-8. The 255-octet limit is checked when encoding; decoding can never
/// produce a longer value.
public struct AMQPShortString: Hashable, Sendable, Comparable,
    ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
    CustomStringConvertible, CustomDebugStringConvertible
{
    /// The maximum number of octets a short string can hold on the wire.
    public static let maximumLength = 255

    /// The raw octets.
    public var bytes: [UInt8]

    /// Creates a short string from the UTF-8 encoding of `string`.
    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    /// Creates a short string from raw octets (not validated as UTF-8).
    public init(bytes: some Sequence<UInt8>) {
        self.bytes = Array(bytes)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(stringInterpolation: DefaultStringInterpolation) {
        self.init(String(stringInterpolation: stringInterpolation))
    }

    /// The value as a `String`, or `nil` if the octets are not valid UTF-8.
    public var string: String? {
        String(validating: self.bytes, as: UTF8.self)
    }

    /// Whether the value fits the 255-octet wire limit.
    public var isEncodable: Bool {
        self.bytes.count <= Self.maximumLength
    }

    public var isEmpty: Bool { self.bytes.isEmpty }

    /// The value as text, with invalid UTF-8 replaced by U+FFFD.
    public var description: String {
        String(decoding: self.bytes, as: UTF8.self)
    }

    public var debugDescription: String {
        if let string = self.string {
            return string.debugDescription
        }
        return "AMQPShortString(bytes: \(self.bytes))"
    }

    public static func < (lhs: AMQPShortString, rhs: AMQPShortString) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// An AMQP `longstr`: arbitrary octets, length-prefixed by a 32-bit unsigned
/// integer. Used for SASL responses, `connection.start` mechanisms and locales,
/// `connection.update-secret`, and the `S` field table value type.
///
/// Like ``AMQPShortString``, the bytes are kept exactly; ``string`` exposes them
/// as text when valid UTF-8.
public struct AMQPLongString: Hashable, Sendable,
    ExpressibleByStringLiteral, ExpressibleByStringInterpolation,
    CustomStringConvertible, CustomDebugStringConvertible
{
    /// The raw octets.
    public var bytes: [UInt8]

    /// Creates a long string from the UTF-8 encoding of `string`.
    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    /// Creates a long string from raw octets (not validated as UTF-8).
    public init(bytes: some Sequence<UInt8>) {
        self.bytes = Array(bytes)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(stringInterpolation: DefaultStringInterpolation) {
        self.init(String(stringInterpolation: stringInterpolation))
    }

    /// The value as a `String`, or `nil` if the octets are not valid UTF-8.
    public var string: String? {
        String(validating: self.bytes, as: UTF8.self)
    }

    public var isEmpty: Bool { self.bytes.isEmpty }

    /// The value as text, with invalid UTF-8 replaced by U+FFFD.
    public var description: String {
        String(decoding: self.bytes, as: UTF8.self)
    }

    public var debugDescription: String {
        if let string = self.string {
            return string.debugDescription
        }
        return "AMQPLongString(bytes: \(self.bytes.count) octets)"
    }
}
