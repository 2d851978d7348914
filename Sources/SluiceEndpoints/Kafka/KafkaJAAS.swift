/// A Kafka `sasl.jaas.config` line (the contract's `security.sasl.saslJaasConfig`), parsed and
/// turned into the librdkafka properties that mean the same thing.
///
/// The line names one login module, its control flag and its options, ending with `;`:
///
///     org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
///
/// Option values are quoted (`"..."`, where a backslash takes the next character literally and
/// `\n`, `\t`, `\r` are a line feed, tab and carriage return) or bare (up to the next space or
/// `;`). As in Kafka, the line holds exactly one login module.
///
/// A value is only made when the line parses and its module has the options librdkafka needs, so
/// ``properties`` always works. Errors name positions, option names and what was expected, never
/// an option value; ``description`` and the mirror redact the values too.
public struct KafkaJAAS: Sendable, Hashable {
    public enum LoginModule: String, Sendable, CaseIterable {
        case plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        case scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        case oauthBearer = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
        case kerberos = "com.sun.security.auth.module.Krb5LoginModule"

        /// The class name without its package (`PlainLoginModule`).
        public var shortName: String { String(rawValue.split(separator: ".").last ?? "") }

        /// The SASL mechanisms this module logs in with.
        public var mechanisms: [KafkaEndpointConfiguration.SASLMechanism] {
            switch self {
            case .plain: return [.plain]
            case .scram: return [.scramSHA256, .scramSHA512]
            case .oauthBearer: return [.oauthBearer]
            case .kerberos: return [.gssapi]
            }
        }
    }

    public enum ControlFlag: String, Sendable, CaseIterable {
        case required, requisite, sufficient, optional
    }

    /// Why a line cannot be used. The message names positions (1-based characters), option names
    /// and what was expected; it never holds an option value.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let description: String

        init(_ description: String) { self.description = description }

        static func at(_ position: Int, _ message: String) -> ParseError {
            ParseError("at character \(position + 1): \(message)")
        }
    }

    public let loginModule: LoginModule
    public let controlFlag: ControlFlag
    /// Every option of the line, by name.
    public let options: [String: String]
    /// The librdkafka properties the line stands for (`sasl.username`, `sasl.oauthbearer.config`,
    /// `sasl.kerberos.keytab`, ...). `sasl.mechanisms` is not among them: it comes from the
    /// configuration's `saslMechanism`.
    public let properties: [String: String]
    /// Names of options librdkafka has no equivalent for; they are ignored (validation warns).
    public let ignoredOptions: [String]

    public init(parsing line: String) throws(ParseError) {
        var parser = Parser(Array(line))
        let parsed = try parser.parse()
        loginModule = parsed.module
        controlFlag = parsed.flag
        options = parsed.options
        let mapping = try Self.map(parsed.module, parsed.options)
        properties = mapping.properties
        ignoredOptions = mapping.ignored.sorted()
    }

    /// Whether the line's login module is the one `mechanism` needs.
    public func supports(_ mechanism: KafkaEndpointConfiguration.SASLMechanism) -> Bool {
        loginModule.mechanisms.contains(mechanism)
    }
}

// MARK: - Redaction

extension KafkaJAAS: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The module, flag and option names; every value is `<redacted>`.
    public var description: String {
        let names = options.keys.sorted().map { "\($0)=<redacted>" }
        return (["\(loginModule.shortName)", controlFlag.rawValue] + names).joined(separator: " ") + ";"
    }

    public var debugDescription: String { "KafkaJAAS(\(description))" }

    /// `dump` and reflection show the same redacted text, never the values.
    public var customMirror: Mirror {
        Mirror(self, children: ["loginModule": loginModule, "controlFlag": controlFlag, "options": options.keys.sorted().map { "\($0)=<redacted>" }])
    }
}

// MARK: - Parsing

extension KafkaJAAS {
    private struct Parsed {
        var module: LoginModule
        var flag: ControlFlag
        var options: [String: String]
    }

    private struct Parser {
        let characters: [Character]
        var index = 0

        init(_ characters: [Character]) { self.characters = characters }

        var atEnd: Bool { index >= characters.count }
        var current: Character? { atEnd ? nil : characters[index] }

        mutating func skipSpaces() {
            while let character = current, character.isWhitespace { index += 1 }
        }

        /// Characters up to a space, `;`, `=` or `"`.
        mutating func word() -> String {
            let start = index
            while let character = current, !character.isWhitespace, character != ";", character != "=", character != "\"" { index += 1 }
            return String(characters[start..<index])
        }

        mutating func parse() throws(ParseError) -> Parsed {
            skipSpaces()
            let moduleStart = index
            let moduleName = word()
            guard !moduleName.isEmpty else {
                throw .at(moduleStart, "expected the login module's class name (such as \(LoginModule.plain.rawValue))")
            }
            guard let module = LoginModule(rawValue: moduleName) else {
                let known = LoginModule.allCases.map(\.rawValue).joined(separator: ", ")
                // A class name is shown; anything else may be a misplaced value and is not.
                let shown = Self.isClassName(moduleName) ? " \(moduleName)" : ""
                throw .at(moduleStart, "unknown login module\(shown) (known: \(known))")
            }
            skipSpaces()
            let flagStart = index
            let flagWord = word()
            guard let flag = ControlFlag(rawValue: flagWord) else {
                let found = flagWord.isEmpty ? "" : (flagWord.allSatisfy(\.isLetter) ? " (found \(flagWord))" : "")
                throw .at(flagStart, "expected a control flag after the login module: required, requisite, sufficient or optional\(found)")
            }
            var options: [String: String] = [:]
            while true {
                skipSpaces()
                guard let character = current else {
                    throw .at(index, "expected ';' at the end of the line")
                }
                if character == ";" {
                    index += 1
                    skipSpaces()
                    guard atEnd else {
                        throw .at(index, "expected the end of the line after ';' (saslJaasConfig holds exactly one login module)")
                    }
                    return Parsed(module: module, flag: flag, options: options)
                }
                let nameStart = index
                let name = word()
                // The name is not shown until it is known to be followed by '=': a stray word may be a value.
                guard !name.isEmpty, Self.isOptionName(name) else {
                    throw .at(nameStart, "expected an option name (letters, digits, '_', '.', '-') or ';'")
                }
                skipSpaces()
                guard current == "=" else {
                    throw .at(index, "expected '=' after an option name")
                }
                index += 1
                skipSpaces()
                let value = try self.value(of: name)
                guard options.updateValue(value, forKey: name) == nil else {
                    throw .at(nameStart, "option \(name) is given twice")
                }
            }
        }

        /// A quoted or bare value; the error names the option, never the value.
        mutating func value(of name: String) throws(ParseError) -> String {
            let start = index
            guard current == "\"" else {
                while let character = current, !character.isWhitespace, character != ";" {
                    if character == "\"" {
                        throw .at(index, "a quote inside the unquoted value of option \(name); quote the whole value")
                    }
                    index += 1
                }
                guard index > start else { throw .at(start, "option \(name) has no value (write \(name)=\"\")") }
                return String(characters[start..<index])
            }
            index += 1
            var value = ""
            while let character = current {
                index += 1
                switch character {
                case "\"":
                    return value
                case "\\":
                    guard let escaped = current else { break }
                    index += 1
                    switch escaped {
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case "r": value.append("\r")
                    default: value.append(escaped)
                    }
                default:
                    value.append(character)
                }
            }
            throw .at(start, "the quoted value of option \(name) is not closed (a '\"' is missing)")
        }

        static func isClassName(_ text: String) -> Bool {
            text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "$") }
        }

        static func isOptionName(_ text: String) -> Bool {
            text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
        }
    }
}

// MARK: - Mapping to librdkafka

extension KafkaJAAS {
    /// Option names of the OIDC client credentials flow (KIP-768), with the aliases accepted:
    /// Kafka reads the token endpoint from the `sasl.oauthbearer.token.endpoint.url` property,
    /// which a JAAS line cannot carry, so the line may name it `tokenEndpointUrl` (or Strimzi's
    /// `oauth.token.endpoint.uri`).
    static let oidcClientId = ["clientId", "oauth.client.id"]
    static let oidcClientSecret = ["clientSecret", "oauth.client.secret"]
    static let oidcScope = ["scope", "oauth.scope"]
    static let oidcTokenEndpoint = ["tokenEndpointUrl", "oauth.token.endpoint.uri", "sasl.oauthbearer.token.endpoint.url"]

    private static func map(_ module: LoginModule, _ options: [String: String]) throws(ParseError) -> (properties: [String: String], ignored: [String]) {
        var used: Set<String> = []
        func option(_ names: [String]) -> String? {
            for name in names {
                if let value = options[name] {
                    used.insert(name)
                    return value
                }
            }
            return nil
        }
        func required(_ name: String) throws(ParseError) -> String {
            guard let value = option([name]) else { throw ParseError("the \(module.shortName) needs the option \(name)") }
            guard !value.isEmpty else { throw ParseError("option \(name) of the \(module.shortName) must not be empty") }
            return value
        }

        var properties: [String: String] = [:]
        switch module {
        case .plain, .scram:
            properties["sasl.username"] = try required("username")
            properties["sasl.password"] = try required("password")
        case .oauthBearer:
            let unsecured = options.keys.contains { $0.hasPrefix("unsecuredLogin") }
            let oidcNames = oidcClientId + oidcClientSecret + oidcTokenEndpoint
            let oidc = options.keys.contains { oidcNames.contains($0) }
            if unsecured, oidc {
                throw ParseError("the OAuthBearerLoginModule takes either unsecuredLogin* options (an unsecured token) or OIDC options (clientId, clientSecret, tokenEndpointUrl), not both")
            } else if unsecured {
                try mapUnsecuredToken(options, used: &used, into: &properties)
            } else if oidc {
                guard let clientId = option(oidcClientId), !clientId.isEmpty else { throw ParseError("OIDC login with the OAuthBearerLoginModule needs the option clientId") }
                guard let clientSecret = option(oidcClientSecret), !clientSecret.isEmpty else {
                    throw ParseError("OIDC login with the OAuthBearerLoginModule needs the option clientSecret")
                }
                guard let endpoint = option(oidcTokenEndpoint), !endpoint.isEmpty else {
                    throw ParseError("OIDC login with the OAuthBearerLoginModule needs the token endpoint as the option tokenEndpointUrl")
                }
                guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://") || endpoint.hasPrefix("file://") else {
                    throw ParseError("option tokenEndpointUrl must be an http, https or file URL")
                }
                properties["sasl.oauthbearer.method"] = "oidc"
                properties["sasl.oauthbearer.client.id"] = clientId
                properties["sasl.oauthbearer.client.secret"] = clientSecret
                properties["sasl.oauthbearer.token.endpoint.url"] = endpoint
                if let scope = option(oidcScope), !scope.isEmpty { properties["sasl.oauthbearer.scope"] = scope }
                let extensions = try extensionPairs(options, prefix: "extension_", used: &used, separator: ",")
                if !extensions.isEmpty { properties["sasl.oauthbearer.extensions"] = extensions.joined(separator: ",") }
            } else {
                throw ParseError(
                    "the OAuthBearerLoginModule needs either unsecuredLoginStringClaim_sub (an unsecured token, for tests) or clientId, clientSecret and tokenEndpointUrl (OIDC)"
                )
            }
        case .kerberos:
            if let principal = option(["principal"]), !principal.isEmpty { properties["sasl.kerberos.principal"] = principal }
            let keyTab = option(["keyTab"])
            if let keyTab, !keyTab.isEmpty { properties["sasl.kerberos.keytab"] = keyTab }
            if let useKeyTab = option(["useKeyTab"]), useKeyTab.lowercased() == "true", (keyTab ?? "").isEmpty {
                throw ParseError("the Krb5LoginModule with useKeyTab=true needs the option keyTab")
            }
            // librdkafka renews tickets with kinit and the keytab; the JAAS storeKey has no counterpart.
            _ = option(["storeKey"])
            let serviceName = option(["serviceName"]) ?? ""
            properties["sasl.kerberos.service.name"] = serviceName.isEmpty ? "kafka" : serviceName
        }
        return (properties, options.keys.filter { !used.contains($0) })
    }

    /// The unsecured JWT of Kafka's default OAUTHBEARER login, in librdkafka's
    /// `sasl.oauthbearer.config` syntax: space-separated `name=value` pairs `principalClaimName`,
    /// `principal`, `scopeClaimName`, `scope` (comma-separated), `lifeSeconds` and
    /// `extension_<name>`.
    private static func mapUnsecuredToken(_ options: [String: String], used: inout Set<String>, into properties: inout [String: String]) throws(ParseError) {
        var pairs: [String] = []
        func take(_ name: String) -> String? {
            guard let value = options[name] else { return nil }
            used.insert(name)
            return value
        }
        func checked(_ value: String, _ name: String) throws(ParseError) -> String {
            guard !value.isEmpty, !value.contains(where: \.isWhitespace) else {
                throw ParseError("option \(name) must be non-empty and without spaces (librdkafka's sasl.oauthbearer.config separates its values by spaces)")
            }
            return value
        }

        var principalClaimName = "sub"
        if let name = take("unsecuredLoginPrincipalClaimName") { principalClaimName = try checked(name, "unsecuredLoginPrincipalClaimName") }
        let principalOption = "unsecuredLoginStringClaim_\(principalClaimName)"
        guard let principal = take(principalOption) else {
            throw ParseError("an unsecured OAUTHBEARER login needs the option \(principalOption) (the principal)")
        }
        if principalClaimName != "sub" { pairs.append("principalClaimName=\(principalClaimName)") }
        pairs.append("principal=\(try checked(principal, principalOption))")

        var scopeClaimName = "scope"
        if let name = take("unsecuredLoginScopeClaimName") { scopeClaimName = try checked(name, "unsecuredLoginScopeClaimName") }
        if scopeClaimName != "scope" { pairs.append("scopeClaimName=\(scopeClaimName)") }
        let listOption = "unsecuredLoginListClaim_\(scopeClaimName)"
        let stringOption = "unsecuredLoginStringClaim_\(scopeClaimName)"
        var scopes: [String] = []
        if let list = take(listOption) {
            // Kafka's list claim: the first character is the delimiter (`|read|write`).
            if let delimiter = list.first {
                scopes = list.dropFirst().split(separator: delimiter).map(String.init)
            }
            if scopes.contains(where: { $0.contains(",") }) {
                throw ParseError("option \(listOption) has a scope with ',' (librdkafka's scope list is comma-separated)")
            }
        } else if let single = take(stringOption) {
            scopes = [single]
        }
        if !scopes.isEmpty { pairs.append("scope=\(try checked(scopes.joined(separator: ","), scopes.count > 1 ? listOption : stringOption))") }

        if let lifetime = take("unsecuredLoginLifetimeSeconds") {
            guard let seconds = Int(lifetime), seconds > 0 else {
                throw ParseError("option unsecuredLoginLifetimeSeconds must be a whole number of seconds above 0")
            }
            pairs.append("lifeSeconds=\(seconds)")
        }
        pairs += try extensionPairs(options, prefix: "unsecuredLoginExtension_", used: &used, separator: " ")
        properties["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
        properties["sasl.oauthbearer.config"] = pairs.joined(separator: " ")
    }

    /// `extension_<name>=<value>` pairs (sorted by name) from options `<prefix><name>`; values may
    /// not hold the separator librdkafka splits them with.
    private static func extensionPairs(_ options: [String: String], prefix: String, used: inout Set<String>, separator: Character) throws(ParseError) -> [String] {
        var pairs: [String] = []
        for name in options.keys.sorted() where name.hasPrefix(prefix) {
            used.insert(name)
            let extensionName = String(name.dropFirst(prefix.count))
            let value = options[name] ?? ""
            guard !extensionName.isEmpty, !value.isEmpty, !value.contains(where: { $0.isWhitespace || $0 == separator || $0 == "=" }) else {
                throw ParseError("option \(name) must name an extension and have a value without spaces, ',' or '='")
            }
            pairs.append(separator == " " ? "extension_\(extensionName)=\(value)" : "\(extensionName)=\(value)")
        }
        return pairs
    }
}
