import CRdKafka
import Logging

/// Anything that owns a `rd_kafka_t` and can take its log lines and error events. The opaque
/// pointer of every `rd_kafka_t` Sluice creates is an unretained `RDKafkaEventSink`; the owner
/// keeps it alive until `rd_kafka_destroy` has returned.
protocol RDKafkaEventSink: AnyObject {
    var logger: Logger { get }
    /// Where statistics go, when the client reports them.
    var statisticsMetrics: KafkaStatisticsMetrics? { get }
    func handleError(_ error: KafkaError)
}

/// librdkafka's statistics (`stats_cb`), served by the polling thread; librdkafka frees the JSON
/// (return 0).
let rdKafkaStatisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let sink = rdKafkaSink(opaque), let metrics = sink.statisticsMetrics else { return 0 }
    if let statistics = KafkaStatistics(json: UnsafeRawBufferPointer(start: json, count: length)) {
        metrics.record(statistics)
    }
    return 0
}

func rdKafkaSink(_ opaque: UnsafeMutableRawPointer?) -> (any RDKafkaEventSink)? {
    guard let opaque else { return nil }
    return Unmanaged<AnyObject>.fromOpaque(opaque).takeUnretainedValue() as? any RDKafkaEventSink
}

/// librdkafka's log lines (syslog levels), from its own threads, into the owner's logger.
let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, text in
    guard let handle, let sink = rdKafkaSink(rd_kafka_opaque(handle)) else { return }
    // librdkafka logs each failed connection attempt at LOG_ERR (3) as well as raising it as an
    // error event, which the owner logs (once per kind, see RDKafkaErrorLog): its own lines of
    // level 3 and below-warning chatter are debug detail.
    let logLevel: Logger.Level =
        switch level {
        case ...2: .error
        case 4: .warning
        default: .debug
        }
    let message = text.map { String(cString: $0) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    sink.logger.log(level: logLevel, "librdkafka: \(message)", metadata: ["kafka.facility": .string(facilityName)])
}

/// librdkafka's error events (`error_cb`), served by the polling thread.
let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, code, reason, opaque in
    guard let sink = rdKafkaSink(opaque) else { return }
    let detail = reason.map { String(cString: $0) }
    var error = KafkaError(code: rd_kafka_resp_err_t(rawValue: code), detail: detail)
    if error.code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let handle {
        var text = [CChar](repeating: 0, count: 512)
        let original = rd_kafka_fatal_error(handle, &text, text.count)
        error = KafkaError(code: original, detail: rdKafkaString(text))
        error.kind = .broker
    }
    sink.handleError(error)
}

extension Logger {
    public static let kafkaDefault = Logger(label: "sluice.kafka")
}

/// Makes a `rd_kafka_t` from a configuration, installing the log and error callbacks with `sink`
/// as opaque. On success librdkafka owns `conf`; on failure it is destroyed here.
func rdKafkaNew(type: rd_kafka_type_t, conf: OpaquePointer, sink: any RDKafkaEventSink) throws(KafkaError) -> OpaquePointer {
    rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(sink as AnyObject).toOpaque())
    rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
    rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
    if sink.statisticsMetrics != nil { rd_kafka_conf_set_stats_cb(conf, rdKafkaStatisticsCallback) }
    var text = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &text, text.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(.configuration, message: "librdkafka could not start a client: \(rdKafkaString(text))")
    }
    return handle
}

/// Logs a client's error events: terminal ones as errors; a transient one (a broker down, a
/// connection refused, which librdkafka raises on every reconnection attempt) as a warning the
/// first time and when it comes back after a quiet minute, as debug in between. Not thread-safe:
/// each owner keeps one under its lock.
struct RDKafkaErrorLog {
    private var lastWarned: [Int32: ContinuousClock.Instant] = [:]

    static let quietPeriod: Duration = .seconds(60)
    /// How long "all brokers are down" waits, before any broker was reached, for the error that
    /// explains it (authentication, TLS) before it is the client's error itself.
    static let unreachableGrace: Duration = .milliseconds(500)

    /// The level to log `error` at now.
    mutating func level(for error: KafkaError, terminal: Bool) -> Logger.Level {
        if terminal { return .error }
        let now = ContinuousClock.now
        if let last = lastWarned[error.code], now - last < Self.quietPeriod { return .debug }
        lastWarned[error.code] = now
        return .warning
    }
}
