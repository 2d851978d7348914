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

    /// The spellings of store members in the contract. Kafka's (`location`, `certificates`,
    /// `certificateChain`, `key`) comes with the Kafka endpoint.
    public enum Spelling: Sendable {
        /// MQTT 5 and RabbitMQ: `trustStore.{type,path,content,password}`,
        /// `keyStore.{type,path,content,password,certPath,certContent,keyPath,keyContent,keyPassword}`.
        case pathContent
    }

    /// Reads the stores from a validated `ssl` object; a store whose type is absent or `NONE` is
    /// no store. Incomplete stores are reported by ``problems(in:spelling:at:)`` at validation.
    public static func read(ssl: JSONValue?, spelling: Spelling) -> TLSStores {
        var stores = TLSStores(hostnameVerification: ssl?["hostnameVerifier"]?.boolValue ?? true)
        let keys = Keys(spelling)
        if let trust = ssl?["trustStore"], let type = storeType(trust), type != .none, let source = source(trust, file: keys.file, inline: keys.inline) {
            stores.trustStore = TrustStore(type: type, source: source, password: trust["password"]?.stringValue)
        }
        if let key = ssl?[keys.keyStore], let type = storeType(key), type != .none {
            if type == .pem {
                if let chain = source(key, file: keys.certificateFile, inline: keys.certificateInline),
                    let privateKey = source(key, file: keys.keyFile, inline: keys.keyInline)
                {
                    stores.keyStore = .pem(certificateChain: chain, key: privateKey, keyPassword: key["keyPassword"]?.stringValue)
                }
            } else if let source = source(key, file: keys.file, inline: keys.inline) {
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
            if source(trust, file: keys.file, inline: keys.inline) == nil {
                problems.append(Problem(storePath, "a \(type.rawValue) trust store needs \(keys.file) or \(keys.inline)"))
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
                if source(key, file: keys.file, inline: keys.inline) == nil {
                    problems.append(Problem(storePath, "a \(type.rawValue) key store needs \(keys.file) or \(keys.inline)"))
                }
                if key["password"]?.stringValue == nil {
                    problems.append(Problem(storePath + "password", "is required for a \(type.rawValue) key store"))
                }
            }
        }
        return problems
    }

    private struct Keys {
        let file: String
        let inline: String
        let keyStore: String
        let certificateFile: String
        let certificateInline: String
        let keyFile: String
        let keyInline: String

        init(_ spelling: Spelling) {
            switch spelling {
            case .pathContent:
                (file, inline, keyStore) = ("path", "content", "keyStore")
                (certificateFile, certificateInline, keyFile, keyInline) = ("certPath", "certContent", "keyPath", "keyContent")
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
                        ("content", .string(title: "Content (PEM text, or base64 for JKS and PKCS12)")),
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
                        ("content", .string(title: "Content (base64 for JKS and PKCS12)")),
                        ("password", .string(title: "Password", secret: true)),
                        ("certPath", .string(title: "Path to the PEM certificate chain")),
                        ("certContent", .string(title: "PEM certificate chain")),
                        ("keyPath", .string(title: "Path to the PEM private key")),
                        ("keyContent", .string(title: "PEM private key", secret: true)),
                        ("keyPassword", .string(title: "Private key password", secret: true)),
                    ])
            ),
        ])
}
