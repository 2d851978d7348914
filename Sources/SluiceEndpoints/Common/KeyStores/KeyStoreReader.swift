/// Pure-Swift readers for JKS and PKCS#12 key stores.
///
/// Both entry points detect the format from the content, as keytool does (`keystore.type.compat`):
/// a file configured as "JKS" is often PKCS#12 (keytool's default since JDK 9) and vice versa.
/// JCEKS files are recognised and refused with a clear error.
///
/// Passwords (`keyPassword` defaults to `password`, as with keytool):
/// - JKS: `password` checks the file's integrity digest, `keyPassword` decrypts the private key.
///   With no password at all the integrity check is skipped and trusted certificates are returned;
///   a private key entry then fails with `.passwordRequired`.
/// - PKCS#12: `password` checks the MAC and decrypts certificates; key bags are decrypted with
///   `keyPassword` first, then `password` (and encrypted SafeContents the other way round).
///   `nil` and `""` are the same; both encodings OpenSSL uses for an empty password are tried.
enum KeyStoreReader {
    enum Format: String, Sendable {
        case jks = "JKS"
        case pkcs12 = "PKCS#12"
    }

    static func readPKCS12(_ bytes: [UInt8], password: String?, keyPassword: String? = nil) throws(KeyStoreError) -> KeyStoreContents {
        try self.read(bytes, password: password, keyPassword: keyPassword)
    }

    static func readJKS(_ bytes: [UInt8], password: String?, keyPassword: String? = nil) throws(KeyStoreError) -> KeyStoreContents {
        try self.read(bytes, password: password, keyPassword: keyPassword)
    }

    /// Reads a JKS or PKCS#12 store, whichever `bytes` is.
    static func read(_ bytes: [UInt8], password: String?, keyPassword: String? = nil) throws(KeyStoreError) -> KeyStoreContents {
        switch try self.detectFormat(bytes) {
        case .jks: try KeyStoreJKS.read(bytes, password: password, keyPassword: keyPassword)
        case .pkcs12: try KeyStorePKCS12.read(bytes, password: password, keyPassword: keyPassword)
        }
    }

    static func detectFormat(_ bytes: [UInt8]) throws(KeyStoreError) -> Format {
        guard bytes.count <= KeyStoreLimits.maximumStoreSize else {
            throw .malformed("key store of \(bytes.count) bytes exceeds the limit of \(KeyStoreLimits.maximumStoreSize) bytes")
        }
        guard bytes.count >= 4 else { throw .malformed("key store is empty or truncated (\(bytes.count) bytes)") }
        let magic = bytes.prefix(4).reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
        switch magic {
        case KeyStoreJKS.magic:
            return .jks
        case KeyStoreJKS.jceksMagic:
            throw .unsupportedFormat(
                "JCEKS key stores are not supported; convert with `keytool -importkeystore -srckeystore FILE "
                    + "-srcstoretype JCEKS -destkeystore FILE.p12 -deststoretype PKCS12`")
        default:
            break
        }
        if bytes[0] == 0x30 {
            return .pkcs12
        }
        if bytes.starts(with: Array("-----BEGIN".utf8)) {
            throw .unsupportedFormat("the file is PEM, not a JKS or PKCS#12 key store; configure it as a PEM store")
        }
        throw .malformed("the file is neither a JKS (magic 0xFEEDFEED) nor a PKCS#12 (DER SEQUENCE) key store")
    }
}
