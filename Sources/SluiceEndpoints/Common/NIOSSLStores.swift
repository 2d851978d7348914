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
            throw unsupported(store.type, "trust")
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
        case .bundle(let type, _, _, _):
            throw unsupported(type, "key")
        }
    }

    /// JKS and PKCS12 stores need Sluice's own readers (NIOSSL's PKCS12 bundle stops the process
    /// on a store without a private key, so it is never given user files).
    static func unsupported(_ type: TLSStores.StoreType, _ kind: String) -> StoreError {
        StoreError(description: "\(type.rawValue) \(kind) stores are not supported by this endpoint yet: use PEM (openssl pkcs12 -in STORE -nodes converts one)")
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
