import CRdKafka
import Foundation

/// The librdkafka the dynamic loader chose.
enum RDKafkaVersion {
    static var number: Int32 { rd_kafka_version() }
    static var string: String { String(cString: rd_kafka_version_str()) }

    /// The file it was loaded from, as the process's memory map names it (Linux), or nil.
    static var path: String? {
        // Read to the end: procfs files report a size of 0.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps"), let data = try? file.readToEnd() else { return nil }
        try? file.close()
        let maps = String(decoding: data, as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = line[slash...]
            if path.split(separator: "/").last?.hasPrefix("librdkafka") == true { return String(path) }
        }
        return nil
    }
}
