import Testing

@testable import SluiceCore

@Suite struct RequestIdentifierTests {
    @Test func identifiersAreShapedAsVersion4UUIDs() {
        for _ in 0..<1000 {
            let id = RequestIdentifier.next()
            let groups = id.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || $0 == 45 }, "\(id)")
            #expect(groups[2].first == "4", "\(id)")
            #expect("89ab".contains(groups[3].first!), "\(id)")
        }
    }

    @Test func identifiersDoNotRepeat() {
        var seen = Set<String>()
        for _ in 0..<200_000 {
            seen.insert(RequestIdentifier.next())
        }
        #expect(seen.count == 200_000)
    }

    @Test func consecutiveIdentifiersShareNoObviousPattern() {
        // Counter values 1 apart must not give identifiers that differ in one place only.
        let first = Array(RequestIdentifier.next().utf8)
        let second = Array(RequestIdentifier.next().utf8)
        #expect(zip(first, second).filter { $0 != $1 }.count > 16)
    }

    @Test func formatPlacesEveryNibble() {
        #expect(
            RequestIdentifier.format(high: 0x0123_4567_89AB_4DEF, low: 0x8EDC_BA98_7654_3210)
                == "01234567-89ab-4def-8edc-ba9876543210")
    }
}
