import Foundation
import NIOSSL
import SluiceCore

/// Turns the common trust/key store model into a NIOSSL client configuration for the native
/// clients (MQTT 5, AMQP 0-9-1). A store that cannot be read is an error naming the store, never
/// a silent fall back to an unverified or plain connection. Passwords never appear in errors.
public enum NIOSSLStores {
    public struct StoreError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func clientConfiguration(_ stores: TLSStores) throws(StoreError) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = stores.hostnameVerification ? .fullVerification : .noHostnameVerification
        if let trust = stores.trustStore {
            configuration.trustRoots = .certificates(try trustedCertificates(trust))
        }
        if let key = stores.keyStore {
            let (chain, privateKey) = try identity(key)
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(privateKey)
        }
        return configuration
    }

    static func trustedCertificates(_ store: TLSStores.TrustStore) throws(StoreError) -> [NIOSSLCertificate] {
        switch store.type {
        case .pem:
            let bytes = try read(store.source, what: "trust store", binary: false)
            let certificates = (try? NIOSSLCertificate.fromPEMBytes(bytes)) ?? []
            guard !certificates.isEmpty else { throw StoreError(description: "the PEM trust store \(describe(store.source)) holds no certificate") }
            return certificates
        case .jks, .pkcs12:
            let contents = try readBundle(store.type, store.source, password: store.password, keyPassword: nil, what: "trust store")
            let certificates = contents.certificates + contents.keyCertificateChain
            guard !certificates.isEmpty else { throw StoreError(description: "the \(store.type.rawValue) trust store \(describe(store.source)) holds no certificate") }
            return try Self.certificates(certificates, in: store.source)
        case .none:
            return []
        }
    }

    static func identity(_ store: TLSStores.KeyStore) throws(StoreError) -> ([NIOSSLCertificate], NIOSSLPrivateKey) {
        switch store {
        case .pem(let chainSource, let keySource, let keyPassword):
            let chain = (try? NIOSSLCertificate.fromPEMBytes(try read(chainSource, what: "certificate chain", binary: false))) ?? []
            guard !chain.isEmpty else { throw StoreError(description: "the PEM certificate chain \(describe(chainSource)) holds no certificate") }
            let keyBytes = try read(keySource, what: "private key", binary: false)
            do {
                let key: NIOSSLPrivateKey
                if let keyPassword {
                    key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem) { provide in provide(Array(keyPassword.utf8)) }
                } else {
                    key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
                }
                return (chain, key)
            } catch {
                throw StoreError(description: "the PEM private key \(describe(keySource)) cannot be read (wrong key password, or not a PEM key)")
            }
        case .bundle(let type, let source, let password, let keyPassword):
            let contents = try readBundle(type, source, password: password, keyPassword: keyPassword, what: "key store")
            guard let keyBytes = contents.privateKey, !contents.keyCertificateChain.isEmpty else {
                throw StoreError(description: "the \(type.rawValue) key store \(describe(source)) holds no private key with its certificate")
            }
            let chain = try Self.certificates(contents.keyCertificateChain, in: source)
            guard let key = try? NIOSSLPrivateKey(bytes: keyBytes, format: .der) else {
                throw StoreError(description: "the private key in \(describe(source)) is of a kind TLS cannot use")
            }
            return (chain, key)
        }
    }

    /// JKS and PKCS12 stores are read by Sluice's own readers (`KeyStoreReader`): NIOSSL's PKCS12
    /// bundle stops the process on a store without a private key, so it is never given user
    /// files.
    static func readBundle(
        _ type: TLSStores.StoreType, _ source: TLSStores.Source, password: String?, keyPassword: String?, what: String
    ) throws(StoreError) -> KeyStoreContents {
        let bytes = try read(source, what: what, binary: true)
        do {
            switch type {
            case .jks: return try KeyStoreReader.readJKS(bytes, password: password, keyPassword: keyPassword)
            default: return try KeyStoreReader.readPKCS12(bytes, password: password, keyPassword: keyPassword)
            }
        } catch {
            throw StoreError(description: "the \(type.rawValue) \(what) \(describe(source)) cannot be read: \(error.description)")
        }
    }

    static func certificates(_ ders: [[UInt8]], in source: TLSStores.Source) throws(StoreError) -> [NIOSSLCertificate] {
        var certificates: [NIOSSLCertificate] = []
        for der in ders {
            guard let certificate = try? NIOSSLCertificate(bytes: der, format: .der) else {
                throw StoreError(description: "a certificate in \(describe(source)) cannot be read")
            }
            certificates.append(certificate)
        }
        return certificates
    }

    /// The store's bytes: a file's content, or inline content (text for PEM, base64 otherwise).
    static func read(_ source: TLSStores.Source, what: String, binary: Bool) throws(StoreError) -> [UInt8] {
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StoreError(description: "the \(what) file \(path) cannot be read")
            }
            return Array(data)
        case .inline(let content):
            guard binary else { return Array(content.utf8) }
            guard let data = Data(base64Encoded: content, options: .ignoreUnknownCharacters) else {
                throw StoreError(description: "the inline \(what) is not base64")
            }
            return Array(data)
        }
    }

    static func describe(_ source: TLSStores.Source) -> String {
        switch source {
        case .file(let path): return path
        case .inline: return "(inline)"
        }
    }
}
