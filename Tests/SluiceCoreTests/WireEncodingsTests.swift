import NIOCore
import SluiceCore
import Synchronization
import Testing

@Suite("Wire encodings shared by a message's subscribers")
struct WireEncodingsTests {
    @Test("Each key is encoded once; the first kept is what every later reader gets")
    func encodesEachKeyOnce() {
        let encodings = WireEncodings()
        let calls = Mutex<[String]>([])
        func encoding(_ key: String, _ text: String) -> String {
            String(
                buffer: encodings.encoding(key) {
                    calls.withLock { $0.append(key) }
                    return ByteBuffer(string: text)
                })
        }
        #expect(encoding("sse/plain", "a") == "a")
        #expect(encoding("sse/plain", "other") == "a")
        #expect(encoding("websocket", "b") == "b")
        #expect(encoding("websocket", "other") == "b")
        #expect(encoding("sse/plain+chunked", "c") == "c")
        #expect(encoding("sse/plain", "other") == "a")
        #expect(encoding("sse/plain+chunked", "other") == "c")
        #expect(calls.withLock { $0 } == ["sse/plain", "websocket", "sse/plain+chunked"])
    }

    @Test("Readers on many threads at once all get the same bytes for a key")
    func concurrentReadersShareOneBuffer() async {
        let encodings = WireEncodings()
        let keys = ["sse/plain", "websocket", "sse/plain+chunked"]
        let seen = await withTaskGroup(of: (String, String).self) { group in
            for index in 0..<300 {
                let key = keys[index % keys.count]
                group.addTask { (key, String(buffer: encodings.encoding(key) { ByteBuffer(string: "\(key)#\(index)") })) }
            }
            var seen: [String: Set<String>] = [:]
            for await (key, bytes) in group { seen[key, default: []].insert(bytes) }
            return seen
        }
        #expect(seen.count == keys.count)
        for key in keys {
            // One buffer per key, made for that key (whichever reader made it first).
            #expect(seen[key]?.count == 1)
            #expect(seen[key]?.first?.hasPrefix("\(key)#") == true)
        }
    }
}
