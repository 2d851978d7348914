import Crypto
import Foundation
import _CryptoExtras

/// Limits applied to untrusted key store parameters.
enum KeyStoreLimits {
    /// Largest single entry (certificate, key, encrypted blob, SafeContents) accepted.
    static let maximumEntrySize = 16 * 1024 * 1024
    /// Largest whole store accepted.
    static let maximumStoreSize = 64 * 1024 * 1024
    /// Largest KDF / MAC iteration count accepted (OpenSSL writes 2048, keytool 10000).
    static let maximumIterations = 10_000_000
    /// Deepest nesting of PKCS#12 safeContentsBag accepted.
    static let maximumBagNesting = 8
}

/// A hash function usable for HMAC, the PKCS#12 KDF (RFC 7292 appendix B) and the JKS digests.
struct KeyStoreDigest: Sendable {
    let name: String
    let outputSize: Int
    let blockSize: Int
    let hash: @Sendable ([UInt8]) -> [UInt8]
    let hmacVerify: @Sendable (_ mac: [UInt8], _ message: [UInt8], _ key: [UInt8]) -> Bool
    let hmac: @Sendable (_ message: [UInt8], _ key: SymmetricKey) -> [UInt8]
    let pbkdf2: KDF.Insecure.PBKDF2.HashFunction

    // The closures name concrete types (no captured generic metatypes, which are not Sendable).
    static let sha1 = KeyStoreDigest(
        name: "SHA-1",
        outputSize: Insecure.SHA1.Digest.byteCount,
        blockSize: Insecure.SHA1.blockByteCount,
        hash: { Array(Insecure.SHA1.hash(data: $0)) },
        hmacVerify: { HMAC<Insecure.SHA1>.isValidAuthenticationCode($0, authenticating: $1, using: SymmetricKey(data: $2)) },
        hmac: { Array(HMAC<Insecure.SHA1>.authenticationCode(for: $0, using: $1)) },
        pbkdf2: .insecureSHA1
    )
    static let sha256 = KeyStoreDigest(
        name: "SHA-256",
        outputSize: SHA256.Digest.byteCount,
        blockSize: SHA256.blockByteCount,
        hash: { Array(SHA256.hash(data: $0)) },
        hmacVerify: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: $1, using: SymmetricKey(data: $2)) },
        hmac: { Array(HMAC<SHA256>.authenticationCode(for: $0, using: $1)) },
        pbkdf2: .sha256
    )
    static let sha384 = KeyStoreDigest(
        name: "SHA-384",
        outputSize: SHA384.Digest.byteCount,
        blockSize: SHA384.blockByteCount,
        hash: { Array(SHA384.hash(data: $0)) },
        hmacVerify: { HMAC<SHA384>.isValidAuthenticationCode($0, authenticating: $1, using: SymmetricKey(data: $2)) },
        hmac: { Array(HMAC<SHA384>.authenticationCode(for: $0, using: $1)) },
        pbkdf2: .sha384
    )
    static let sha512 = KeyStoreDigest(
        name: "SHA-512",
        outputSize: SHA512.Digest.byteCount,
        blockSize: SHA512.blockByteCount,
        hash: { Array(SHA512.hash(data: $0)) },
        hmacVerify: { HMAC<SHA512>.isValidAuthenticationCode($0, authenticating: $1, using: SymmetricKey(data: $2)) },
        hmac: { Array(HMAC<SHA512>.authenticationCode(for: $0, using: $1)) },
        pbkdf2: .sha512
    )
}

enum KeyStoreKDF {
    /// PKCS#12 key derivation (RFC 7292, appendix B.2). `id` 1 = key, 2 = IV, 3 = MAC key.
    /// `password` is already the BMPString encoding (with or without its trailing zeros).
    static func pkcs12(
        digest: KeyStoreDigest,
        id: UInt8,
        password: [UInt8],
        salt: [UInt8],
        iterations: Int,
        count: Int
    ) -> [UInt8] {
        let v = digest.blockSize
        let diversifier = [UInt8](repeating: id, count: v)
        func stretched(_ x: [UInt8]) -> [UInt8] {
            guard !x.isEmpty else { return [] }
            let length = v * ((x.count + v - 1) / v)
            return (0..<length).map { x[$0 % x.count] }
        }
        var input = stretched(salt) + stretched(password)
        var output: [UInt8] = []
        output.reserveCapacity(count + digest.outputSize)
        while output.count < count {
            var a = digest.hash(diversifier + input)
            for _ in 1..<max(iterations, 1) {
                a = digest.hash(a)
            }
            output += a
            guard output.count < count else { break }
            let b = (0..<v).map { a[$0 % a.count] }
            var blockStart = 0
            while blockStart < input.count {
                var carry: UInt16 = 1
                for k in stride(from: v - 1, through: 0, by: -1) {
                    let sum = UInt16(input[blockStart + k]) + UInt16(b[k]) + carry
                    input[blockStart + k] = UInt8(truncatingIfNeeded: sum)
                    carry = sum >> 8
                }
                blockStart += v
            }
        }
        return Array(output.prefix(count))
    }

    /// PBKDF2 (RFC 8018) with HMAC-`digest` as PRF, through swift-crypto's BoringSSL PBKDF2.
    ///
    /// swift-crypto force-unwraps the base addresses of the password and salt buffers, so empty
    /// inputs (an empty password is legitimate) take `pbkdf2HMAC` instead, which never traps.
    static func pbkdf2(
        digest: KeyStoreDigest,
        password: [UInt8],
        salt: [UInt8],
        iterations: Int,
        count: Int
    ) throws(KeyStoreError) -> [UInt8] {
        guard !password.isEmpty, !salt.isEmpty else {
            return self.pbkdf2HMAC(digest: digest, password: password, salt: salt, iterations: iterations, count: count)
        }
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: password,
                salt: salt,
                using: digest.pbkdf2,
                outputByteCount: count,
                unsafeUncheckedRounds: iterations
            )
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw .malformed("PBKDF2 key derivation failed for the given parameters")
        }
    }

    /// PBKDF2 built on swift-crypto's HMAC (RFC 8018 section 5.2).
    static func pbkdf2HMAC(digest: KeyStoreDigest, password: [UInt8], salt: [UInt8], iterations: Int, count: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var output: [UInt8] = []
        var blockIndex: UInt32 = 1
        while output.count < count {
            let indexBytes = (0..<4).map { UInt8(truncatingIfNeeded: blockIndex >> (24 - 8 * UInt32($0))) }
            var u = digest.hmac(salt + indexBytes, key)
            var t = u
            for _ in 1..<max(iterations, 1) {
                u = digest.hmac(u, key)
                for index in t.indices { t[index] ^= u[index] }
            }
            output += t
            blockIndex += 1
        }
        return Array(output.prefix(count))
    }
}

/// Password encodings used by the formats.
enum KeyStorePassword {
    /// PKCS#12 BMPString: UTF-16BE with two trailing zero bytes (RFC 7292 appendix B.1).
    /// Returns the candidates to try: for an empty or absent password OpenSSL accepts both
    /// the encoding of "" (two zero bytes) and an empty byte string.
    static func pkcs12Candidates(_ password: String?) -> [[UInt8]] {
        let text = password ?? ""
        guard !text.isEmpty else { return [[0, 0], []] }
        return [self.utf16BE(text) + [0, 0]]
    }

    static func utf16BE(_ text: String) -> [UInt8] {
        text.utf16.flatMap { [UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] }
    }
}

/// The block ciphers needed by PBES2 and the PKCS#12 PBE schemes, all in CBC mode with PKCS#7 padding.
enum KeyStoreCipher: Sendable, Equatable {
    case aesCBC(keySize: Int)
    /// Three-key (24 bytes) or two-key (16 bytes) triple DES, EDE.
    case tripleDESCBC(keySize: Int)
    case desCBC
    case rc2CBC(keySize: Int, effectiveBits: Int)

    var keySize: Int {
        switch self {
        case .aesCBC(let size), .tripleDESCBC(let size), .rc2CBC(let size, _): size
        case .desCBC: 8
        }
    }

    var blockSize: Int {
        switch self {
        case .aesCBC: 16
        case .tripleDESCBC, .desCBC, .rc2CBC: 8
        }
    }

    /// Decrypts and removes the padding; nil if the key is wrong (bad padding) or the input malformed.
    func decrypt(_ ciphertext: [UInt8], key: [UInt8], iv: [UInt8]) -> [UInt8]? {
        guard key.count == self.keySize, iv.count == self.blockSize,
              !ciphertext.isEmpty, ciphertext.count % self.blockSize == 0
        else { return nil }
        switch self {
        case .aesCBC:
            do {
                let plaintext = try AES._CBC.decrypt(
                    ciphertext,
                    using: SymmetricKey(data: key),
                    iv: try AES._CBC.IV(ivBytes: iv),
                    noPadding: true
                )
                return Self.unpad(Array(plaintext), blockSize: 16)
            } catch {
                return nil
            }
        case .tripleDESCBC:
            let k1 = KeyStoreDES(key: key[0..<8])
            let k2 = KeyStoreDES(key: key[8..<16])
            let k3 = key.count == 24 ? KeyStoreDES(key: key[16..<24]) : k1
            return Self.cbcDecrypt(ciphertext, iv: iv) { block in
                k1.decrypt(k2.encrypt(k3.decrypt(block)))
            }
        case .desCBC:
            let des = KeyStoreDES(key: key[...])
            return Self.cbcDecrypt(ciphertext, iv: iv) { des.decrypt($0) }
        case .rc2CBC(_, let effectiveBits):
            let rc2 = KeyStoreRC2(key: key, effectiveBits: effectiveBits)
            return Self.cbcDecrypt(ciphertext, iv: iv) { rc2.decrypt($0) }
        }
    }

    /// CBC decryption for 64-bit block ciphers; blocks are big-endian UInt64s.
    private static func cbcDecrypt(_ ciphertext: [UInt8], iv: [UInt8], block: (UInt64) -> UInt64) -> [UInt8]? {
        func load(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { ($0 << 8) | UInt64($1) } }
        var previous = load(iv[...])
        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(ciphertext.count)
        var offset = 0
        while offset < ciphertext.count {
            let c = load(ciphertext[offset..<(offset + 8)])
            let p = block(c) ^ previous
            for shift in stride(from: 56, through: 0, by: -8) {
                plaintext.append(UInt8(truncatingIfNeeded: p >> UInt64(shift)))
            }
            previous = c
            offset += 8
        }
        return self.unpad(plaintext, blockSize: 8)
    }

    private static func unpad(_ plaintext: [UInt8], blockSize: Int) -> [UInt8]? {
        guard let last = plaintext.last, last >= 1, Int(last) <= blockSize, Int(last) <= plaintext.count,
              plaintext.suffix(Int(last)).allSatisfy({ $0 == last })
        else { return nil }
        return Array(plaintext.dropLast(Int(last)))
    }
}
