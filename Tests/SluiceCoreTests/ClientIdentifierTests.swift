import NIOCore
import Testing
@testable import SluiceCore

@Suite("ClientIdentifier")
struct ClientIdentifierTests {
    @Test func computedIsTheSHA256HexOfTheAddress() {
        #expect(
            ClientIdentifier.computed(remoteAddress: "127.0.0.1")
                == "12ca17b49af2289436f303e0166030a21e525d266e209267433801a8fd4071a0")
        #expect(
            ClientIdentifier.computed(remoteAddress: "2001:db8::1")
                == "5afd19e856d1c18d17d600dfd2b5f534992333985e126c2a951047102c1ed536")
    }

    @Test func computedWithoutAnAddress() {
        #expect(
            ClientIdentifier.computed(remoteAddress: nil)
                == "b23a6a8439c0dde5515893e7c90c1e3233b8616e634470f20dc4928bcf3609bc")
    }

    @Test func computedIsLowercaseHexOf64Characters() {
        for address in ["10.0.0.1", "192.168.1.254", "::1", ""] {
            let identifier = ClientIdentifier.computed(remoteAddress: address)
            #expect(identifier.count == 64)
            #expect(identifier.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        }
        #expect(ClientIdentifier.computed(remoteAddress: "10.0.0.1") != ClientIdentifier.computed(remoteAddress: "10.0.0.2"))
    }

    @Test func effectiveWithoutASentValueIsTheComputedOne() {
        let computed = ClientIdentifier.computed(remoteAddress: "127.0.0.1")
        #expect(ClientIdentifier.effective(sent: nil, computed: computed) == computed)
        #expect(ClientIdentifier.effective(sent: "", computed: computed) == computed)
    }

    @Test func effectiveJoinsTheSentAndTheComputed() {
        #expect(ClientIdentifier.effective(sent: "reader-1", computed: "abc123") == "reader-1-abc123")
        #expect(ClientIdentifier.effective(sent: "a", computed: "b") == "a-b")
    }

    @Test func effectiveKeepsAnEchoedIdentifier() {
        // A client sending back the identifier it was given keeps it, not a longer one.
        let first = ClientIdentifier.effective(sent: "reader-1", computed: "abc123")
        #expect(ClientIdentifier.effective(sent: first, computed: "abc123") == "reader-1-abc123")
        #expect(ClientIdentifier.effective(sent: "abc123", computed: "abc123") == "abc123")
        #expect(ClientIdentifier.effective(sent: "xabc123", computed: "abc123") == "xabc123")
    }

    @Test func differentClientsGetDifferentIdentifiers() {
        let computed = ClientIdentifier.computed(remoteAddress: "127.0.0.1")
        #expect(ClientIdentifier.effective(sent: "a", computed: computed) != ClientIdentifier.effective(sent: "b", computed: computed))
    }

    @Test func headerNames() {
        #expect(ClientIdentifier.headerNames == ["X-Sluice-Client-Identifier", "X-Gravitee-Client-Identifier"])
    }

    @Test(arguments: ["client-1", "A_b.c:d@e", "x", "~!%^&()=[]{}|'\"<?`", String(repeating: "a", count: 200)])
    func acceptable(sent: String) {
        #expect(ClientIdentifier.isAcceptable(sent))
    }

    @Test(arguments: [
        "with space", "a/b", "a+b", "a#b", "a*b", "a>b", "a$b", "a;b", "a,b", "tab\tx", "new\nline", "é", "😀",
        "del\u{7F}", "nul\u{0}", String(repeating: "a", count: 201),
    ])
    func notAcceptable(sent: String) {
        #expect(!ClientIdentifier.isAcceptable(sent))
    }

    @Test func identityIsComputedFromTheAddressAndWhatWasSent() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 40_000)
        let computed = ClientIdentifier.computed(remoteAddress: "127.0.0.1")
        #expect(ClientIdentity.derived(sent: nil, remoteAddress: address).effective == computed)
        #expect(ClientIdentity.derived(sent: "reader-1", remoteAddress: address).effective == "reader-1-\(computed)")
        #expect(ClientIdentity.derived(sent: nil, remoteAddress: nil).effective == ClientIdentifier.computed(remoteAddress: nil))
        #expect(ClientIdentity.known("given").effective == "given")
    }
}
