import SwiftASN1

/// Reader for PKCS#12 (RFC 7292) files in password integrity and password privacy modes.
enum KeyStorePKCS12 {
    enum OID {
        static let data = "1.2.840.113549.1.7.1"
        static let signedData = "1.2.840.113549.1.7.2"
        static let envelopedData = "1.2.840.113549.1.7.3"
        static let encryptedData = "1.2.840.113549.1.7.6"

        static let keyBag = "1.2.840.113549.1.12.10.1.1"
        static let pkcs8ShroudedKeyBag = "1.2.840.113549.1.12.10.1.2"
        static let certBag = "1.2.840.113549.1.12.10.1.3"
        static let safeContentsBag = "1.2.840.113549.1.12.10.1.6"
        static let x509Certificate = "1.2.840.113549.1.9.22.1"
        static let friendlyName = "1.2.840.113549.1.9.20"
        static let localKeyID = "1.2.840.113549.1.9.21"

        static let sha1 = "1.3.14.3.2.26"
        static let sha224 = "2.16.840.1.101.3.4.2.4"
        static let sha256 = "2.16.840.1.101.3.4.2.1"
        static let sha384 = "2.16.840.1.101.3.4.2.2"
        static let sha512 = "2.16.840.1.101.3.4.2.3"
        static let pbmac1 = "1.2.840.113549.1.5.14"

        static let pbes2 = "1.2.840.113549.1.5.13"
        static let pbkdf2 = "1.2.840.113549.1.5.12"
        static let scrypt = "1.3.6.1.4.1.11591.4.11"
        static let hmacWithSHA1 = "1.2.840.113549.2.7"
        static let hmacWithSHA224 = "1.2.840.113549.2.8"
        static let hmacWithSHA256 = "1.2.840.113549.2.9"
        static let hmacWithSHA384 = "1.2.840.113549.2.10"
        static let hmacWithSHA512 = "1.2.840.113549.2.11"
        static let aes128CBC = "2.16.840.1.101.3.4.1.2"
        static let aes192CBC = "2.16.840.1.101.3.4.1.22"
        static let aes256CBC = "2.16.840.1.101.3.4.1.42"
        static let desEDE3CBC = "1.2.840.113549.3.7"
        static let desCBC = "1.3.14.3.2.7"

        static let pbeWithSHAAnd128BitRC4 = "1.2.840.113549.1.12.1.1"
        static let pbeWithSHAAnd40BitRC4 = "1.2.840.113549.1.12.1.2"
        static let pbeWithSHAAnd3KeyTripleDESCBC = "1.2.840.113549.1.12.1.3"
        static let pbeWithSHAAnd2KeyTripleDESCBC = "1.2.840.113549.1.12.1.4"
        static let pbeWithSHAAnd128BitRC2CBC = "1.2.840.113549.1.12.1.5"
        static let pbeWithSHAAnd40BitRC2CBC = "1.2.840.113549.1.12.1.6"
    }

    /// Names for OIDs that appear in unsupported-algorithm messages.
    static let algorithmNames: [String: String] = [
        OID.pbeWithSHAAnd128BitRC4: "pbeWithSHAAnd128BitRC4",
        OID.pbeWithSHAAnd40BitRC4: "pbeWithSHAAnd40BitRC4",
        OID.scrypt: "scrypt",
        OID.pbmac1: "PBMAC1",
        OID.sha224: "SHA-224",
        OID.hmacWithSHA224: "hmacWithSHA224",
        "1.2.840.113549.1.5.1": "pbeWithMD2AndDES-CBC",
        "1.2.840.113549.1.5.3": "pbeWithMD5AndDES-CBC",
        "1.2.840.113549.1.5.4": "pbeWithMD2AndRC2-CBC",
        "1.2.840.113549.1.5.6": "pbeWithMD5AndRC2-CBC",
        "1.2.840.113549.1.5.10": "pbeWithSHA1AndDES-CBC",
        "1.2.840.113549.1.5.11": "pbeWithSHA1AndRC2-CBC",
        "1.2.840.113549.3.2": "rc2-cbc",
        "1.2.840.113549.2.5": "MD5",
        "1.2.840.113549.2.12": "hmacWithSHA512-224",
        "1.2.840.113549.2.13": "hmacWithSHA512-256",
    ]

    static func unsupported(_ what: String, _ oid: String) -> KeyStoreError {
        let name = Self.algorithmNames[oid].map { "\($0) (\(oid))" } ?? oid
        return .unsupportedAlgorithm("PKCS#12 \(what) uses \(name); \(KeyStoreError.pkcs12ReexportAdvice)")
    }

    private struct CertificateBag {
        var der: [UInt8]
        var localKeyID: [UInt8]?
        var friendlyName: String?
    }

    private struct KeyBag {
        var pkcs8: [UInt8]
        var localKeyID: [UInt8]?
        var friendlyName: String?
    }

    /// One password in the encodings the schemes use.
    struct Password {
        /// BMPString encodings to try for the PKCS#12 PBE schemes (one once the MAC matched).
        var bmp: [[UInt8]]
        /// The password for PBES2 (UTF-8).
        var utf8: [UInt8]

        init(_ text: String?) {
            self.bmp = KeyStorePassword.pkcs12Candidates(text)
            self.utf8 = Array((text ?? "").utf8)
        }
    }

    private struct Reader {
        var storePassword: Password
        /// A separate key password, if one was given.
        var keyPassword: Password?
        var macVerified: Bool
        var certificates: [CertificateBag] = []
        var keys: [KeyBag] = []

        /// Passwords for key bags: the key password first, then the store password.
        var keyBagPasswords: [Password] { (self.keyPassword.map { [$0] } ?? []) + [self.storePassword] }
        /// Passwords for encrypted SafeContents: the store password first, then the key password.
        var safeContentsPasswords: [Password] { [self.storePassword] + (self.keyPassword.map { [$0] } ?? []) }

        func decryptionFailed(_ what: String) -> KeyStoreError {
            let tried = self.keyPassword == nil ? "the store password" : "the store or key password"
            return self.macVerified
                ? .wrongPassword("PKCS#12 \(what) could not be decrypted with \(tried), although the MAC matched (it uses another password)")
                : .wrongPassword("PKCS#12 \(what) could not be decrypted with \(tried) (wrong password, or a corrupted file; the store has no MAC to tell)")
        }

        // MARK: SafeContents and bags

        mutating func readSafeContents(_ node: ASN1Node, depth: Int) throws(KeyStoreError) {
            guard depth <= KeyStoreLimits.maximumBagNesting else {
                throw .malformed("PKCS#12 SafeContents are nested too deeply")
            }
            for bag in try KeyStoreASN1.children(node, "PKCS#12 SafeContents") {
                try self.readBag(bag, depth: depth)
            }
        }

        mutating func readBag(_ bag: ASN1Node, depth: Int) throws(KeyStoreError) {
            let parts = try KeyStoreASN1.children(bag, "PKCS#12 SafeBag", count: 2...3)
            let bagID = try KeyStoreASN1.oid(parts[0], "PKCS#12 SafeBag type")
            let value = try KeyStoreASN1.explicit(parts[1], tag: 0, "PKCS#12 SafeBag value")
            var localKeyID: [UInt8]?
            var friendlyName: String?
            if parts.count == 3 {
                for attribute in try KeyStoreASN1.children(parts[2], "PKCS#12 bag attributes", identifier: .set) {
                    let fields = try KeyStoreASN1.children(attribute, "PKCS#12 bag attribute", count: 2...2)
                    let type = try KeyStoreASN1.oid(fields[0], "PKCS#12 bag attribute type")
                    let values = try KeyStoreASN1.children(fields[1], "PKCS#12 bag attribute values", identifier: .set)
                    guard let first = values.first else { continue }
                    switch type {
                    case OID.localKeyID:
                        localKeyID = try KeyStoreASN1.octets(first, "PKCS#12 localKeyId")
                    case OID.friendlyName:
                        friendlyName = KeyStoreASN1.bmpString(first)
                    default:
                        break
                    }
                }
            }

            switch bagID {
            case OID.keyBag:
                let key = try KeyStoreASN1.validatedPrivateKeyInfo(Array(value.encodedBytes), "PKCS#12 keyBag")
                self.keys.append(KeyBag(pkcs8: key, localKeyID: localKeyID, friendlyName: friendlyName))
            case OID.pkcs8ShroudedKeyBag:
                let what = "pkcs8ShroudedKeyBag"
                let info = try KeyStoreASN1.children(value, "PKCS#12 \(what)", count: 2...2)
                let algorithm = try KeyStoreASN1.algorithm(info[0], "PKCS#12 \(what) encryption")
                let ciphertext = try KeyStoreASN1.octets(info[1], "PKCS#12 \(what) encrypted data")
                let key = try self.decrypt(ciphertext, algorithm: algorithm, passwords: self.keyBagPasswords, what: what) { plaintext in
                    (try? KeyStoreASN1.validatedPrivateKeyInfo(plaintext, what)) != nil
                }
                self.keys.append(KeyBag(pkcs8: key, localKeyID: localKeyID, friendlyName: friendlyName))
            case OID.certBag:
                let fields = try KeyStoreASN1.children(value, "PKCS#12 certBag", count: 2...2)
                let certType = try KeyStoreASN1.oid(fields[0], "PKCS#12 certBag type")
                guard certType == OID.x509Certificate else { return }  // SDSI certificates are ignored
                let der = try KeyStoreASN1.octets(
                    try KeyStoreASN1.explicit(fields[1], tag: 0, "PKCS#12 certBag value"),
                    "PKCS#12 certBag value"
                )
                _ = try KeyStoreASN1.validatedSequence(der, "PKCS#12 certificate")
                self.certificates.append(CertificateBag(der: der, localKeyID: localKeyID, friendlyName: friendlyName))
            case OID.safeContentsBag:
                try self.readSafeContents(value, depth: depth + 1)
            default:
                break  // crlBag, secretBag and unknown bags carry nothing a TLS configuration needs
            }
        }

        // MARK: Decryption

        /// Decrypts `ciphertext`; `isValid` tells whether a plaintext parses as expected (used to pick
        /// among password encodings, and to detect a wrong password when the store has no MAC).
        func decrypt(
            _ ciphertext: [UInt8],
            algorithm: (oid: String, parameters: ASN1Node?),
            passwords: [Password],
            what: String,
            isValid: ([UInt8]) -> Bool
        ) throws(KeyStoreError) -> [UInt8] {
            guard ciphertext.count <= KeyStoreLimits.maximumEntrySize else {
                throw .malformed("PKCS#12 \(what) of \(ciphertext.count) bytes exceeds the limit of \(KeyStoreLimits.maximumEntrySize) bytes")
            }
            switch algorithm.oid {
            case OID.pbes2:
                let parameters = try self.pbes2Parameters(algorithm.parameters, what: what)
                for password in passwords {
                    let key = try KeyStoreKDF.pbkdf2(
                        digest: parameters.prf,
                        password: password.utf8,
                        salt: parameters.salt,
                        iterations: parameters.iterations,
                        count: parameters.cipher.keySize
                    )
                    if let plaintext = parameters.cipher.decrypt(ciphertext, key: key, iv: parameters.iv), isValid(plaintext) {
                        return plaintext
                    }
                }
                throw self.decryptionFailed(what)
            case OID.pbeWithSHAAnd3KeyTripleDESCBC, OID.pbeWithSHAAnd2KeyTripleDESCBC,
                OID.pbeWithSHAAnd128BitRC2CBC, OID.pbeWithSHAAnd40BitRC2CBC:
                let cipher: KeyStoreCipher =
                    switch algorithm.oid {
                    case OID.pbeWithSHAAnd3KeyTripleDESCBC: .tripleDESCBC(keySize: 24)
                    case OID.pbeWithSHAAnd2KeyTripleDESCBC: .tripleDESCBC(keySize: 16)
                    case OID.pbeWithSHAAnd128BitRC2CBC: .rc2CBC(keySize: 16, effectiveBits: 128)
                    default: .rc2CBC(keySize: 5, effectiveBits: 40)
                    }
                let parameters = try KeyStoreASN1.children(
                    try Self.required(algorithm.parameters, what),
                    "PKCS#12 \(what) PBE parameters",
                    count: 2...2
                )
                let salt = try KeyStoreASN1.octets(parameters[0], "PKCS#12 \(what) PBE salt")
                let iterations = try Self.iterations(parameters[1], what)
                for password in passwords.flatMap(\.bmp) {
                    let key = KeyStoreKDF.pkcs12(
                        digest: .sha1, id: 1, password: password, salt: salt, iterations: iterations, count: cipher.keySize)
                    let iv = KeyStoreKDF.pkcs12(
                        digest: .sha1, id: 2, password: password, salt: salt, iterations: iterations, count: cipher.blockSize)
                    if let plaintext = cipher.decrypt(ciphertext, key: key, iv: iv), isValid(plaintext) {
                        return plaintext
                    }
                }
                throw self.decryptionFailed(what)
            default:
                throw unsupported("\(what) encryption", algorithm.oid)
            }
        }

        private func pbes2Parameters(
            _ parameters: ASN1Node?,
            what: String
        ) throws(KeyStoreError) -> (cipher: KeyStoreCipher, iv: [UInt8], prf: KeyStoreDigest, salt: [UInt8], iterations: Int) {
            let fields = try KeyStoreASN1.children(try Self.required(parameters, what), "PKCS#12 \(what) PBES2 parameters", count: 2...2)
            let kdf = try KeyStoreASN1.algorithm(fields[0], "PKCS#12 \(what) PBES2 key derivation")
            let scheme = try KeyStoreASN1.algorithm(fields[1], "PKCS#12 \(what) PBES2 encryption scheme")

            let cipher: KeyStoreCipher
            switch scheme.oid {
            case OID.aes128CBC: cipher = .aesCBC(keySize: 16)
            case OID.aes192CBC: cipher = .aesCBC(keySize: 24)
            case OID.aes256CBC: cipher = .aesCBC(keySize: 32)
            case OID.desEDE3CBC: cipher = .tripleDESCBC(keySize: 24)
            case OID.desCBC: cipher = .desCBC
            default: throw unsupported("\(what) PBES2 encryption scheme", scheme.oid)
            }
            let iv = try KeyStoreASN1.octets(try Self.required(scheme.parameters, what), "PKCS#12 \(what) PBES2 IV")
            guard iv.count == cipher.blockSize else {
                throw .malformed("PKCS#12 \(what) PBES2 IV has \(iv.count) bytes, expected \(cipher.blockSize)")
            }

            guard kdf.oid == OID.pbkdf2 else { throw unsupported("\(what) PBES2 key derivation", kdf.oid) }
            let kdfFields = try KeyStoreASN1.children(try Self.required(kdf.parameters, what), "PKCS#12 \(what) PBKDF2 parameters", count: 2...4)
            guard kdfFields[0].identifier == .octetString else {
                throw .unsupportedAlgorithm("PKCS#12 \(what) PBKDF2 salt from another source; \(KeyStoreError.pkcs12ReexportAdvice)")
            }
            let salt = try KeyStoreASN1.octets(kdfFields[0], "PKCS#12 \(what) PBKDF2 salt")
            let iterations = try Self.iterations(kdfFields[1], what)
            var prf = OID.hmacWithSHA1
            for field in kdfFields.dropFirst(2) {
                if field.identifier == .integer {
                    let keyLength = try KeyStoreASN1.integer(field, "PKCS#12 \(what) PBKDF2 key length")
                    guard keyLength == cipher.keySize else {
                        throw .malformed("PKCS#12 \(what) PBKDF2 key length \(keyLength) does not match the cipher's \(cipher.keySize)")
                    }
                } else {
                    prf = try KeyStoreASN1.algorithm(field, "PKCS#12 \(what) PBKDF2 PRF").oid
                }
            }
            let digest: KeyStoreDigest
            switch prf {
            case OID.hmacWithSHA1: digest = .sha1
            case OID.hmacWithSHA256: digest = .sha256
            case OID.hmacWithSHA384: digest = .sha384
            case OID.hmacWithSHA512: digest = .sha512
            default: throw unsupported("\(what) PBKDF2 PRF", prf)
            }
            return (cipher, iv, digest, salt, iterations)
        }

        static func required(_ parameters: ASN1Node?, _ what: String) throws(KeyStoreError) -> ASN1Node {
            guard let parameters else { throw .malformed("PKCS#12 \(what): algorithm parameters are missing") }
            return parameters
        }

        static func iterations(_ node: ASN1Node, _ what: String) throws(KeyStoreError) -> Int {
            let iterations = try KeyStoreASN1.integer(node, "PKCS#12 \(what) iteration count")
            guard (1...KeyStoreLimits.maximumIterations).contains(iterations) else {
                throw .malformed("PKCS#12 \(what) iteration count \(iterations) is outside 1...\(KeyStoreLimits.maximumIterations)")
            }
            return iterations
        }
    }

    // MARK: PFX

    static func read(_ bytes: [UInt8], password: String?, keyPassword: String?) throws(KeyStoreError) -> KeyStoreContents {
        let pfx = try KeyStoreASN1.children(KeyStoreASN1.parse(bytes, "PKCS#12 file"), "PKCS#12 PFX", count: 2...3)
        let version = try KeyStoreASN1.integer(pfx[0], "PKCS#12 version")
        guard version == 3 else { throw .unsupportedFormat("PKCS#12 version \(version) (only version 3 is defined)") }

        let authSafe = try KeyStoreASN1.children(pfx[1], "PKCS#12 authSafe", count: 1...2)
        let authSafeType = try KeyStoreASN1.oid(authSafe[0], "PKCS#12 authSafe type")
        guard authSafeType == OID.data else {
            if authSafeType == OID.signedData {
                throw .unsupportedAlgorithm("PKCS#12 public-key integrity mode (signedData authSafe); \(KeyStoreError.pkcs12ReexportAdvice)")
            }
            throw .malformed("PKCS#12 authSafe has content type \(authSafeType), expected data")
        }
        guard authSafe.count == 2 else { throw .malformed("PKCS#12 authSafe has no content") }
        let authSafeBytes = try KeyStoreASN1.octets(
            try KeyStoreASN1.explicit(authSafe[1], tag: 0, "PKCS#12 authSafe content"),
            "PKCS#12 authSafe content"
        )

        var storePassword = Password(password)
        var macVerified = false
        if pfx.count == 3 {
            storePassword.bmp = [try Self.verifyMAC(pfx[2], content: authSafeBytes, passwords: storePassword.bmp)]
            macVerified = true
        }
        let separateKeyPassword = keyPassword.flatMap { $0 == (password ?? "") ? nil : Password($0) }
        var reader = Reader(storePassword: storePassword, keyPassword: separateKeyPassword, macVerified: macVerified)

        let contentInfos = try KeyStoreASN1.children(KeyStoreASN1.parse(authSafeBytes, "PKCS#12 AuthenticatedSafe"), "PKCS#12 AuthenticatedSafe")
        for (index, contentInfo) in contentInfos.enumerated() {
            let what = "AuthenticatedSafe element \(index + 1)"
            let fields = try KeyStoreASN1.children(contentInfo, "PKCS#12 \(what)", count: 1...2)
            let type = try KeyStoreASN1.oid(fields[0], "PKCS#12 \(what) type")
            guard fields.count == 2 else { continue }  // no content
            let content = try KeyStoreASN1.explicit(fields[1], tag: 0, "PKCS#12 \(what) content")
            switch type {
            case OID.data:
                let safeContents = try KeyStoreASN1.octets(content, "PKCS#12 \(what) data")
                try reader.readSafeContents(KeyStoreASN1.parse(safeContents, "PKCS#12 SafeContents"), depth: 0)
            case OID.encryptedData:
                let encryptedData = try KeyStoreASN1.children(content, "PKCS#12 \(what) EncryptedData", count: 2...3)
                let info = try KeyStoreASN1.children(encryptedData[1], "PKCS#12 \(what) EncryptedContentInfo", count: 2...3)
                let algorithm = try KeyStoreASN1.algorithm(info[1], "PKCS#12 \(what) encryption")
                guard info.count == 3 else { continue }  // nothing encrypted
                let ciphertext = try KeyStoreASN1.octets(info[2], "PKCS#12 \(what) encrypted content", identifier: KeyStoreASN1.contextTag0)
                let plaintext = try reader.decrypt(
                    ciphertext, algorithm: algorithm, passwords: reader.safeContentsPasswords, what: "encrypted SafeContents (\(what))"
                ) { plaintext in
                    (try? BER.parse(plaintext))?.identifier == .sequence
                }
                try reader.readSafeContents(KeyStoreASN1.parse(plaintext, "PKCS#12 decrypted SafeContents"), depth: 0)
            case OID.envelopedData:
                throw .unsupportedAlgorithm("PKCS#12 public-key privacy mode (envelopedData); \(KeyStoreError.pkcs12ReexportAdvice)")
            default:
                throw .malformed("PKCS#12 \(what) has unexpected content type \(type)")
            }
        }
        return Self.assemble(certificates: reader.certificates, keys: reader.keys)
    }

    /// Verifies the MAC with each password encoding and returns the one that matched.
    private static func verifyMAC(_ node: ASN1Node, content: [UInt8], passwords: [[UInt8]]) throws(KeyStoreError) -> [UInt8] {
        let macData = try KeyStoreASN1.children(node, "PKCS#12 MacData", count: 2...3)
        let digestInfo = try KeyStoreASN1.children(macData[0], "PKCS#12 MAC DigestInfo", count: 2...2)
        let algorithm = try KeyStoreASN1.algorithm(digestInfo[0], "PKCS#12 MAC")
        let expected = try KeyStoreASN1.octets(digestInfo[1], "PKCS#12 MAC value")
        let salt = try KeyStoreASN1.octets(macData[1], "PKCS#12 MAC salt")
        let iterations = macData.count == 3 ? try Reader.iterations(macData[2], "MAC") : 1
        let digest: KeyStoreDigest
        switch algorithm.oid {
        case OID.sha1: digest = .sha1
        case OID.sha256: digest = .sha256
        case OID.sha384: digest = .sha384
        case OID.sha512: digest = .sha512
        default: throw unsupported("MAC", algorithm.oid)
        }
        guard expected.count == digest.outputSize else {
            throw .malformed("PKCS#12 MAC has \(expected.count) bytes, expected \(digest.outputSize) for HMAC-\(digest.name)")
        }
        for password in passwords {
            let key = KeyStoreKDF.pkcs12(
                digest: digest, id: 3, password: password, salt: salt, iterations: iterations, count: digest.outputSize)
            if digest.hmacVerify(expected, content, key) {
                return password
            }
        }
        throw .wrongPassword("PKCS#12 MAC verification failed (wrong password, or the file is corrupted)")
    }

    /// Picks the first key, finds its certificate (same localKeyId, else a certificate that issued no
    /// other one) and orders the chain leaf first by matching issuer and subject names.
    private static func assemble(certificates: [CertificateBag], keys: [KeyBag]) -> KeyStoreContents {
        var contents = KeyStoreContents(certificates: certificates.map(\.der))
        guard let key = keys.first else { return contents }
        contents.privateKey = key.pkcs8
        let names = certificates.map { KeyStoreASN1.certificateNames($0.der) }

        var leafIndex: Int? = nil
        if let id = key.localKeyID {
            leafIndex = certificates.firstIndex { $0.localKeyID == id }
        }
        if leafIndex == nil {
            leafIndex = certificates.indices.first { candidate in
                guard let subject = names[candidate]?.subject else { return false }
                return !certificates.indices.contains { other in
                    other != candidate && names[other].map { $0.issuer == subject && $0.subject != subject } == true
                }
            }
        }
        contents.privateKeyAlias = key.friendlyName ?? leafIndex.flatMap { certificates[$0].friendlyName }
        guard var current = leafIndex else { return contents }

        var used: Set<Int> = [current]
        contents.keyCertificateChain = [certificates[current].der]
        while let currentNames = names[current], currentNames.issuer != currentNames.subject,
              let next = certificates.indices.first(where: { !used.contains($0) && names[$0]?.subject == currentNames.issuer })
        {
            used.insert(next)
            contents.keyCertificateChain.append(certificates[next].der)
            current = next
        }
        return contents
    }
}
