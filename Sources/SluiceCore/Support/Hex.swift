import Crypto

/// Lowercase hexadecimal text of bytes (digests, revisions, identifiers).
public enum Hex {
    public static func string<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The SHA-256 of a text's UTF-8 bytes in hex, cut to `length` characters: stable names
    /// derived from identifiers (broker client ids, queue names).
    public static func sha256(_ text: String, length: Int = 64) -> String {
        String(string(SHA256.hash(data: Array(text.utf8))).prefix(length))
    }
}
