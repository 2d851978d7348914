import Foundation
import NIOCore
import SluiceCore

/// The response formats of the HTTP GET entrypoint (contract §3 HTTP GET).
public enum HTTPGetFormat: Sendable, Equatable {
    case json
    case xml
    case text

    public var contentType: String {
        switch self {
        case .json: return "application/json"
        case .xml: return "application/xml"
        case .text: return "text/plain; charset=utf-8"
        }
    }

    /// Picks the format from an `Accept` header with quality values: `*/*` means JSON, no header
    /// means text; nil when nothing acceptable is offered.
    public static func negotiate(accept: String?) -> HTTPGetFormat? {
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .text }
        var best: (format: HTTPGetFormat, quality: Double, specificity: Int)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let mediaType = parts.first?.lowercased(), !mediaType.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "q" { quality = Double(pair[1]) ?? 0 }
            }
            guard quality > 0 else { continue }
            let candidate: (HTTPGetFormat, Int)?
            switch mediaType {
            case "application/json": candidate = (.json, 2)
            case "application/xml", "text/xml": candidate = (.xml, 2)
            case "text/plain": candidate = (.text, 2)
            case "application/*": candidate = (.json, 1)
            case "text/*": candidate = (.text, 1)
            case "*/*", "*": candidate = (.json, 0)
            default: candidate = nil
            }
            guard let (format, specificity) = candidate else { continue }
            if let current = best, current.quality > quality || (current.quality == quality && current.specificity >= specificity) {
                continue
            }
            best = (format, quality, specificity)
        }
        return best?.format
    }
}

/// Where an HTTP GET response leaves off.
public struct HTTPGetPagination: Sendable, Equatable {
    public var nextCursor: String?
    public var limit: String?

    public init(nextCursor: String?, limit: String?) {
        self.nextCursor = nextCursor
        self.limit = limit
    }

    public var isEmpty: Bool { nextCursor == nil && limit == nil }
}

/// Encodes an HTTP GET response piece by piece, so that items stream as they arrive: ``start()``,
/// then ``item(_:index:)`` for each message, then ``finish(error:pagination:)``.
public struct HTTPGetEncoder: Sendable {
    public let format: HTTPGetFormat
    public let includeHeaders: Bool
    public let includeMetadata: Bool

    public init(format: HTTPGetFormat, includeHeaders: Bool, includeMetadata: Bool) {
        self.format = format
        self.includeHeaders = includeHeaders
        self.includeMetadata = includeMetadata
    }

    public func start(into buffer: inout ByteBuffer) {
        switch format {
        case .json: buffer.writeString("{\"items\":[")
        case .xml: buffer.writeString("<response><items>")
        case .text: buffer.writeString("items\n")
        }
    }

    /// Encodes one message; `index` is its position in the response (0 for the first).
    public func item(_ message: Message, index: Int, into buffer: inout ByteBuffer) {
        let content = String(decoding: message.content.readableBytesView, as: UTF8.self)
        switch format {
        case .json:
            var text = index > 0 ? "," : ""
            text += "{"
            var first = true
            func key(_ name: String) {
                if !first { text += "," }
                first = false
                JSONWriter.appendQuoted(name, to: &text)
                text += ":"
            }
            if let id = message.id {
                key("id")
                JSONWriter.appendQuoted(id, to: &text)
            }
            key("content")
            JSONWriter.appendQuoted(content, to: &text)
            if includeHeaders {
                key("headers")
                var headers = JSONObject()
                for (name, values) in message.headers.grouped { headers[name] = .array(values.map(JSONValue.string)) }
                text += JSONWriter.string(.object(headers))
            }
            if includeMetadata {
                key("metadata")
                text += JSONWriter.string(.object(message.metadata))
            }
            text += "}"
            buffer.writeString(text)
        case .xml:
            var text = "<item>"
            if let id = message.id { text += "<id>\(XML.escape(id))</id>" }
            text += "<content>\(XML.cdata(content))</content>"
            if includeHeaders {
                text += "<headers>"
                for (name, values) in message.headers.grouped {
                    let element = XML.elementName(name)
                    text += "<\(element)>\(XML.escape(values.joined(separator: ",")))</\(element)>"
                }
                text += "</headers>"
            }
            if includeMetadata {
                text += "<metadata>"
                for (name, value) in message.metadata {
                    let element = XML.elementName(name)
                    text += "<\(element)>\(XML.escape(Self.plain(value)))</\(element)>"
                }
                text += "</metadata>"
            }
            text += "</item>"
            buffer.writeString(text)
        case .text:
            var text = index > 0 ? "\n" : ""
            text += "item\n"
            if let id = message.id { text += "id: \(id)\n" }
            text += "content: \(content)\n"
            if includeHeaders {
                let pairs = message.headers.grouped.map { "\($0.name)=[\($0.values.joined(separator: ", "))]" }
                text += "headers: {\(pairs.joined(separator: ", "))}\n"
            }
            if includeMetadata {
                let pairs = message.metadata.map { "\($0.key)=\(Self.plain($0.value))" }
                text += "metadata: {\(pairs.joined(separator: ", "))}\n"
            }
            buffer.writeString(text)
        }
    }

    /// Closes the response: the error when the stream failed, then the pagination when known.
    public func finish(error: GatewayError?, pagination: HTTPGetPagination, into buffer: inout ByteBuffer) {
        switch format {
        case .json:
            var text = "]"
            if let error {
                text += ",\"error\":"
                var object: JSONObject = ["message": .string(error.message), "http_status_code": .integer(HTTPStatusMapping.status(for: error.code))]
                if let detail = error.detail { object["detail"] = .string(detail) }
                text += JSONWriter.string(.object(object))
            }
            if !pagination.isEmpty {
                var object = JSONObject()
                if let cursor = pagination.nextCursor { object["nextCursor"] = .string(cursor) }
                if let limit = pagination.limit { object["limit"] = .string(limit) }
                text += ",\"pagination\":" + JSONWriter.string(.object(object))
            }
            text += "}"
            buffer.writeString(text)
        case .xml:
            var text = "</items>"
            if let error {
                text += "<error><message>\(XML.escape(error.message))</message><httpStatusCode>\(HTTPStatusMapping.status(for: error.code))</httpStatusCode>"
                if let detail = error.detail { text += "<detail>\(XML.escape(detail))</detail>" }
                text += "</error>"
            }
            if !pagination.isEmpty {
                text += "<pagination>"
                if let cursor = pagination.nextCursor { text += "<nextCursor>\(XML.escape(cursor))</nextCursor>" }
                if let limit = pagination.limit { text += "<limit>\(XML.escape(limit))</limit>" }
                text += "</pagination>"
            }
            text += "</response>"
            buffer.writeString(text)
        case .text:
            var text = ""
            if let error {
                text += "\nerror\nmessage: \(error.message)\nhttp_status_code: \(HTTPStatusMapping.status(for: error.code))\n"
                if let detail = error.detail { text += "detail: \(detail)\n" }
            }
            if !pagination.isEmpty {
                text += "\npagination\n"
                if let cursor = pagination.nextCursor { text += "nextCursor: \(cursor)\n" }
                if let limit = pagination.limit { text += "limit: \(limit)\n" }
            }
            buffer.writeString(text)
        }
    }

    /// A metadata value as plain text: strings without quotes, everything else as JSON.
    static func plain(_ value: JSONValue) -> String {
        if case .string(let string) = value { return string }
        return JSONWriter.string(value)
    }
}

enum XML {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            case "\t", "\n", "\r": result.unicodeScalars.append(scalar)
            case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": result += "\u{FFFD}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Content in a CDATA section; a `]]>` inside is split across two sections.
    static func cdata(_ text: String) -> String {
        let body = text.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>")
        var clean = ""
        for scalar in body.unicodeScalars {
            if (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || scalar == "\u{FFFE}" || scalar == "\u{FFFF}" {
                clean += "\u{FFFD}"
            } else {
                clean.unicodeScalars.append(scalar)
            }
        }
        return "<![CDATA[\(clean)]]>"
    }

    /// A header or metadata name made into a valid XML element name.
    static func elementName(_ name: String) -> String {
        var result = ""
        for (offset, scalar) in name.unicodeScalars.enumerated() {
            let letter = scalar.properties.isAlphabetic || scalar == "_"
            let allowed = letter || (offset > 0 && (("0"..."9").contains(scalar) || scalar == "-" || scalar == "."))
            result.unicodeScalars.append(allowed ? scalar : "_")
        }
        if result.isEmpty || result.lowercased().hasPrefix("xml") { result = "_" + result }
        return result
    }
}
