import Crypto
import SwiftASN1

/// Reader for Sun's JKS format (magic 0xFEEDFEED, versions 1 and 2).
///
/// Layout: magic u32, version u32, entry count u32, entries, then a 20-byte SHA-1 digest over
/// (password as UTF-16BE, "Mighty Aphrodite", every preceding byte). An entry is tag u32,
/// alias (u16 length + modified UTF-8), timestamp u64 and
/// - tag 1, private key: u32-length-prefixed EncryptedPrivateKeyInfo, u32 chain length, certificates;
/// - tag 2, trusted certificate: one certificate.
/// A certificate is (version 2 only: a UTF type name, "X.509") followed by u32-length-prefixed DER.
///
/// The private key is protected with Sun's proprietary key protector (OID 1.3.6.1.4.1.42.2.17.1.1):
/// encryptedData = salt(20) || ciphertext || check(20); the key stream is SHA-1 chained over
/// (password UTF-16BE || previous block), starting from the salt; plaintext is PKCS#8 and
/// check = SHA-1(password || plaintext). The key password defaults to the store password
/// (keytool's default); a key with a different password needs `keyPassword`.
enum KeyStoreJKS {
    static let magic: UInt32 = 0xFEED_FEED
    static let jceksMagic: UInt32 = 0xCECE_CECE
    static let keyProtectorOID = "1.3.6.1.4.1.42.2.17.1.1"
    private static let digestSize = 20

    static func read(_ bytes: [UInt8], password: String?, keyPassword: String?) throws(KeyStoreError) -> KeyStoreContents {
        guard bytes.count >= 12 + Self.digestSize else {
            throw .malformed("JKS file is truncated (\(bytes.count) bytes)")
        }
        let bodyEnd = bytes.count - Self.digestSize
        let passwordBytes = password.map(KeyStorePassword.utf16BE)
        let keyPasswordBytes = (keyPassword ?? password).map(KeyStorePassword.utf16BE)

        // Integrity first: a wrong password must not be reported as anything else.
        // Without a password (nil) the check is skipped, like keytool does for reading trusted certificates.
        if let passwordBytes {
            var input = passwordBytes
            input += Array("Mighty Aphrodite".utf8)
            input += bytes[0..<bodyEnd]
            let expected = Array(Insecure.SHA1.hash(data: input))
            guard expected == Array(bytes[bodyEnd...]) else {
                throw .wrongPassword("JKS integrity check failed (wrong store password, or the file is corrupted)")
            }
        }

        var reader = KeyStoreByteReader(bytes, end: bodyEnd, context: "JKS file")
        let magic = try reader.readUInt32("magic")
        guard magic == Self.magic else { throw .malformed("not a JKS file (bad magic)") }
        let version = try reader.readUInt32("version")
        guard version == 1 || version == 2 else {
            throw .unsupportedFormat("JKS version \(version) (only versions 1 and 2 exist)")
        }
        let count = try reader.readUInt32("entry count")

        var contents = KeyStoreContents()
        var entry: UInt32 = 0
        while entry < count {
            entry += 1
            let tag = try reader.readUInt32("entry tag")
            let aliasBytes = try reader.readBytes(Int(try reader.readUInt16("alias length")), "alias")
            let alias = String(decoding: aliasBytes, as: UTF8.self)
            _ = try reader.readUInt64("entry timestamp")
            switch tag {
            case 1:
                let encrypted = try reader.readLengthPrefixed("private key of entry \(entry)", limit: KeyStoreLimits.maximumEntrySize)
                let chainLength = try reader.readUInt32("certificate chain length")
                var chain: [[UInt8]] = []
                var index: UInt32 = 0
                while index < chainLength {
                    index += 1
                    chain.append(try Self.readCertificate(&reader, version: version, what: "certificate \(index) of entry \(entry)"))
                }
                // Only the first private key is decrypted and returned.
                guard contents.privateKey == nil else { continue }
                guard let keyPasswordBytes else {
                    throw .passwordRequired("JKS private key entry '\(alias)' cannot be decrypted without a password")
                }
                contents.privateKey = try Self.recoverKey(
                    Array(encrypted), password: keyPasswordBytes, alias: alias, separateKeyPassword: keyPassword != nil)
                contents.keyCertificateChain = chain
                contents.privateKeyAlias = alias
            case 2:
                contents.certificates.append(try Self.readCertificate(&reader, version: version, what: "trusted certificate entry \(entry)"))
            case 3:
                throw .unsupportedFormat("JKS entry \(entry) ('\(alias)') is a secret key entry, which only JCEKS stores hold")
            default:
                throw .malformed("JKS entry \(entry) has unknown tag \(tag)")
            }
        }
        guard reader.remaining == 0 else {
            throw .malformed("JKS file has \(reader.remaining) unexpected bytes after its \(count) entries")
        }
        return contents
    }

    private static func readCertificate(
        _ reader: inout KeyStoreByteReader,
        version: UInt32,
        what: String
    ) throws(KeyStoreError) -> [UInt8] {
        if version == 2 {
            let type = try reader.readBytes(Int(try reader.readUInt16("certificate type length")), "certificate type")
            guard Array(type) == Array("X.509".utf8) else {
                throw .unsupportedFormat("JKS \(what) has type '\(String(decoding: type, as: UTF8.self))', only X.509 is supported")
            }
        }
        let der = try reader.readLengthPrefixed(what, limit: KeyStoreLimits.maximumEntrySize)
        return try KeyStoreASN1.validatedSequence(Array(der), "JKS \(what)")
    }

    /// Decrypts Sun's key protector. `password` is UTF-16BE.
    private static func recoverKey(
        _ encoded: [UInt8],
        password: [UInt8],
        alias: String,
        separateKeyPassword: Bool
    ) throws(KeyStoreError) -> [UInt8] {
        let what = "JKS private key entry '\(alias)'"
        let info = try KeyStoreASN1.children(KeyStoreASN1.parse(encoded, what), what, count: 2...2)
        let algorithm = try KeyStoreASN1.algorithm(info[0], what)
        guard algorithm.oid == Self.keyProtectorOID else {
            throw .unsupportedAlgorithm("\(what) is protected with algorithm \(algorithm.oid); only Sun's JKS key protector (\(Self.keyProtectorOID)) is supported")
        }
        let data = try KeyStoreASN1.octets(info[1], "\(what) encrypted data")
        guard data.count > 2 * Self.digestSize else {
            throw .malformed("\(what): encrypted key is too short")
        }
        let salt = Array(data[0..<Self.digestSize])
        let ciphertext = data[Self.digestSize..<(data.count - Self.digestSize)]
        let check = Array(data[(data.count - Self.digestSize)...])

        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(ciphertext.count)
        var digest = salt
        var offset = ciphertext.startIndex
        while offset < ciphertext.endIndex {
            digest = Array(Insecure.SHA1.hash(data: password + digest))
            for byte in digest where offset < ciphertext.endIndex {
                plaintext.append(ciphertext[offset] ^ byte)
                offset += 1
            }
        }
        guard Array(Insecure.SHA1.hash(data: password + plaintext)) == check else {
            if separateKeyPassword {
                throw .wrongPassword("\(what) cannot be recovered with the key password")
            }
            throw .wrongPassword(
                "\(what) cannot be recovered with the store password: give its key password, or set it to the store "
                    + "password with `keytool -keypasswd -alias \(alias)`")
        }
        return try KeyStoreASN1.validatedSequence(plaintext, "\(what) (decrypted PKCS#8)")
    }
}
