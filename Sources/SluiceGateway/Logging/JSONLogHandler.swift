import Foundation
import Logging
import SluiceCore

/// Writes one JSON object per log line to standard error: time, level, label, message and the
/// metadata as members, for log collectors.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: JSONObject = [
            "time": .string(Self.timestamp()),
            "level": .string(event.level.rawValue),
            "label": .string(label),
            "message": .string(event.message.description),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where object[key] == nil {
            object[key] = Self.json(value)
        }
        let line = JSONWriter.string(.object(object)) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): return .string(string)
        case .stringConvertible(let convertible): return .string(convertible.description)
        case .array(let array): return .array(array.map(json))
        case .dictionary(let dictionary):
            var object = JSONObject()
            for (key, value) in dictionary.sorted(by: { $0.key < $1.key }) { object[key] = json(value) }
            return .object(object)
        }
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
