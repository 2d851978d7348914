// Errors raised by the JKS / PKCS#12 key store readers.
//
// Messages name formats, algorithms, OIDs, aliases, sizes and offsets only. They never contain
// the password, derived keys, or any decrypted key material.

struct KeyStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    enum Kind: String, Sendable, Equatable {
        /// The password is wrong: the integrity check (JKS digest, PKCS#12 MAC) failed, or,
        /// without an integrity check, decryption produced garbage.
        case wrongPassword
        /// The store needs a password to be read (e.g. a JKS private key entry and no password given).
        case passwordRequired
        /// The store uses an algorithm or feature this reader does not implement.
        case unsupportedAlgorithm
        /// The file is a key store type this reader does not implement (JCEKS, BKS, ...).
        case unsupportedFormat
        /// The file is truncated, corrupted, exceeds a size limit, or is not a key store at all.
        case malformed
    }

    var kind: Kind
    /// Human readable detail, safe to log.
    var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String {
        switch self.kind {
        case .wrongPassword: "key store password is incorrect: \(self.message)"
        case .passwordRequired: "key store password required: \(self.message)"
        case .unsupportedAlgorithm: "unsupported key store algorithm: \(self.message)"
        case .unsupportedFormat: "unsupported key store format: \(self.message)"
        case .malformed: "malformed key store: \(self.message)"
        }
    }

    static func wrongPassword(_ message: String) -> KeyStoreError { KeyStoreError(.wrongPassword, message) }
    static func passwordRequired(_ message: String) -> KeyStoreError { KeyStoreError(.passwordRequired, message) }
    static func unsupportedAlgorithm(_ message: String) -> KeyStoreError { KeyStoreError(.unsupportedAlgorithm, message) }
    static func unsupportedFormat(_ message: String) -> KeyStoreError { KeyStoreError(.unsupportedFormat, message) }
    static func malformed(_ message: String) -> KeyStoreError { KeyStoreError(.malformed, message) }

    /// Advice appended to unsupported-algorithm errors of PKCS#12 files.
    static let pkcs12ReexportAdvice =
        "re-export the store with modern algorithms, e.g. `openssl pkcs12 -export` (OpenSSL 3 without -legacy, or "
        + "with -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256), or `keytool -importkeystore "
        + "-deststoretype PKCS12` with a current JDK"
}
