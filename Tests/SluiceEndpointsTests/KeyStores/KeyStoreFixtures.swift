import Foundation
import Testing

@testable import SluiceEndpoints

/// Runs the real tools (openssl, keytool). A missing tool fails the test with install advice.
enum KeyStoreTestTools {
    static let installAdvice = "install the fixture tools: apt-get install openssl openjdk-17-jre-headless"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func locate(_ tool: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        throw Failure(description: "`\(tool)` was not found on PATH; \(installAdvice)")
    }

    /// Runs `command` with /bin/sh in `directory`; throws with its output unless the exit status is 0.
    @discardableResult
    static func shell(_ command: String, in directory: String, allowFailure: Bool = false) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let outputFile = directory + "/.last-command-output"
        _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        if process.terminationStatus != 0 && !allowFailure {
            throw Failure(description: "command failed (\(process.terminationStatus)): \(command)\n\(output)")
        }
        return (process.terminationStatus, output)
    }
}

/// Key stores made once per test run by openssl and keytool in a temporary directory.
struct KeyStoreFixtures: Sendable {
    /// Made once, on a thread of its own: openssl and keytool take seconds, and a test blocking a
    /// thread of the cooperative pool (two on two cores) would stall every other test's async work
    /// in the process meanwhile.
    private static let creation = Task { try await onThread { try KeyStoreFixtures() } }

    static func get() async throws -> KeyStoreFixtures {
        try await creation.value
    }

    /// Runs blocking work (processes, file system) off the cooperative pool.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    let directory: String
    /// Whether `openssl pkcs12 -legacy` works (OpenSSL's legacy provider is installed).
    let legacyAvailable: Bool

    /// OpenSSL PKCS#12 stores with key `leaf.key`, chain leaf.pem + ca.pem, password "secret".
    static let opensslKeyStores: [(file: String, password: String?)] = [
        ("default.p12", "secret"),
        ("aes128-sha512.p12", "secret"),
        ("aes192-sha384.p12", "secret"),
        ("pbes2-3des-sha1mac.p12", "secret"),
        ("nomac.p12", "secret"),
        ("noenc.p12", "secret"),
        ("noenc-nomac.p12", "secret"),
        ("empty-password.p12", ""),
        ("empty-password.p12", nil),
        ("unicode-password.p12", "pässwörd-✓"),
    ]

    /// Stores written with `openssl pkcs12 -legacy` and the PKCS#12 PBE algorithms.
    static let legacyKeyStores: [(file: String, password: String?)] = [
        ("legacy.p12", "secret"),  // RC2-40 certificates, 3DES key, HMAC-SHA1
        ("legacy-3des.p12", "secret"),
        ("legacy-2des.p12", "secret"),
        ("legacy-rc2-128.p12", "secret"),
        ("legacy-nomac.p12", "secret"),
        ("legacy-empty-password.p12", nil),
    ]

    init() throws {
        let openssl = try KeyStoreTestTools.locate("openssl")
        let keytool = try KeyStoreTestTools.locate("keytool")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("keystore-fixtures-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory

        let sh = { (command: String) throws in _ = try KeyStoreTestTools.shell(command, in: directory) }
        let o = "'\(openssl)'"
        let k = "'\(keytool)'"

        // Certificates and keys.
        try sh("\(o) req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj '/CN=Sluice Test CA' -days 30")
        try sh("\(o) req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj '/CN=localhost'")
        try sh("\(o) x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 30")
        try sh("\(o) req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.csr -subj '/CN=ec.localhost'")
        try sh("\(o) x509 -req -in ec.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ec.pem -days 30")
        try sh("\(o) req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout other-ca.key -out other-ca.pem -subj '/CN=Other CA' -days 30")
        for name in ["ca", "leaf", "ec", "other-ca"] {
            try sh("\(o) x509 -in \(name).pem -outform DER -out \(name).der")
        }
        for name in ["leaf", "ec"] {
            // PKCS#8 PrivateKeyInfo DER (`pkey -outform DER` would write the traditional form).
            try sh("\(o) pkcs8 -topk8 -nocrypt -in \(name).key -outform DER -out \(name).key.der")
        }

        // OpenSSL PKCS#12 key stores.
        let export = "\(o) pkcs12 -export -in leaf.pem -inkey leaf.key -certfile ca.pem -name server"
        try sh("\(export) -out default.p12 -passout pass:secret")
        try sh("\(export) -keypbe AES-128-CBC -certpbe AES-128-CBC -macalg sha512 -out aes128-sha512.p12 -passout pass:secret")
        try sh("\(export) -keypbe AES-192-CBC -certpbe AES-192-CBC -macalg sha384 -out aes192-sha384.p12 -passout pass:secret")
        try sh("\(export) -keypbe DES-EDE3-CBC -certpbe DES-EDE3-CBC -macalg sha1 -out pbes2-3des-sha1mac.p12 -passout pass:secret")
        try sh("\(export) -nomac -out nomac.p12 -passout pass:secret")
        try sh("\(export) -keypbe NONE -certpbe NONE -out noenc.p12 -passout pass:secret")
        try sh("\(export) -keypbe NONE -certpbe NONE -nomac -out noenc-nomac.p12 -passout pass:secret")
        try sh("\(export) -out empty-password.p12 -passout pass:")
        try sh("\(export) -out unicode-password.p12 -passout 'pass:pässwörd-✓'")
        try sh("\(o) pkcs12 -export -in ec.pem -inkey ec.key -certfile ca.pem -name ec -out ec.p12 -passout pass:secret")
        // Trust stores without a key: the case that crashes NIOSSLPKCS12Bundle.
        try sh("\(o) pkcs12 -export -nokeys -in ca.pem -out trust.p12 -passout pass:secret")
        try sh("cat ca.pem other-ca.pem > two-cas.pem && \(o) pkcs12 -export -nokeys -in two-cas.pem -out trust2.p12 -passout pass:secret")
        try sh("\(o) pkcs12 -export -nokeys -in ca.pem -certpbe NONE -nomac -out trust-plain.p12 -passout pass:")

        let legacy = try KeyStoreTestTools.shell("\(export) -legacy -out legacy.p12 -passout pass:secret", in: directory, allowFailure: true)
        self.legacyAvailable = legacy.status == 0
        if self.legacyAvailable {
            try sh("\(export) -legacy -certpbe PBE-SHA1-3DES -out legacy-3des.p12 -passout pass:secret")
            try sh("\(export) -legacy -keypbe PBE-SHA1-2DES -certpbe PBE-SHA1-2DES -out legacy-2des.p12 -passout pass:secret")
            try sh("\(export) -legacy -keypbe PBE-SHA1-RC2-128 -certpbe PBE-SHA1-RC2-128 -out legacy-rc2-128.p12 -passout pass:secret")
            try sh("\(export) -legacy -nomac -out legacy-nomac.p12 -passout pass:secret")
            try sh("\(export) -legacy -out legacy-empty-password.p12 -passout pass:")
            try sh("\(export) -legacy -keypbe PBE-SHA1-RC4-128 -certpbe PBE-SHA1-RC4-128 -out legacy-rc4.p12 -passout pass:secret")
        }

        // keytool stores.
        let genkey = "\(k) -genkeypair -alias server -keyalg RSA -keysize 2048 -dname CN=jks.localhost -validity 30 -storepass changeit -keypass changeit"
        try sh("\(genkey) -storetype JKS -keystore keytool.jks")
        try sh("\(k) -genkeypair -alias ecserver -keyalg EC -groupname secp256r1 -dname CN=ec.jks -validity 30 -storepass changeit -keypass changeit -storetype JKS -keystore keytool-ec.jks")
        try sh("\(genkey) -storetype PKCS12 -keystore keytool.p12")
        try sh("\(k) -genkeypair -alias server -keyalg RSA -keysize 2048 -dname CN=keypass -validity 30 -storepass changeit -keypass different -storetype JKS -keystore keypass.jks")
        try sh("\(genkey) -storetype JCEKS -keystore keytool.jceks")
        for (type, file) in [("JKS", "trust.jks"), ("PKCS12", "keytool-trust.p12")] {
            try sh("\(k) -importcert -storetype \(type) -noprompt -keystore \(file) -storepass changeit -alias ca -file ca.pem")
            try sh("\(k) -importcert -storetype \(type) -noprompt -keystore \(file) -storepass changeit -alias other -file other-ca.pem")
        }
        // The OpenSSL key and chain moved into a JKS, and the keytool key moved out for comparison.
        try sh("\(k) -importkeystore -noprompt -srckeystore default.p12 -srcstoretype PKCS12 -srcstorepass secret -destkeystore imported.jks -deststoretype JKS -deststorepass changeit -destkeypass changeit")
        try sh("\(k) -importkeystore -noprompt -srckeystore trust.jks -srcstoretype JKS -srcstorepass changeit -destkeystore imported.jks -deststoretype JKS -deststorepass changeit")
        try sh("\(k) -exportcert -alias server -keystore keytool.jks -storepass changeit -file keytool.der")
        try sh("\(k) -importkeystore -noprompt -srckeystore keytool.jks -srcstoretype JKS -srcstorepass changeit -destkeystore keytool-export.p12 -deststoretype PKCS12 -deststorepass changeit")
        try sh("\(o) pkcs12 -in keytool-export.p12 -passin pass:changeit -nocerts -nodes | \(o) pkcs8 -topk8 -nocrypt -outform DER -out keytool.key.der")
    }

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: self.directory + "/" + name)))
    }

    func shell(_ command: String) throws -> String {
        try KeyStoreTestTools.shell(command, in: self.directory).output
    }
}
