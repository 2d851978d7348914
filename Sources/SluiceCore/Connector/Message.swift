import NIOCore

/// Message headers: an ordered list of name/value pairs (a name may repeat). Empty costs nothing.
public struct MessageHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)]

    public init() { fields = [] }

    public init(_ fields: [(name: String, value: String)]) { self.fields = fields }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public mutating func add(name: String, value: String) { fields.append((name, value)) }

    public var isEmpty: Bool { fields.isEmpty }

    public func values(for name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// The headers grouped by name, names in first-seen order: `{"h": ["v1", "v2"]}`.
    public var grouped: [(name: String, values: [String])] {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in fields {
            if values[name] == nil { order.append(name) }
            values[name, default: []].append(value)
        }
        return order.map { (name: $0, values: values[$0]!) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public static func == (lhs: MessageHeaders, rhs: MessageHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for (name, value) in fields {
            hasher.combine(name)
            hasher.combine(value)
        }
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        self.utf8.count == other.utf8.count && self.lowercased() == other.lowercased()
    }
}

/// How a consumed message is acknowledged to its endpoint. The entrypoint calls it according to
/// its QoS: before the write for at-most-once, after it for at-least-once.
public struct MessageAcknowledgement: Sendable {
    private let action: @Sendable () async throws -> Void

    public init(_ action: @escaping @Sendable () async throws -> Void) { self.action = action }

    public func acknowledge() async throws { try await action() }
}

/// A message on its way through the gateway. The content is bytes and is never re-encoded; headers
/// and metadata are empty unless the endpoint or the entrypoint has some.
public struct Message: Sendable {
    /// The message id; also the cursor that resumes after it. Nil when the endpoint has no ids.
    public var id: String?
    public var content: ByteBuffer
    public var headers: MessageHeaders
    public var metadata: JSONObject
    public var acknowledgement: MessageAcknowledgement?
    /// Set when the message goes to many subscribers (live fan-out): their entrypoints encode it
    /// once and share the bytes.
    public var encodings: WireEncodings?

    public init(
        id: String? = nil, content: ByteBuffer, headers: MessageHeaders = MessageHeaders(), metadata: JSONObject = [:],
        acknowledgement: MessageAcknowledgement? = nil
    ) {
        self.id = id
        self.content = content
        self.headers = headers
        self.metadata = metadata
        self.acknowledgement = acknowledgement
    }

    public init(id: String? = nil, content: String, headers: MessageHeaders = MessageHeaders(), metadata: JSONObject = [:]) {
        self.init(id: id, content: ByteBuffer(string: content), headers: headers, metadata: metadata)
    }
}
