import Foundation

/// What a JKS or PKCS#12 key store holds, reduced to what a TLS stack needs.
struct KeyStoreContents: Sendable, Equatable {
    /// DER certificates, in file order.
    /// - JKS: the trusted certificate entries (the chains of private key entries are in `keyCertificateChain`).
    /// - PKCS#12: every certificate bag, including those of the key's chain.
    var certificates: [[UInt8]]
    /// The private key as unencrypted PKCS#8 `PrivateKeyInfo` DER, or nil if the store has none.
    /// If the store holds several private keys, this is the first one in file order.
    var privateKey: [UInt8]?
    /// The certificate chain that belongs to `privateKey`, leaf first (empty without a key).
    var keyCertificateChain: [[UInt8]]
    /// The JKS alias or PKCS#12 friendlyName of the private key entry, if any (for log messages).
    var privateKeyAlias: String?

    init(
        certificates: [[UInt8]] = [],
        privateKey: [UInt8]? = nil,
        keyCertificateChain: [[UInt8]] = [],
        privateKeyAlias: String? = nil
    ) {
        self.certificates = certificates
        self.privateKey = privateKey
        self.keyCertificateChain = keyCertificateChain
        self.privateKeyAlias = privateKeyAlias
    }

    /// `certificates` as concatenated PEM `CERTIFICATE` blocks (e.g. for librdkafka `ssl.ca.pem`).
    var pemCertificates: String {
        self.certificates.map { KeyStorePEM.encode($0, label: "CERTIFICATE") }.joined()
    }

    /// `keyCertificateChain` as concatenated PEM `CERTIFICATE` blocks, leaf first.
    var pemKeyCertificateChain: String {
        self.keyCertificateChain.map { KeyStorePEM.encode($0, label: "CERTIFICATE") }.joined()
    }

    /// `privateKey` as a PEM `PRIVATE KEY` (unencrypted PKCS#8) block.
    var pemPrivateKey: String? {
        self.privateKey.map { KeyStorePEM.encode($0, label: "PRIVATE KEY") }
    }
}

enum KeyStorePEM {
    /// RFC 7468 encoding: base64 in lines of 64 characters, `\n` line ends.
    static func encode(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString()
        var out = "-----BEGIN \(label)-----\n"
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            out += base64[index..<end]
            out += "\n"
            index = end
        }
        out += "-----END \(label)-----\n"
        return out
    }
}
