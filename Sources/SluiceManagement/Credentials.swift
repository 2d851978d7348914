import Crypto
import Foundation
import SluiceCore
import _CryptoExtras

/// Password hashes as stored: `pbkdf2-sha256$<rounds>$<salt base64>$<hash base64>`.
public enum PasswordHash {
    /// PBKDF2-HMAC-SHA256 rounds of new hashes (OWASP's 2023 figure).
    public static let defaultRounds = 600_000

    public static func make(_ password: String, rounds: Int = defaultRounds) throws -> String {
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }
        let hash = try derive(password, salt: salt, rounds: rounds)
        return "pbkdf2-sha256$\(rounds)$\(salt.base64EncodedString())$\(hash.base64EncodedString())"
    }

    /// Whether `password` matches `stored`, compared in constant time. A malformed hash matches nothing.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds >= 1000, rounds <= 10_000_000,
            let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
            let actual = try? derive(password, salt: salt, rounds: rounds), actual.count == expected.count
        else { return false }
        return zip(actual, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// A random password of 24 letters and digits (about 140 bits).
    public static func randomPassword() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    private static func derive(_ password: String, salt: Data, rounds: Int) throws -> Data {
        // Rounds are checked by the callers (at least 1000 when verifying, defaultRounds when making).
        try KDF.Insecure.PBKDF2.deriveKey(from: Data(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
            .withUnsafeBytes { Data($0) }
    }
}

/// Bearer tokens of the management API: JWTs signed with HMAC-SHA256 (`HS256`) by a key the
/// gateway keeps in its store, with subject and expiry.
public struct BearerTokens: Sendable {
    private let keyBytes: Data
    public let lifetime: Duration

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public init(key: Data, lifetime: Duration = .seconds(8 * 3600)) {
        self.keyBytes = key
        self.lifetime = lifetime
    }

    public static func makeKey() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }

    /// A token for `subject`, valid from `now` for ``lifetime``.
    public func issue(subject: String, now: Date = Date()) -> String {
        let header = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let issuedAt = Int(now.timeIntervalSince1970)
        let expires = issuedAt + Int(lifetime.components.seconds)
        var claims = "{\"sub\":"
        claims += Self.quoted(subject)
        claims += ",\"iat\":\(issuedAt),\"exp\":\(expires)}"
        let signingInput = header + "." + Self.base64URL(Data(claims.utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return signingInput + "." + Self.base64URL(Data(signature))
    }

    /// The subject of a valid, unexpired token signed with this key; nil for anything else.
    public func subject(of token: String, now: Date = Date()) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.data(base64URL: parts[0]), let payload = Self.data(base64URL: parts[1]),
            let signature = Self.data(base64URL: parts[2])
        else { return nil }
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else { return nil }
        guard let headerObject = try? JSONSerialization.jsonObject(with: header) as? [String: Any], headerObject["alg"] as? String == "HS256",
            let claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any], let subject = claims["sub"] as? String,
            let expires = (claims["exp"] as? NSNumber)?.doubleValue, now.timeIntervalSince1970 < expires
        else { return nil }
        return subject
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    private static func quoted(_ text: String) -> String {
        var output = ""
        JSONWriter.appendQuoted(text, to: &output)
        return output
    }
}
