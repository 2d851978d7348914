/// The one trust/key store model of every endpoint (DESIGN rule 6): PEM, JKS or PKCS12, each from a
/// file or inline, with passwords. Endpoints read it from their configuration in one of the two
/// spellings the contract uses, and the native clients and librdkafka each turn it into their own
/// settings in one place.
public struct TLSStores: Sendable, Hashable {
    public enum StoreType: String, Sendable, Hashable, CaseIterable {
        case pem = "PEM"
        case jks = "JKS"
        case pkcs12 = "PKCS12"
        case none = "NONE"
    }

    /// Where store bytes come from: a file, or inline content (PEM text; base64 for JKS and PKCS12).
    public enum Source: Sendable, Hashable {
        case file(String)
        case inline(String)
    }

    public struct TrustStore: Sendable, Hashable {
        public var type: StoreType
        public var source: Source
        public var password: String?
    }

    public enum KeyStore: Sendable, Hashable {
        /// A PEM certificate chain and its private key (encrypted when `keyPassword` is given).
        case pem(certificateChain: Source, key: Source, keyPassword: String?)
        /// A PKCS12 or JKS store holding the key and its chain.
        case bundle(type: StoreType, source: Source, password: String?, keyPassword: String?)
    }

    public var trustStore: TrustStore?
    public var keyStore: KeyStore?
    /// Whether the server's name must match its certificate.
    public var hostnameVerification: Bool

    public init(trustStore: TrustStore? = nil, keyStore: KeyStore? = nil, hostnameVerification: Bool = true) {
        self.trustStore = trustStore
        self.keyStore = keyStore
        self.hostnameVerification = hostnameVerification
    }

    /// The spellings of store members in the contract.
    public enum Spelling: Sendable {
        /// MQTT 5 and RabbitMQ: `trustStore.{type,path,content,password}`,
        /// `keyStore.{type,path,content,password,certPath,certContent,keyPath,keyContent,keyPassword}`.
        case pathContent
        /// Kafka: `trustStore.{type,location,certificates,password}` (`certificates` inline: PEM
        /// text, or base64 for JKS and PKCS12) and
        /// `keyStore.{type,location,certificateChain,key,keyPassword,password}`. A PEM key store
        /// takes its chain from inline `certificateChain` or from the file `location`, and its key
        /// from inline `key` or from the same `location` (a PEM file holding the private key and
        /// its chain together). A JKS or PKCS12 key store is the file `location`; Sluice also
        /// accepts its content inline, base64, as `keyStore.content` (not in the contract, which
        /// names only `location`).
        case kafka
    }

    /// Reads the stores from a validated `ssl` object; a store whose type is absent or `NONE` is
    /// no store. Incomplete stores are reported by ``problems(in:spelling:at:)`` at validation.
    public static func read(ssl: JSONValue?, spelling: Spelling) -> TLSStores {
        var stores = TLSStores(hostnameVerification: ssl?["hostnameVerifier"]?.boolValue ?? true)
        let keys = Keys(spelling)
        if let trust = ssl?["trustStore"], let type = storeType(trust), type != .none,
            let source = source(trust, file: keys.trustFile, inline: keys.trustInline)
        {
            stores.trustStore = TrustStore(type: type, source: source, password: trust["password"]?.stringValue)
        }
        if let key = ssl?[keys.keyStore], let type = storeType(key), type != .none {
            if type == .pem {
                if let chain = source(key, file: keys.certificateFile, inline: keys.certificateInline),
                    let privateKey = source(key, file: keys.keyFile, inline: keys.keyInline)
                {
                    stores.keyStore = .pem(certificateChain: chain, key: privateKey, keyPassword: key["keyPassword"]?.stringValue)
                }
            } else if let source = source(key, file: keys.bundleFile, inline: keys.bundleInline) {
                stores.keyStore = .bundle(
                    type: type, source: source, password: key["password"]?.stringValue, keyPassword: key["keyPassword"]?.stringValue)
            }
        }
        return stores
    }

    /// Every way the stores in `ssl` are incomplete, with paths.
    public static func problems(in ssl: JSONValue?, spelling: Spelling, at path: DocumentPath) -> [Problem] {
        var problems: [Problem] = []
        let keys = Keys(spelling)
        if let trust = ssl?["trustStore"], let type = storeType(trust), type != .none {
            let storePath = path + "trustStore"
            if source(trust, file: keys.trustFile, inline: keys.trustInline) == nil {
                problems.append(Problem(storePath, "a \(type.rawValue) trust store needs \(keys.trustFile) or \(keys.trustInline)"))
            }
            if type == .jks, trust["password"]?.stringValue == nil {
                problems.append(Problem(storePath + "password", "is required for a JKS trust store"))
            }
        }
        let keyStoreName = keys.keyStore
        if let key = ssl?[keyStoreName], let type = storeType(key), type != .none {
            let storePath = path + keyStoreName
            if type == .pem {
                if source(key, file: keys.certificateFile, inline: keys.certificateInline) == nil {
                    problems.append(Problem(storePath, "a PEM key store needs the certificate chain (\(keys.certificateFile) or \(keys.certificateInline))"))
                }
                if source(key, file: keys.keyFile, inline: keys.keyInline) == nil {
                    problems.append(Problem(storePath, "a PEM key store needs the private key (\(keys.keyFile) or \(keys.keyInline))"))
                }
            } else {
                if source(key, file: keys.bundleFile, inline: keys.bundleInline) == nil {
                    problems.append(Problem(storePath, "a \(type.rawValue) key store needs \(keys.bundleFile) or \(keys.bundleInline)"))
                }
                if key["password"]?.stringValue == nil {
                    problems.append(Problem(storePath + "password", "is required for a \(type.rawValue) key store"))
                }
            }
        }
        return problems
    }

    /// The member names of one spelling.
    private struct Keys {
        /// A trust store's file and inline content.
        let trustFile: String
        let trustInline: String
        let keyStore: String
        /// A JKS or PKCS12 key store's file and inline (base64) content.
        let bundleFile: String
        let bundleInline: String
        /// A PEM key store's certificate chain and private key, each a file or inline PEM.
        let certificateFile: String
        let certificateInline: String
        let keyFile: String
        let keyInline: String

        init(_ spelling: Spelling) {
            keyStore = "keyStore"
            switch spelling {
            case .pathContent:
                (trustFile, trustInline, bundleFile, bundleInline) = ("path", "content", "path", "content")
                (certificateFile, certificateInline, keyFile, keyInline) = ("certPath", "certContent", "keyPath", "keyContent")
            case .kafka:
                (trustFile, trustInline, bundleFile, bundleInline) = ("location", "certificates", "location", "content")
                (certificateFile, certificateInline, keyFile, keyInline) = ("location", "certificateChain", "location", "key")
            }
        }
    }

    private static func storeType(_ store: JSONValue) -> StoreType? {
        guard let label = store["type"]?.stringValue else { return nil }
        return StoreType.allCases.first { $0.rawValue.caseInsensitiveEquals(label) }
    }

    private static func source(_ store: JSONValue, file: String, inline: String) -> Source? {
        if let content = store[inline]?.stringValue, !content.isEmpty { return .inline(content) }
        if let path = store[file]?.stringValue, !path.isEmpty { return .file(path) }
        return nil
    }

    /// The JSON Schema of an `ssl` object in the MQTT 5 / RabbitMQ spelling.
    public static let pathContentSchema = JSONSchema.object(
        title: "SSL",
        [
            ("hostnameVerifier", .boolean(title: "Verify the server's host name", default: true)),
            (
                "trustStore",
                .object(
                    title: "Trust store",
                    [
                        ("type", .string(title: "Type", enum: StoreType.allCases.map(\.rawValue))),
                        ("path", .string(title: "Path to the trust store file")),
                        ("content", .string(title: "Content (PEM text, or base64 for JKS and PKCS12)", contentMediaType: "application/x-pem-file")),
                        ("password", .string(title: "Password", secret: true)),
                    ])
            ),
            (
                "keyStore",
                .object(
                    title: "Key store (client certificate)",
                    [
                        ("type", .string(title: "Type", enum: StoreType.allCases.map(\.rawValue))),
                        ("path", .string(title: "Path to the key store file (JKS, PKCS12)")),
                        ("content", .string(title: "Content (base64 for JKS and PKCS12)", contentMediaType: "application/octet-stream")),
                        ("password", .string(title: "Password", secret: true)),
                        ("certPath", .string(title: "Path to the PEM certificate chain")),
                        ("certContent", .string(title: "PEM certificate chain", contentMediaType: "application/x-pem-file")),
                        ("keyPath", .string(title: "Path to the PEM private key")),
                        ("keyContent", .string(title: "PEM private key", secret: true, contentMediaType: "application/x-pem-file")),
                        ("keyPassword", .string(title: "Private key password", secret: true)),
                    ])
            ),
        ])

    /// The JSON Schema of an `ssl` object in the Kafka spelling (see ``Spelling/kafka``).
    public static let kafkaSchema = JSONSchema.object(
        title: "SSL",
        [
            ("hostnameVerifier", .boolean(title: "Verify the server's host name", default: true)),
            (
                "trustStore",
                .object(
                    title: "Trust store",
                    [
                        ("type", .string(title: "Type", enum: StoreType.allCases.map(\.rawValue))),
                        ("location", .string(title: "Path to the trust store file")),
                        ("certificates", .string(title: "Certificates (PEM text, or base64 for JKS and PKCS12)", contentMediaType: "application/x-pem-file")),
                        ("password", .string(title: "Password (JKS, PKCS12)", secret: true)),
                    ])
            ),
            (
                "keyStore",
                .object(
                    title: "Key store (client certificate)",
                    [
                        ("type", .string(title: "Type", enum: StoreType.allCases.map(\.rawValue))),
                        (
                            "location",
                            .string(
                                title: "Path to the key store file",
                                description: "JKS or PKCS12; for PEM, a file holding the private key and its certificate chain.")
                        ),
                        ("certificateChain", .string(title: "PEM certificate chain", contentMediaType: "application/x-pem-file")),
                        ("key", .string(title: "PEM private key", secret: true, contentMediaType: "application/x-pem-file")),
                        ("keyPassword", .string(title: "Private key password", secret: true)),
                        ("password", .string(title: "Password (JKS, PKCS12)", secret: true)),
                        (
                            "content",
                            .string(
                                title: "Content (base64, JKS and PKCS12)",
                                description: "The key store inline instead of a location (a Sluice extension).", secret: true,
                                contentMediaType: "application/octet-stream")
                        ),
                    ])
            ),
        ])
}
