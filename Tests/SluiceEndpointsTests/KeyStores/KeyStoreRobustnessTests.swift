import Crypto
import Foundation
import Testing

@testable import SluiceEndpoints

/// SplitMix64: a small seeded generator so that mutation runs are reproducible.
struct KeyStoreSplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct KeyStoreRobustnessTests {
    /// Replaces the trailing JKS digest so that a mutated body passes the integrity check and
    /// reaches the entry parser and the key protector.
    static func fixJKSDigest(_ bytes: [UInt8], password: String) -> [UInt8] {
        guard bytes.count >= 20 else { return bytes }
        let body = Array(bytes.dropLast(20))
        let digest = Insecure.SHA1.hash(data: KeyStorePassword.utf16BE(password) + Array("Mighty Aphrodite".utf8) + body)
        return body + Array(digest)
    }

    static func mutate(_ original: [UInt8], using generator: inout KeyStoreSplitMix64) -> [UInt8] {
        var bytes = original
        guard !bytes.isEmpty else { return bytes }
        let rounds = Int.random(in: 1...3, using: &generator)
        for _ in 0..<rounds {
            guard !bytes.isEmpty else { break }
            let position = Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<7, using: &generator) {
            case 0:  // flip one bit
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            case 1:  // random byte
                bytes[position] = UInt8.random(in: 0...255, using: &generator)
            case 2:  // truncate
                bytes = Array(bytes.prefix(position))
            case 3:  // insert a byte
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            case 4:  // delete a range
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &generator))
                bytes.removeSubrange(position..<end)
            case 5:  // interesting values (lengths, counts)
                let values: [UInt8] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF]
                for offset in 0..<min(4, bytes.count - position) {
                    bytes[position + offset] = values.randomElement(using: &generator) ?? 0
                }
            default:  // duplicate a chunk
                let end = min(bytes.count, position + Int.random(in: 1...64, using: &generator))
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            }
        }
        return bytes
    }

    /// A few thousand seeded mutations of valid stores: every outcome must be a result or a KeyStoreError.
    @Test func randomizedMutationsNeverCrash() async throws {
        let fixtures = try await KeyStoreFixtures.get()
        struct Target {
            var file: String
            var password: String?
            var fixJKS: Bool = false
        }
        var targets = [
            Target(file: "default.p12", password: "secret"),
            Target(file: "nomac.p12", password: "secret"),
            Target(file: "noenc-nomac.p12", password: "secret"),
            Target(file: "trust-plain.p12", password: nil),
            Target(file: "trust.p12", password: "secret"),
            Target(file: "keytool.p12", password: "changeit"),
            Target(file: "imported.jks", password: nil),
            Target(file: "imported.jks", password: "changeit", fixJKS: true),
            Target(file: "keytool.jks", password: "changeit", fixJKS: true),
            Target(file: "trust.jks", password: "changeit"),
        ]
        if fixtures.legacyAvailable {
            targets.append(Target(file: "legacy-nomac.p12", password: "secret"))
        }
        let stores = try targets.map { try fixtures.bytes($0.file) }

        var generator = KeyStoreSplitMix64(seed: 0x5EED_CAFE)
        let clock = ContinuousClock()
        let start = clock.now
        let budget = Duration.seconds(120)
        let wanted = 4000
        var runs = 0
        var outcomes: [KeyStoreError.Kind: Int] = [:]
        var successes = 0
        while runs < wanted, clock.now - start < budget {
            let index = runs % targets.count
            var mutated = Self.mutate(stores[index], using: &generator)
            if targets[index].fixJKS, let password = targets[index].password {
                mutated = Self.fixJKSDigest(mutated, password: password)
            }
            do {
                _ = try KeyStoreReader.read(mutated, password: targets[index].password)
                successes += 1
            } catch {
                outcomes[error.kind, default: 0] += 1
            }
            runs += 1
        }
        print("mutation runs: \(runs), successes: \(successes), errors: \(outcomes)")
        #expect(runs >= 1000, "only \(runs) mutations ran within the time budget")
        #expect((outcomes[.malformed] ?? 0) > 0)
    }

    /// Every prefix of a store must fail cleanly.
    @Test func everyTruncationFails() async throws {
        let fixtures = try await KeyStoreFixtures.get()
        for (file, password) in [("trust.jks", "changeit"), ("trust-plain.p12", nil), ("imported.jks", nil)] as [(String, String?)] {
            let bytes = try fixtures.bytes(file)
            for length in 0..<bytes.count {
                #expect(throws: KeyStoreError.self, "\(file) truncated to \(length)") {
                    try KeyStoreReader.read(Array(bytes.prefix(length)), password: password)
                }
            }
        }
    }
}

@Suite struct KeyStoreUnitTests {
    @Test func rejectsNonKeyStores() {
        for bytes: [UInt8] in [[], [1, 2, 3], Array("-----BEGIN CERTIFICATE-----\n".utf8), [0x30, 0x03, 0x02, 0x01, 0x03], [0xCE, 0xCE, 0xCE, 0xCE, 0, 0]] {
            #expect(throws: KeyStoreError.self) { try KeyStoreReader.read(bytes, password: nil) }
        }
        #expect(throws: KeyStoreError(.unsupportedFormat, "the file is PEM, not a JKS or PKCS#12 key store; configure it as a PEM store")) {
            try KeyStoreReader.read(Array("-----BEGIN PRIVATE KEY-----".utf8), password: nil)
        }
    }

    /// A JKS whose trusted certificate entry claims more than 16 MiB.
    @Test func refusesOversizedEntries() {
        var body: [UInt8] = [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1]
        body += [0, 0, 0, 2, 0, 1, 0x61] + [UInt8](repeating: 0, count: 8)  // tag 2, alias "a", timestamp
        body += [0, 5] + Array("X.509".utf8) + [0x01, 0x00, 0x00, 0x01]  // 16 MiB + 1
        let store = KeyStoreRobustnessTests.fixJKSDigest(body + [UInt8](repeating: 0, count: 20), password: "pw")
        #expect {
            try KeyStoreReader.readJKS(store, password: "pw")
        } throws: { error in
            let error = error as? KeyStoreError
            return error?.kind == .malformed && error?.message.contains("exceeds the limit") == true
        }
    }

    @Test func emptyJKSStore() throws {
        let body: [UInt8] = [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0]
        let store = KeyStoreRobustnessTests.fixJKSDigest(body + [UInt8](repeating: 0, count: 20), password: "pw")
        #expect(try KeyStoreReader.readJKS(store, password: "pw") == KeyStoreContents())
        #expect(throws: KeyStoreError.wrongPassword("JKS integrity check failed (wrong store password, or the file is corrupted)")) {
            try KeyStoreReader.readJKS(store, password: "other")
        }
    }

    @Test func pkcs12KDFIsDeterministic() {
        let a = KeyStoreKDF.pkcs12(digest: .sha256, id: 1, password: [0, 0x61, 0, 0], salt: [1, 2, 3], iterations: 3, count: 70)
        let b = KeyStoreKDF.pkcs12(digest: .sha256, id: 1, password: [0, 0x61, 0, 0], salt: [1, 2, 3], iterations: 3, count: 70)
        #expect(a == b && a.count == 70)
        #expect(KeyStoreKDF.pkcs12(digest: .sha1, id: 2, password: [], salt: [], iterations: 1, count: 8).count == 8)
    }

    @Test func pbkdf2KnownAnswerAndFallbackAgree() throws {
        // RFC 6070 test vector: PBKDF2-HMAC-SHA1("password", "salt", 2, 20).
        let expected: [UInt8] = [
            0xea, 0x6c, 0x01, 0x4d, 0xc7, 0x2d, 0x6f, 0x8c, 0xcd, 0x1e,
            0xd9, 0x2a, 0xce, 0x1d, 0x41, 0xf0, 0xd8, 0xde, 0x89, 0x57,
        ]
        let password = Array("password".utf8)
        let salt = Array("salt".utf8)
        #expect(try KeyStoreKDF.pbkdf2(digest: .sha1, password: password, salt: salt, iterations: 2, count: 20) == expected)
        #expect(KeyStoreKDF.pbkdf2HMAC(digest: .sha1, password: password, salt: salt, iterations: 2, count: 20) == expected)
        for digest in [KeyStoreDigest.sha1, .sha256, .sha384, .sha512] {
            for count in [16, 32, 70] {
                let viaBoringSSL = try KeyStoreKDF.pbkdf2(digest: digest, password: password, salt: salt, iterations: 5, count: count)
                let viaHMAC = KeyStoreKDF.pbkdf2HMAC(digest: digest, password: password, salt: salt, iterations: 5, count: count)
                #expect(viaBoringSSL == viaHMAC, "\(digest.name) \(count)")
            }
        }
        // Empty inputs take the HMAC path and must not trap.
        #expect(try KeyStoreKDF.pbkdf2(digest: .sha256, password: [], salt: [], iterations: 1, count: 32).count == 32)
    }

    @Test func desSBoxRowsArePermutations() {
        for box in KeyStoreDES.sBoxes {
            for row in 0..<4 {
                #expect(Set(box[(row * 16)..<(row * 16 + 16)]) == Set(0...15))
            }
        }
        #expect(Set(KeyStoreRC2.piTable).count == 256)
    }

    @Test func cipherRejectsBadInputWithoutTrapping() {
        for cipher: KeyStoreCipher in [.aesCBC(keySize: 16), .tripleDESCBC(keySize: 24), .rc2CBC(keySize: 5, effectiveBits: 40)] {
            let key = [UInt8](repeating: 1, count: cipher.keySize)
            let iv = [UInt8](repeating: 2, count: cipher.blockSize)
            #expect(cipher.decrypt([], key: key, iv: iv) == nil)
            #expect(cipher.decrypt([1, 2, 3], key: key, iv: iv) == nil)
            #expect(cipher.decrypt([UInt8](repeating: 0, count: 16), key: [1], iv: iv) == nil)
            #expect(cipher.decrypt([UInt8](repeating: 0, count: 16), key: key, iv: [1]) == nil)
        }
        // Out-of-range RC2 parameters are clamped.
        _ = KeyStoreRC2(key: [], effectiveBits: 0).decrypt(1)
        _ = KeyStoreRC2(key: [UInt8](repeating: 7, count: 200), effectiveBits: 5000).decrypt(1)
    }

    @Test func pemEncoding() {
        let pem = KeyStorePEM.encode([UInt8](repeating: 0xAB, count: 100), label: "CERTIFICATE")
        let lines = pem.split(separator: "\n")
        #expect(lines.first == "-----BEGIN CERTIFICATE-----")
        #expect(lines.last == "-----END CERTIFICATE-----")
        #expect(lines.count == 5 && lines[1].count == 64 && lines[2].count == 64 && lines[3].count == 136 - 128)
    }
}
