import Configuration
import Logging
import Testing

@testable import SluiceGateway

@Suite struct GatewaySettingsTests {
    @Test func defaultsMatchTheContract() throws {
        let settings = try GatewaySettings(config: ConfigReader(provider: InMemoryProvider(values: [:])))
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 8082)
        #expect(settings.maxBodySize == 1_048_576)
        #expect(settings.requestHeadTimeout == .seconds(30))
        #expect(settings.idleTimeout == .seconds(60))
        #expect(settings.webSocketMaxFrameSize == 65_536)
        #expect(settings.webSocketMaxMessageSize == 262_144)
        #expect(settings.drainTimeout == .seconds(10))
        #expect(settings.tlsCertificatePath == nil)
        #expect(settings.fanOut == FanOutSettings(subscriberBufferSize: 1000, slowSubscriberTimeout: .seconds(10)))
    }

    @Test func fanOutSettingsComeFromTheEnvironmentAndAreChecked() throws {
        let environment = EnvironmentVariablesProvider(environmentVariables: [
            "SLUICE_FAN_OUT_SUBSCRIBER_BUFFER_SIZE": "64", "SLUICE_FAN_OUT_SLOW_SUBSCRIBER_TIMEOUT_MS": "2500",
        ]).prefixKeys(with: "sluice")
        let settings = try GatewaySettings(config: ConfigReader(provider: environment))
        #expect(settings.fanOut == FanOutSettings(subscriberBufferSize: 64, slowSubscriberTimeout: .milliseconds(2500)))
        #expect {
            _ = try GatewaySettings(config: ConfigReader(provider: InMemoryProvider(values: ["fanOut.subscriberBufferSize": 0])))
        } throws: { error in
            (error as? SettingsError)?.description.contains("fanOut.subscriberBufferSize: must be between 1 and 1000000") == true
        }
    }

    @Test func requestHeadTimeoutComesFromTheEnvironmentAndIsChecked() throws {
        let environment = EnvironmentVariablesProvider(environmentVariables: ["SLUICE_HTTP_REQUEST_HEAD_TIMEOUT_MS": "1500"])
            .prefixKeys(with: "sluice")
        #expect(try GatewaySettings(config: ConfigReader(provider: environment)).requestHeadTimeout == .milliseconds(1500))
        #expect {
            _ = try GatewaySettings(config: ConfigReader(provider: InMemoryProvider(values: ["http.requestHeadTimeoutMs": 0])))
        } throws: { error in
            (error as? SettingsError)?.description.contains("http.requestHeadTimeoutMs: must be between 100 and 3600000") == true
        }
    }

    @Test func idleTimeoutComesFromTheEnvironmentAndIsChecked() throws {
        let environment = EnvironmentVariablesProvider(environmentVariables: ["SLUICE_HTTP_IDLE_TIMEOUT_MS": "75000"])
            .prefixKeys(with: "sluice")
        #expect(try GatewaySettings(config: ConfigReader(provider: environment)).idleTimeout == .seconds(75))
        #expect {
            _ = try GatewaySettings(config: ConfigReader(provider: InMemoryProvider(values: ["http.idleTimeoutMs": 4_000_000])))
        } throws: { error in
            (error as? SettingsError)?.description.contains("http.idleTimeoutMs: must be between 100 and 3600000") == true
        }
    }

    @Test func environmentOverridesTheFileAndFlagsOverrideBoth() throws {
        let file = InMemoryProvider(values: ["http.port": "9001", "log.level": "debug", "http.maxBodySize": 10])
        let environment = EnvironmentVariablesProvider(environmentVariables: ["SLUICE_HTTP_PORT": "9002", "SLUICE_HTTP_MAX_BODY_SIZE": "20"])
            .prefixKeys(with: "sluice")
        let flags = InMemoryProvider(values: ["http.port": "9003"])
        let settings = try GatewaySettings(config: ConfigReader(providers: [flags, environment, file]))
        #expect(settings.port == 9003)
        #expect(settings.maxBodySize == 20)
        #expect(settings.logLevel == .debug)
    }

    @Test func badValuesAreAllReported() {
        let values = InMemoryProvider(values: ["http.port": "http", "log.level": "loud", "http.tls.certificate": "/x.pem", "log.format": "xml"])
        #expect {
            _ = try GatewaySettings(config: ConfigReader(provider: values))
        } throws: { error in
            guard let error = error as? SettingsError else { return false }
            return error.problems.count == 4 && error.description.contains("http.port: must be an integer")
                && error.description.contains("give both a certificate and a key")
        }
    }
}
