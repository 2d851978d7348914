import MQTT5
import Testing

@Suite("MQTTClient connect retry")
struct ClientRetryTests {
    @Test func retriesWithBackoffThenFails() async {
        // Nothing listens on this loopback port.
        let configuration = MQTTClientConfiguration(host: "127.0.0.1", port: 18899, connectTimeout: .seconds(2))
        let start = ContinuousClock.now
        do {
            _ = try await MQTTClient.connect(configuration: configuration, retry: MQTTRetryPolicy(maximumRetries: 2, initialBackoff: .milliseconds(100)))
            Issue.record("connect succeeded")
        } catch {
            #expect(error.kind == .connectionFailed, "\(error)")
        }
        let elapsed = ContinuousClock.now - start
        // The backoff happened (100 ms + 200 ms); how fast the refusals come is the machine's business.
        #expect(elapsed >= .milliseconds(300))
    }

    @Test func policyClampsAndClassifies() {
        #expect(MQTTRetryPolicy(maximumRetries: 50).maximumRetries == 10)
        #expect(MQTTRetryPolicy(maximumRetries: -1).maximumRetries == 0)
        let policy = MQTTRetryPolicy()
        #expect(!policy.shouldRetry(after: MQTTClientError(kind: .connectionRefusedByServer, reasonCode: .badUserNameOrPassword, message: "")))
        #expect(policy.shouldRetry(after: MQTTClientError(kind: .connectionRefusedByServer, reasonCode: .serverBusy, message: "")))
        #expect(policy.shouldRetry(after: MQTTClientError(kind: .connectionFailed, message: "")))
    }
}
