import Dispatch

/// Runs librdkafka's blocking calls (metadata, synchronous commits) on Dispatch's threads, never on
/// the cooperative pool.
enum RDKafkaBlocking {
    private static let queue = DispatchQueue(label: "sluice.rdkafka.blocking", attributes: .concurrent)

    static func run<Result: Sendable>(_ work: @escaping @Sendable () throws(KafkaError) -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do throws(KafkaError) {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
