import SluiceCore

/// The one place that turns a ``KafkaEndpointConfiguration`` into librdkafka properties (DESIGN
/// rule 6): the connection and security settings every client shares, and the settings Sluice
/// fixes for its producers and consumers.
///
/// TLS stores are read here, before librdkafka sees them: a missing or unreadable file, a wrong
/// password or a corrupt store is a `configurationInvalid` error naming the store and the problem,
/// never a secret. JKS and PKCS12 stores, which librdkafka cannot read (JKS) or reads only from a
/// file (PKCS12), are read by Sluice's own readers and handed over as PEM.
enum KafkaProperties {
    // MARK: Producer settings Sluice fixes

    /// Every in-sync replica has the message before its delivery report: the client's `202` means
    /// the message is in the cluster (DESIGN §2, contract §2 Kafka).
    static let acks = "all"
    /// Not idempotent: an idempotent producer's sequence numbers live in the broker, and a broker
    /// that lost them (a restarted Tansu, a cluster restored from backup) leaves every publish
    /// waiting until `message.timeout.ms` and then failing (seen against Tansu). Without it a
    /// publish retried after a lost acknowledgement may be stored twice: at-least-once, like the
    /// other endpoints. At most 5 requests in flight per connection keep retries close to order.
    static let enableIdempotence = "false"
    static let maxInFlightRequestsPerConnection = "5"
    /// Concurrent publishes share a batch, for at most 1 ms more latency per publish. Every publish
    /// has an HTTP client waiting for its answer, so the linger bounds how many publishes a given
    /// number of clients can make per second: against Tansu with 256 clients, 1 ms gave 42 700 and
    /// 45 500 POST/s, 2 ms 38 200, librdkafka's default of 5 ms 27 400, and 0 ms 35 500 (a request
    /// per message costs the broker more; while 5 requests are in flight the next batch still
    /// fills).
    static let lingerMs = "1"
    /// A publish fails after 30 s instead of librdkafka's 300 s: an HTTP client is waiting for
    /// its `202`, and a clear `500` beats a request that hangs for five minutes.
    static let messageTimeoutMs = "30000"

    /// librdkafka's statistics every 15 s become metrics (``KafkaStatistics``): traffic, queue
    /// depth, broker round trips, rebalances.
    static let statisticsIntervalMs = "15000"

    // MARK: Consumer settings Sluice fixes

    /// With QoS auto, what clients acknowledged is committed every second (librdkafka: 5 s), so a
    /// returning client sees at most a second of repeats.
    static let autoCommitIntervalMs = "1000"
    /// Offsets are stored only when the entrypoint acknowledges a message (the connector calls
    /// `rd_kafka_offsets_store`), so a commit, automatic or not, never covers a message a client
    /// has not had.
    static let enableAutoOffsetStore = "false"
    /// A subscriber that vanished without leaving its group (a crash, a dropped network) gives up
    /// its partitions within 6 s, the brokers' default `group.min.session.timeout.ms`, instead of
    /// librdkafka's 45 s.
    static let sessionTimeoutMs = "6000"
    /// A quarter of the session timeout, so that three heartbeats may be lost before the session is.
    static let heartbeatIntervalMs = "1500"
    /// No end-of-partition events: a stream waits for the next message.
    static let enablePartitionEOF = "false"
    /// Each subscriber has its own consumer, so its prefetch is kept small: librdkafka's defaults
    /// (100 000 messages, 64 MB per consumer) times thousands of subscribers would hold gigabytes
    /// for clients that read slowly. 1000 messages or 4 MB per consumer bound it (DESIGN rule 10)
    /// and still fill a fast client's next batches.
    static let queuedMinMessages = "1000"
    static let queuedMaxMessagesKbytes = "4096"

    // MARK: Properties

    /// `bootstrap.servers`, `security.protocol`, `sasl.mechanisms` and the `sasl.*` the JAAS line
    /// stands for, `ssl.*`. Throws `configurationInvalid` when a store file is missing or
    /// unreadable, a password is wrong or a store is corrupt (the detail names the store and the
    /// problem, never a secret).
    static func common(_ configuration: KafkaEndpointConfiguration) throws(GatewayError) -> [String: String] {
        var properties = [
            "bootstrap.servers": configuration.bootstrapServers,
            "security.protocol": configuration.securityProtocol.rawValue.lowercased(),
            "statistics.interval.ms": statisticsIntervalMs,
        ]
        if configuration.securityProtocol.usesSASL {
            guard let mechanism = configuration.saslMechanism, let jaas = configuration.jaas else {
                throw .configurationInvalid(detail: "security.sasl: \(configuration.securityProtocol.rawValue) needs saslMechanism and a valid saslJaasConfig")
            }
            guard jaas.supports(mechanism) else {
                throw .configurationInvalid(detail: "security.sasl: \(mechanism.rawValue) cannot log in with the \(jaas.loginModule.shortName)")
            }
            properties["sasl.mechanisms"] = mechanism.rawValue
            properties.merge(jaas.properties) { _, fromJAAS in fromJAAS }
        }
        if configuration.securityProtocol.usesTLS {
            // Without a trust store librdkafka trusts the system's CA certificates.
            let stores = configuration.tls ?? TLSStores()
            properties["ssl.endpoint.identification.algorithm"] = stores.hostnameVerification ? "https" : "none"
            if let trust = stores.trustStore { try addTrustStore(trust, to: &properties) }
            if let key = stores.keyStore { try addKeyStore(key, to: &properties) }
        }
        return properties
    }

    /// ``common(_:)`` and the producer settings above, with the configured `compression.type`.
    static func producer(_ configuration: KafkaEndpointConfiguration) throws(GatewayError) -> [String: String] {
        var properties = try common(configuration)
        properties["acks"] = acks
        properties["enable.idempotence"] = enableIdempotence
        properties["max.in.flight.requests.per.connection"] = maxInFlightRequestsPerConnection
        properties["linger.ms"] = lingerMs
        properties["compression.type"] = (configuration.producer?.compression ?? KafkaEndpointConfiguration.Compression.none).rawValue
        properties["message.timeout.ms"] = messageTimeoutMs
        return properties
    }

    /// ``common(_:)`` and the consumer settings above, for one subscriber's consumer in group
    /// `groupId`; `autoOffsetReset` none becomes librdkafka's `error`.
    static func consumer(_ configuration: KafkaEndpointConfiguration, groupId: String, autoCommit: Bool) throws(GatewayError) -> [String: String] {
        var properties = try common(configuration)
        properties["group.id"] = groupId
        let reset = configuration.consumer?.autoOffsetReset ?? .latest
        properties["auto.offset.reset"] = reset == .none ? "error" : reset.rawValue
        properties["enable.auto.commit"] = autoCommit ? "true" : "false"
        properties["auto.commit.interval.ms"] = autoCommitIntervalMs
        properties["enable.auto.offset.store"] = enableAutoOffsetStore
        properties["session.timeout.ms"] = sessionTimeoutMs
        properties["heartbeat.interval.ms"] = heartbeatIntervalMs
        properties["enable.partition.eof"] = enablePartitionEOF
        properties["queued.min.messages"] = queuedMinMessages
        properties["queued.max.messages.kbytes"] = queuedMaxMessagesKbytes
        return properties
    }

    /// Names of the librdkafka properties whose values are secrets, so that logs and errors can
    /// redact them.
    static let secretNames: Set<String> = [
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        // May carry extension values and, in custom setups, credentials.
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.extensions",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.private.key.pem",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
    ]

    /// `properties` with every secret value replaced by `<redacted>`, for logs.
    static func redacted(_ properties: [String: String]) -> [String: String] {
        var copy = properties
        for name in secretNames where copy[name] != nil { copy[name] = "<redacted>" }
        return copy
    }

    // MARK: Stores

    /// PEM by location → `ssl.ca.location`; inline PEM → `ssl.ca.pem`; JKS and PKCS12 (a file or
    /// inline base64) → their certificates as `ssl.ca.pem`.
    private static func addTrustStore(_ store: TLSStores.TrustStore, to properties: inout [String: String]) throws(GatewayError) {
        let path = "security.ssl.trustStore"
        switch store.type {
        case .pem:
            // Read now so that a missing file or one without certificates fails the deployment.
            _ = try checked(path) { () throws(NIOSSLStores.StoreError) in try NIOSSLStores.trustedCertificates(store) }
            switch store.source {
            case .file(let location): properties["ssl.ca.location"] = location
            case .inline(let pem): properties["ssl.ca.pem"] = pem
            }
        case .jks, .pkcs12:
            let contents = try checked(path) { () throws(NIOSSLStores.StoreError) in
                try NIOSSLStores.readBundle(store.type, store.source, password: store.password, keyPassword: nil, what: "trust store")
            }
            let pem = contents.pemCertificates + contents.pemKeyCertificateChain
            guard !pem.isEmpty else {
                throw .configurationInvalid(detail: "\(path): the \(store.type.rawValue) trust store \(NIOSSLStores.describe(store.source)) holds no certificate")
            }
            properties["ssl.ca.pem"] = pem
        case .none:
            break
        }
    }

    /// PEM: the chain by location → `ssl.certificate.location`, inline → `ssl.certificate.pem`;
    /// the key by location → `ssl.key.location`, inline → `ssl.key.pem`; `ssl.key.password`.
    /// JKS and PKCS12 → the key's chain as `ssl.certificate.pem` and the key, decrypted, as
    /// `ssl.key.pem`.
    private static func addKeyStore(_ store: TLSStores.KeyStore, to properties: inout [String: String]) throws(GatewayError) {
        let path = "security.ssl.keyStore"
        switch store {
        case .pem(let chain, let key, let keyPassword):
            // Read now: a missing file, a chain without certificates or a wrong key password fails
            // the deployment instead of every connection.
            _ = try checked(path) { () throws(NIOSSLStores.StoreError) in try NIOSSLStores.identity(store) }
            switch chain {
            case .file(let location): properties["ssl.certificate.location"] = location
            case .inline(let pem): properties["ssl.certificate.pem"] = pem
            }
            switch key {
            case .file(let location): properties["ssl.key.location"] = location
            case .inline(let pem): properties["ssl.key.pem"] = pem
            }
            if let keyPassword, !keyPassword.isEmpty { properties["ssl.key.password"] = keyPassword }
        case .bundle(let type, let source, let password, let keyPassword):
            let contents = try checked(path) { () throws(NIOSSLStores.StoreError) in
                try NIOSSLStores.readBundle(type, source, password: password, keyPassword: keyPassword, what: "key store")
            }
            guard let keyPEM = contents.pemPrivateKey, !contents.keyCertificateChain.isEmpty else {
                throw .configurationInvalid(
                    detail: "\(path): the \(type.rawValue) key store \(NIOSSLStores.describe(source)) holds no private key with its certificate")
            }
            properties["ssl.certificate.pem"] = contents.pemKeyCertificateChain
            properties["ssl.key.pem"] = keyPEM
        }
    }

    /// Runs a store reader; its error (which names the store, never a password) becomes
    /// `configurationInvalid` with the member's path.
    private static func checked<T>(_ path: String, _ read: () throws(NIOSSLStores.StoreError) -> T) throws(GatewayError) -> T {
        do {
            return try read()
        } catch {
            throw .configurationInvalid(detail: "\(path): \(error.description)")
        }
    }
}
