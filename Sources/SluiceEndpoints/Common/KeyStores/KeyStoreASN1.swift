import SwiftASN1

/// Small, throwing navigation helpers over SwiftASN1 nodes. BER is accepted (PKCS#12 files from
/// some tools use indefinite lengths and constructed OCTET STRINGs); certificates and keys that are
/// handed to the caller are the exact encodings found in the file.
///
/// Error messages never include the underlying parser error, which could echo decrypted content.
enum KeyStoreASN1 {
    static let contextTag0 = ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)

    static func parse(_ bytes: ArraySlice<UInt8>, _ what: String) throws(KeyStoreError) -> ASN1Node {
        do {
            return try BER.parse(bytes)
        } catch {
            throw .malformed("\(what) is not valid ASN.1")
        }
    }

    static func parse(_ bytes: [UInt8], _ what: String) throws(KeyStoreError) -> ASN1Node {
        try self.parse(bytes[...], what)
    }

    /// The children of a constructed node with the given identifier, with a count check.
    static func children(
        _ node: ASN1Node,
        _ what: String,
        identifier: ASN1Identifier = .sequence,
        count: ClosedRange<Int> = 0...Int.max
    ) throws(KeyStoreError) -> [ASN1Node] {
        guard node.identifier == identifier, case .constructed(let collection) = node.content else {
            throw .malformed("\(what): expected \(identifier), found \(node.identifier)")
        }
        var result: [ASN1Node] = []
        for child in collection {
            result.append(child)
            guard result.count <= count.upperBound else {
                throw .malformed("\(what): too many elements")
            }
        }
        guard count.contains(result.count) else {
            throw .malformed("\(what): expected \(count.lowerBound)...\(count.upperBound) elements, found \(result.count)")
        }
        return result
    }

    /// A dotted-decimal object identifier.
    static func oid(_ node: ASN1Node, _ what: String) throws(KeyStoreError) -> String {
        do {
            return try ASN1ObjectIdentifier(derEncoded: node).description
        } catch {
            throw .malformed("\(what): expected an OBJECT IDENTIFIER")
        }
    }

    /// The content of an OCTET STRING (primitive or BER constructed), optionally implicitly tagged.
    static func octets(
        _ node: ASN1Node,
        _ what: String,
        identifier: ASN1Identifier = .octetString
    ) throws(KeyStoreError) -> [UInt8] {
        do {
            return Array(try ASN1OctetString(berEncoded: node, withIdentifier: identifier).bytes)
        } catch {
            throw .malformed("\(what): expected an OCTET STRING")
        }
    }

    static func integer(_ node: ASN1Node, _ what: String) throws(KeyStoreError) -> Int {
        do {
            return try Int(derEncoded: node)
        } catch {
            throw .malformed("\(what): expected an INTEGER that fits 64 bits")
        }
    }

    /// The single node inside an `[tag] EXPLICIT` wrapper.
    static func explicit(_ node: ASN1Node, tag: UInt, _ what: String) throws(KeyStoreError) -> ASN1Node {
        let identifier = ASN1Identifier(tagWithNumber: tag, tagClass: .contextSpecific)
        return try self.children(node, what, identifier: identifier, count: 1...1)[0]
    }

    /// An AlgorithmIdentifier: the OID and the optional parameters node.
    static func algorithm(_ node: ASN1Node, _ what: String) throws(KeyStoreError) -> (oid: String, parameters: ASN1Node?) {
        let parts = try self.children(node, what, count: 1...2)
        let oid = try self.oid(parts[0], "\(what) algorithm")
        let parameters = parts.count > 1 && parts[1].identifier != .null ? parts[1] : nil
        return (oid, parameters)
    }

    /// A BMPString's text (used for PKCS#12 friendlyName); nil when not decodable.
    static func bmpString(_ node: ASN1Node) -> String? {
        guard let string = try? ASN1BMPString(berEncoded: node), string.bytes.count % 2 == 0 else { return nil }
        let bytes = Array(string.bytes)
        let units = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        return String(decoding: units, as: UTF16.self)
    }

    /// Checks that `bytes` is exactly one ASN.1 SEQUENCE (a certificate or PKCS#8 key) and returns it.
    static func validatedSequence(_ bytes: [UInt8], _ what: String) throws(KeyStoreError) -> [UInt8] {
        let node = try self.parse(bytes, what)
        guard node.identifier == .sequence, case .constructed = node.content else {
            throw .malformed("\(what) is not an ASN.1 SEQUENCE")
        }
        return bytes
    }

    /// Checks that `bytes` is a PKCS#8 PrivateKeyInfo (version, algorithm, key octets, ...) and returns it.
    static func validatedPrivateKeyInfo(_ bytes: [UInt8], _ what: String) throws(KeyStoreError) -> [UInt8] {
        let parts = try self.children(self.parse(bytes, what), what, count: 3...5)
        guard parts[0].identifier == .integer, parts[1].identifier == .sequence, parts[2].identifier == .octetString else {
            throw .malformed("\(what) is not a PKCS#8 PrivateKeyInfo")
        }
        return bytes
    }

    /// The parts of a certificate used to order chains: raw issuer and subject Name encodings.
    static func certificateNames(_ der: [UInt8]) -> (issuer: ArraySlice<UInt8>, subject: ArraySlice<UInt8>)? {
        guard let certificate = try? BER.parse(der),
              case .constructed(let top) = certificate.content,
              let tbs = top.first(where: { _ in true }),
              case .constructed(let tbsFields) = tbs.content
        else { return nil }
        var fields = Array(tbsFields)
        if let first = fields.first, first.identifier == contextTag0 {
            fields.removeFirst()  // [0] version
        }
        // serialNumber, signature, issuer, validity, subject
        guard fields.count >= 5 else { return nil }
        return (fields[2].encodedBytes, fields[4].encodedBytes)
    }
}
