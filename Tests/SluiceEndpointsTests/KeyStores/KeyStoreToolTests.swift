import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

@testable import SluiceEndpoints

/// End-to-end tests against stores written by openssl and keytool.
@Suite struct KeyStoreToolTests {
    let fixtures: KeyStoreFixtures

    init() async throws {
        self.fixtures = try await KeyStoreFixtures.get()
    }

    static let storePassword = "secret"

    // MARK: Helpers

    /// Proves NIOSSL accepts the PKCS#8 DER and the chain: builds a server context from them.
    static func makeServerContext(_ contents: KeyStoreContents) throws -> NIOSSLContext {
        let key = try #require(contents.privateKey)
        let privateKey = try NIOSSLPrivateKey(bytes: key, format: .der)
        let chain = try contents.keyCertificateChain.map { try NIOSSLCertificate(bytes: $0, format: .der) }
        #expect(!chain.isEmpty)
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        return try NIOSSLContext(configuration: configuration)
    }

    /// A full TLS handshake over embedded channels: the server uses the key store's key and chain,
    /// the client trusts exactly `trustRoots`; application data must arrive.
    static func handshake(server contents: KeyStoreContents, trustRoots: [[UInt8]]) throws {
        let serverContext = try makeServerContext(contents)
        var clientConfiguration = TLSConfiguration.makeClientConfiguration()
        clientConfiguration.trustRoots = .certificates(try trustRoots.map { try NIOSSLCertificate(bytes: $0, format: .der) })
        clientConfiguration.certificateVerification = .noHostnameVerification
        let clientContext = try NIOSSLContext(configuration: clientConfiguration)

        let serverChannel = EmbeddedChannel(handler: NIOSSLServerHandler(context: serverContext))
        let clientChannel = EmbeddedChannel(handler: try NIOSSLClientHandler(context: clientContext, serverHostname: nil))
        // The channels are not `finish()`ed: a TLS close waits for the peer's close_notify, which
        // nothing would shuttle any more; they are simply released.
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 8443)
        // No `wait()`: embedded futures complete when the embedded loops run.
        serverChannel.connect(to: address, promise: nil)
        clientChannel.connect(to: address, promise: nil)
        clientChannel.writeAndFlush(ByteBuffer(string: "ping"), promise: nil)
        for _ in 0..<32 {
            serverChannel.embeddedEventLoop.run()
            clientChannel.embeddedEventLoop.run()
            var moved = false
            while let data = try clientChannel.readOutbound(as: ByteBuffer.self) {
                try serverChannel.writeInbound(data)
                moved = true
            }
            while let data = try serverChannel.readOutbound(as: ByteBuffer.self) {
                try clientChannel.writeInbound(data)
                moved = true
            }
            if !moved { break }
        }
        let received = try serverChannel.readInbound(as: ByteBuffer.self)
        #expect(received == ByteBuffer(string: "ping"))
    }

    static func expectError(
        _ kind: KeyStoreError.Kind,
        containing fragments: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws(KeyStoreError) -> KeyStoreContents
    ) {
        do {
            _ = try body()
            Issue.record("expected a \(kind) error, got success", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(error.description.contains(fragment), "\(error) should mention \(fragment)", sourceLocation: sourceLocation)
            }
            for secret in ["secret", "changeit", "wrong-password", "different"] {
                #expect(!error.description.contains(secret), "error message leaks a password: \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    func expectOpenSSLLeafStore(_ contents: KeyStoreContents) throws {
        let leaf = try self.fixtures.bytes("leaf.der")
        let ca = try self.fixtures.bytes("ca.der")
        #expect(contents.certificates == [leaf, ca])
        #expect(contents.keyCertificateChain == [leaf, ca])
        #expect(contents.privateKey == (try self.fixtures.bytes("leaf.key.der")))
        #expect(contents.privateKeyAlias == "server")
        try Self.handshake(server: contents, trustRoots: [ca])
    }

    // MARK: OpenSSL PKCS#12

    @Test(arguments: KeyStoreFixtures.opensslKeyStores.indices)
    func opensslPKCS12(index: Int) throws {
        let (file, password) = KeyStoreFixtures.opensslKeyStores[index]
        let contents = try KeyStoreReader.readPKCS12(try self.fixtures.bytes(file), password: password)
        try self.expectOpenSSLLeafStore(contents)
    }

    @Test(arguments: KeyStoreFixtures.legacyKeyStores.indices)
    func opensslLegacyPKCS12(index: Int) throws {
        try #require(self.fixtures.legacyAvailable, "`openssl pkcs12 -legacy` failed: OpenSSL's legacy provider (ossl-modules/legacy.so, Debian package libssl3) is missing")
        let (file, password) = KeyStoreFixtures.legacyKeyStores[index]
        let contents = try KeyStoreReader.readPKCS12(try self.fixtures.bytes(file), password: password)
        try self.expectOpenSSLLeafStore(contents)
    }

    @Test func rc4IsUnsupported() throws {
        try #require(self.fixtures.legacyAvailable, "OpenSSL's legacy provider is missing")
        let bytes = try self.fixtures.bytes("legacy-rc4.p12")
        Self.expectError(.unsupportedAlgorithm, containing: ["pbeWithSHAAnd128BitRC4", "1.2.840.113549.1.12.1.1", "openssl pkcs12 -export"]) {
            () throws(KeyStoreError) in try KeyStoreReader.readPKCS12(bytes, password: Self.storePassword)
        }
    }

    @Test func ecKeyPKCS12() throws {
        let contents = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("ec.p12"), password: Self.storePassword)
        let ca = try self.fixtures.bytes("ca.der")
        #expect(contents.keyCertificateChain == [try self.fixtures.bytes("ec.der"), ca])
        #expect(contents.privateKey == (try self.fixtures.bytes("ec.key.der")))
        try Self.handshake(server: contents, trustRoots: [ca])
    }

    @Test func pkcs12TrustStoresWithoutKey() throws {
        let ca = try self.fixtures.bytes("ca.der")
        let other = try self.fixtures.bytes("other-ca.der")
        let one = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("trust.p12"), password: Self.storePassword)
        #expect(one == KeyStoreContents(certificates: [ca]))
        let two = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("trust2.p12"), password: Self.storePassword)
        #expect(two.certificates == [ca, other])
        #expect(two.privateKey == nil && two.keyCertificateChain.isEmpty)
        let plain = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("trust-plain.p12"), password: nil)
        #expect(plain.certificates == [ca])
        // The trust store verifies a server whose key comes from another store.
        let server = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("default.p12"), password: Self.storePassword)
        try Self.handshake(server: server, trustRoots: two.certificates)
    }

    @Test func pkcs12WrongPassword() throws {
        for file in ["default.p12", "aes128-sha512.p12", "noenc.p12", "trust.p12", "nomac.p12", "empty-password.p12"]
            + (self.fixtures.legacyAvailable ? ["legacy.p12", "legacy-nomac.p12"] : [])
        {
            let bytes = try self.fixtures.bytes(file)
            Self.expectError(.wrongPassword) { () throws(KeyStoreError) in
                try KeyStoreReader.readPKCS12(bytes, password: "wrong-password")
            }
        }
        let bytes = try self.fixtures.bytes("default.p12")
        Self.expectError(.wrongPassword, containing: ["MAC"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readPKCS12(bytes, password: nil)
        }
    }

    // MARK: keytool

    @Test func keytoolJKSKeyStore() throws {
        let contents = try KeyStoreReader.readJKS(try self.fixtures.bytes("keytool.jks"), password: "changeit")
        let certificate = try self.fixtures.bytes("keytool.der")
        #expect(contents.certificates.isEmpty)
        #expect(contents.keyCertificateChain == [certificate])
        #expect(contents.privateKey == (try self.fixtures.bytes("keytool.key.der")))
        #expect(contents.privateKeyAlias == "server")
        try Self.handshake(server: contents, trustRoots: [certificate])
    }

    @Test func keytoolJKSWithECKey() throws {
        let contents = try KeyStoreReader.readJKS(try self.fixtures.bytes("keytool-ec.jks"), password: "changeit")
        #expect(contents.keyCertificateChain.count == 1)
        try Self.handshake(server: contents, trustRoots: contents.keyCertificateChain)
    }

    @Test func jksWithOpenSSLKeyAndTrustedEntries() throws {
        let contents = try KeyStoreReader.readJKS(try self.fixtures.bytes("imported.jks"), password: "changeit")
        let leaf = try self.fixtures.bytes("leaf.der")
        let ca = try self.fixtures.bytes("ca.der")
        let other = try self.fixtures.bytes("other-ca.der")
        #expect(contents.privateKey == (try self.fixtures.bytes("leaf.key.der")))
        #expect(contents.keyCertificateChain == [leaf, ca])
        #expect(Set(contents.certificates) == [ca, other])
        #expect(contents.certificates.count == 2)
        try Self.handshake(server: contents, trustRoots: contents.certificates)
    }

    @Test func jksTrustStore() throws {
        let bytes = try self.fixtures.bytes("trust.jks")
        let expected: Set<[UInt8]> = [try self.fixtures.bytes("ca.der"), try self.fixtures.bytes("other-ca.der")]
        for password: String? in ["changeit", nil] {
            let contents = try KeyStoreReader.readJKS(bytes, password: password)
            #expect(Set(contents.certificates) == expected && contents.certificates.count == 2)
            #expect(contents.privateKey == nil && contents.keyCertificateChain.isEmpty)
        }
        Self.expectError(.wrongPassword, containing: ["JKS integrity check failed"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(bytes, password: "wrong-password")
        }
    }

    @Test func keytoolPKCS12ThroughJKSEntryPoint() throws {
        let keyStore = try KeyStoreReader.readJKS(try self.fixtures.bytes("keytool.p12"), password: "changeit")
        #expect(keyStore.keyCertificateChain.count == 1)
        #expect(keyStore.privateKeyAlias == "server")
        try Self.handshake(server: keyStore, trustRoots: keyStore.keyCertificateChain)

        let trust = try KeyStoreReader.readJKS(try self.fixtures.bytes("keytool-trust.p12"), password: "changeit")
        #expect(trust.certificates == [try self.fixtures.bytes("ca.der"), try self.fixtures.bytes("other-ca.der")])
        #expect(trust.privateKey == nil)
        Self.expectError(.wrongPassword) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(try! self.fixtures.bytes("keytool.p12"), password: "wrong-password")
        }
    }

    @Test func jksErrors() throws {
        let keyStore = try self.fixtures.bytes("keytool.jks")
        Self.expectError(.wrongPassword, containing: ["JKS integrity check failed"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(keyStore, password: "wrong-password")
        }
        Self.expectError(.passwordRequired, containing: ["server"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(keyStore, password: nil)
        }
        let keyPassword = try self.fixtures.bytes("keypass.jks")
        Self.expectError(.wrongPassword, containing: ["keytool -keypasswd"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(keyPassword, password: "changeit")
        }
        let jceks = try self.fixtures.bytes("keytool.jceks")
        Self.expectError(.unsupportedFormat, containing: ["JCEKS", "-deststoretype PKCS12"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(jceks, password: "changeit")
        }
    }

    @Test func separateKeyPassword() throws {
        let jks = try self.fixtures.bytes("keypass.jks")
        let contents = try KeyStoreReader.readJKS(jks, password: "changeit", keyPassword: "different")
        try Self.handshake(server: contents, trustRoots: contents.keyCertificateChain)
        // The key password alone decrypts the key (the integrity check needs the store password).
        #expect(try KeyStoreReader.readJKS(jks, password: nil, keyPassword: "different") == contents)
        Self.expectError(.wrongPassword, containing: ["with the key password"]) { () throws(KeyStoreError) in
            try KeyStoreReader.readJKS(jks, password: "changeit", keyPassword: "wrong-password")
        }
        // PKCS#12: key bags try the key password, then the store password.
        let p12 = try self.fixtures.bytes("default.p12")
        let expected = try KeyStoreReader.readPKCS12(p12, password: Self.storePassword)
        #expect(try KeyStoreReader.readPKCS12(p12, password: Self.storePassword, keyPassword: "wrong-password") == expected)
        #expect(try KeyStoreReader.readPKCS12(p12, password: Self.storePassword, keyPassword: Self.storePassword) == expected)
        if self.fixtures.legacyAvailable {
            let legacy = try self.fixtures.bytes("legacy.p12")
            #expect(try KeyStoreReader.readPKCS12(legacy, password: Self.storePassword, keyPassword: "wrong-password").privateKey == expected.privateKey)
        }
    }

    // MARK: PEM rendering

    @Test func pemRenderingRoundTripsThroughOpenSSLAndNIOSSL() throws {
        let contents = try KeyStoreReader.readPKCS12(try self.fixtures.bytes("default.p12"), password: Self.storePassword)
        let keyPEM = try #require(contents.pemPrivateKey)
        #expect(keyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(keyPEM.split(separator: "\n").allSatisfy { $0.count <= 64 })
        _ = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(contents.pemKeyCertificateChain.utf8))
        #expect(try chain.map { try $0.toDERBytes() } == contents.keyCertificateChain)
        #expect(try NIOSSLCertificate.fromPEMBytes(Array(contents.pemCertificates.utf8)).count == 2)

        try keyPEM.write(toFile: self.fixtures.directory + "/rendered.key", atomically: true, encoding: .utf8)
        _ = try self.fixtures.shell("openssl pkcs8 -topk8 -nocrypt -in rendered.key -outform DER -out rendered.key.der")
        #expect(try self.fixtures.bytes("rendered.key.der") == contents.privateKey)
    }

    // MARK: Ciphers against openssl enc

    struct CipherCase: Sendable, CustomTestStringConvertible {
        var name: String
        var cipher: KeyStoreCipher
        var legacy: Bool
        var testDescription: String { self.name }
    }

    @Test(arguments: [
        CipherCase(name: "des-ede3-cbc", cipher: .tripleDESCBC(keySize: 24), legacy: false),
        CipherCase(name: "des-ede-cbc", cipher: .tripleDESCBC(keySize: 16), legacy: false),
        CipherCase(name: "des-cbc", cipher: .desCBC, legacy: true),
        CipherCase(name: "rc2-40-cbc", cipher: .rc2CBC(keySize: 5, effectiveBits: 40), legacy: true),
        CipherCase(name: "rc2-cbc", cipher: .rc2CBC(keySize: 16, effectiveBits: 128), legacy: true),
        CipherCase(name: "aes-256-cbc", cipher: .aesCBC(keySize: 32), legacy: false),
    ])
    func cipherMatchesOpenSSL(_ testCase: CipherCase) throws {
        let (name, cipher, legacy) = (testCase.name, testCase.cipher, testCase.legacy)
        var generator = KeyStoreSplitMix64(seed: 42)
        let key = (0..<cipher.keySize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let iv = (0..<cipher.blockSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in [0, 1, 7, 8, 15, 16, 100] {
            let plaintext = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let file = "cipher-\(name)-\(length)"
            try Data(plaintext).write(to: URL(fileURLWithPath: self.fixtures.directory + "/" + file))
            let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
            let providers = legacy ? "-provider legacy -provider default" : ""
            _ = try self.fixtures.shell(
                "openssl enc -\(name) \(providers) -K \(hex(key)) -iv \(hex(iv)) -in \(file) -out \(file).enc")
            let ciphertext = try self.fixtures.bytes("\(file).enc")
            #expect(cipher.decrypt(ciphertext, key: key, iv: iv) == plaintext, "\(name) length \(length)")
        }
    }
}
