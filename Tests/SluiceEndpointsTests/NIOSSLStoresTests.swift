import Foundation
import NIOSSL
import SluiceCore
import Testing

@testable import SluiceEndpoints

/// The common store model read from configuration and turned into NIOSSL settings, against stores
/// made by `openssl` (PEM, encrypted PEM keys, PKCS12) and `keytool` (JKS), read by Sluice's own
/// readers for JKS and PKCS12 (never by NIOSSL's PKCS12 bundle).
@Suite struct NIOSSLStoresTests {
    /// A certificate authority, a client certificate signed by it, and stores made from them.
    final class Material: Sendable {
        let directory: String

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-stores-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Test CA", "-keyout", path("ca.key"), "-out", path("ca.pem"))
            try run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client", "-keyout", path("client.key"), "-out", path("client.csr"))
            try run("x509", "-req", "-in", path("client.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-days", "1", "-out", path("client.pem"))
            try run("pkey", "-in", path("client.key"), "-aes256", "-passout", "pass:key-secret", "-out", path("client-encrypted.key"))
            try run("pkcs12", "-export", "-in", path("client.pem"), "-inkey", path("client.key"), "-passout", "pass:store-secret", "-out", path("client.p12"))
            try run("pkcs12", "-export", "-nokeys", "-in", path("ca.pem"), "-passout", "pass:store-secret", "-out", path("trust.p12"))
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        func run(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "openssl \(arguments.joined(separator: " ")) failed")
        }
    }

    static func configuration(_ ssl: JSONValue) throws(NIOSSLStores.StoreError) -> TLSConfiguration {
        try NIOSSLStores.clientConfiguration(TLSStores.read(ssl: ssl, spelling: .pathContent))
    }

    @Test func pemTrustStoreByPathAndInline() throws {
        let material = try Material()
        let byPath = try Self.configuration(["trustStore": ["type": "PEM", "path": .string(material.path("ca.pem"))]])
        guard case .certificates(let certificates)? = byPath.trustRoots else {
            Issue.record("expected certificates as trust roots")
            return
        }
        #expect(certificates.count == 1)
        #expect(byPath.certificateVerification == .fullVerification)

        let pem = try String(contentsOfFile: material.path("ca.pem"), encoding: .utf8)
        let inline = try Self.configuration(["hostnameVerifier": false, "trustStore": ["type": "pem", "content": .string(pem)]])
        #expect(inline.trustRoots == byPath.trustRoots)
        #expect(inline.certificateVerification == .noHostnameVerification)
    }

    @Test func pemKeyStoreWithPlainAndEncryptedKeys() throws {
        let material = try Material()
        let plain = try Self.configuration(
            ["keyStore": ["type": "PEM", "certPath": .string(material.path("client.pem")), "keyPath": .string(material.path("client.key"))]])
        #expect(plain.certificateChain.count == 1)
        #expect(plain.privateKey != nil)

        let encrypted: JSONValue = [
            "keyStore": [
                "type": "PEM", "certPath": .string(material.path("client.pem")), "keyPath": .string(material.path("client-encrypted.key")),
                "keyPassword": "key-secret",
            ]
        ]
        let decrypted = try Self.configuration(encrypted)
        #expect(decrypted.privateKey == plain.privateKey)

        var wrong = encrypted
        if case .object(var object) = wrong, case .object(var keyStore)? = object["keyStore"] {
            keyStore["keyPassword"] = "not-it"
            object["keyStore"] = .object(keyStore)
            wrong = .object(object)
        }
        do {
            _ = try Self.configuration(wrong)
            Issue.record("a wrong key password must fail")
        } catch {
            #expect(error.description.contains("wrong key password"))
            #expect(!error.description.contains("not-it"), "passwords never appear in errors")
        }
    }

    @Test func pkcs12KeyAndTrustStoresMapToNIOSSL() throws {
        let material = try Material()
        let both = try Self.configuration([
            "keyStore": ["type": "PKCS12", "path": .string(material.path("client.p12")), "password": "store-secret"],
            "trustStore": ["type": "PKCS12", "path": .string(material.path("trust.p12")), "password": "store-secret"],
        ])
        #expect(both.certificateChain.count == 1)
        #expect(both.privateKey != nil)
        guard case .certificates(let roots)? = both.trustRoots else {
            Issue.record("expected the trust store's certificates")
            return
        }
        #expect(roots.count == 1)
        // Inline, base64.
        let inline = try Data(contentsOf: URL(fileURLWithPath: material.path("client.p12"))).base64EncodedString()
        #expect(try Self.configuration(["keyStore": ["type": "PKCS12", "content": .string(inline), "password": "store-secret"]]).privateKey != nil)
    }

    @Test func pkcs12ProblemsAreClearErrorsWithoutThePassword() throws {
        let material = try Material()
        do {
            _ = try Self.configuration(["keyStore": ["type": "PKCS12", "path": .string(material.path("client.p12")), "password": "wrong-secret"]])
            Issue.record("a wrong store password must fail")
        } catch {
            #expect(error.description.contains("password"))
            #expect(!error.description.contains("wrong-secret"))
        }
        do {
            // A trust store has no key: as a key store it is refused, never handed to NIOSSL.
            _ = try Self.configuration(["keyStore": ["type": "PKCS12", "path": .string(material.path("trust.p12")), "password": "store-secret"]])
            Issue.record("a store without a key must fail as a key store")
        } catch {
            #expect(error.description.contains("holds no private key"))
        }
    }

    @Test func jksKeyAndTrustStoresMapToNIOSSL() throws {
        let material = try Material()
        let keytool = "/usr/bin/keytool"
        try #require(FileManager.default.isExecutableFile(atPath: keytool), "keytool is missing: apt-get install openjdk-17-jre-headless")
        func keytoolRun(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: keytool)
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "keytool \(arguments.joined(separator: " ")) failed")
        }
        try keytoolRun(
            "-importkeystore", "-srckeystore", material.path("client.p12"), "-srcstoretype", "PKCS12", "-srcstorepass", "store-secret",
            "-destkeystore", material.path("client.jks"), "-deststoretype", "JKS", "-deststorepass", "jks-secret", "-destkeypass", "jks-secret", "-noprompt")
        try keytoolRun(
            "-importcert", "-noprompt", "-alias", "ca", "-file", material.path("ca.pem"), "-keystore", material.path("trust.jks"),
            "-storetype", "JKS", "-storepass", "jks-secret")
        let configuration = try Self.configuration([
            "keyStore": ["type": "JKS", "path": .string(material.path("client.jks")), "password": "jks-secret"],
            "trustStore": ["type": "JKS", "path": .string(material.path("trust.jks")), "password": "jks-secret"],
        ])
        #expect(configuration.certificateChain.count == 1)
        #expect(configuration.privateKey != nil)
        do {
            _ = try Self.configuration(["trustStore": ["type": "JKS", "path": .string(material.path("trust.jks")), "password": "not-the-one"]])
            Issue.record("a wrong JKS password must fail")
        } catch {
            #expect(!error.description.contains("not-the-one"))
        }
    }

    @Test func brokenAndUnsupportedStoresAreErrors() throws {
        let material = try Material()
        try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(toFile: material.path("broken.pem"), atomically: true, encoding: .utf8)
        #expect(throws: NIOSSLStores.StoreError.self) {
            try Self.configuration(["trustStore": ["type": "PEM", "path": .string(material.path("broken.pem"))]])
        }
        #expect(throws: NIOSSLStores.StoreError.self) {
            try Self.configuration(["trustStore": ["type": "PEM", "path": "/no/such/file.pem"]])
        }
        #expect(throws: NIOSSLStores.StoreError.self) {
            try Self.configuration(["trustStore": ["type": "JKS", "path": .string(material.path("ca.pem")), "password": "x"]])
        }
        #expect(throws: NIOSSLStores.StoreError.self) {
            try Self.configuration(["keyStore": ["type": "PKCS12", "content": "%%% not base64 %%%", "password": "x"]])
        }
    }

    @Test func incompleteStoresAreReportedWithPaths() {
        let ssl: JSONValue = [
            "trustStore": ["type": "JKS", "path": "/x.jks"],
            "keyStore": ["type": "PEM", "certPath": "/c.pem"],
        ]
        let problems = TLSStores.problems(in: ssl, spelling: .pathContent, at: DocumentPath.root + "security" + "ssl").map(\.description)
        #expect(
            problems == [
                "security.ssl.trustStore.password: is required for a JKS trust store",
                "security.ssl.keyStore: a PEM key store needs the private key (keyPath or keyContent)",
            ])
        #expect(TLSStores.problems(in: ["trustStore": ["type": "NONE"]], spelling: .pathContent, at: .root).isEmpty)
        #expect(TLSStores.read(ssl: ["trustStore": ["type": "NONE"]], spelling: .pathContent).trustStore == nil)
    }

    @Test func schemaMarksSecretsWriteOnly() {
        let json = TLSStores.pathContentSchema.json
        #expect(json["properties"]?["keyStore"]?["properties"]?["password"]?["writeOnly"] == true)
        #expect(json["properties"]?["keyStore"]?["properties"]?["keyContent"]?["writeOnly"] == true)
        #expect(json["properties"]?["trustStore"]?["properties"]?["type"]?["enum"] == ["PEM", "JKS", "PKCS12", "NONE"])
    }
}
