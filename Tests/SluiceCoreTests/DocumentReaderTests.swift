import Testing
@testable import SluiceCore

private func readError(_ text: String, _ syntax: DocumentReader.Syntax) -> DocumentReader.ReadError? {
    do {
        _ = try DocumentReader.read(text, syntax: syntax)
        return nil
    } catch {
        return error
    }
}

@Suite("DocumentReader")
struct DocumentReaderTests {
    @Test func syntaxFromFileName() {
        #expect(DocumentReader.syntax(forFileName: "api.json", content: "name: x") == .json)
        #expect(DocumentReader.syntax(forFileName: "API.JSON", content: "") == .json)
        #expect(DocumentReader.syntax(forFileName: "api.yaml", content: "{\"a\": 1}") == .yaml)
        #expect(DocumentReader.syntax(forFileName: "api.YML", content: "[1]") == .yaml)
        #expect(DocumentReader.syntax(forFileName: "/etc/sluice/apis/orders.yml", content: "") == .yaml)
    }

    @Test func syntaxSniffedFromContent() {
        #expect(DocumentReader.syntax(forFileName: "api.txt", content: "  \n\t{\"a\": 1}") == .json)
        #expect(DocumentReader.syntax(forFileName: "api", content: "[1, 2]") == .json)
        #expect(DocumentReader.syntax(forFileName: "-", content: "name: x") == .yaml)
        #expect(DocumentReader.syntax(forFileName: "stdin", content: "---\nname: x") == .yaml)
        #expect(DocumentReader.syntax(forFileName: "empty", content: "") == .yaml)
        #expect(DocumentReader.syntax(forFileName: "api.json.bak", content: "# comment\n{}") == .yaml)
    }

    @Test func readsJSON() throws {
        let documents = try DocumentReader.read(#"{"b": 1, "a": [true, null, 2.5, "s"]}"#, syntax: .json)
        #expect(documents == [["b": 1, "a": [true, nil, 2.5, "s"]]])
        let object = try #require(documents.first?.objectValue)
        #expect(Array(object.keys) == ["b", "a"])
    }

    @Test func malformedJSONReportsLineAndColumn() {
        let error = readError("{\n  \"a\": 1,\n}", .json)
        #expect(error?.syntax == .json)
        #expect(error?.reason == "line 3, column 1: expected a string as object key")
        #expect(error?.description == "malformed JSON: line 3, column 1: expected a string as object key")
    }

    @Test func duplicateJSONKeysAreAnError() {
        #expect(readError(#"{"a": 1, "a": 2}"#, .json)?.reason == #"line 1, column 10: duplicate key "a""#)
    }

    @Test func yamlScalarTypes() throws {
        let text = """
            int: 42
            negative: -7
            float: 1.5
            exponent: 1.0e+3
            yes: true
            no: false
            nullWord: null
            tilde: ~
            empty:
            string: hello world
            quotedNumber: "42"
            quotedBool: 'true'
            quotedNull: "null"
            version: 4.0.0
            """
        let documents = try DocumentReader.read(text, syntax: .yaml)
        #expect(documents.count == 1)
        let document = try #require(documents.first)
        #expect(document["int"] == .integer(42))
        #expect(document["negative"] == .integer(-7))
        #expect(document["float"] == .number(1.5))
        #expect(document["exponent"] == .number(1000))
        #expect(document["yes"] == .bool(true))
        #expect(document["no"] == .bool(false))
        #expect(document["nullWord"] == .null)
        #expect(document["tilde"] == .null)
        #expect(document["empty"] == .null)
        #expect(document["string"] == .string("hello world"))
        #expect(document["quotedNumber"] == .string("42"))
        #expect(document["quotedBool"] == .string("true"))
        #expect(document["quotedNull"] == .string("null"))
        #expect(document["version"] == .string("4.0.0"))
    }

    @Test func yamlNonFiniteFloatsStayStrings() throws {
        let document = try #require(try DocumentReader.read("a: .inf\nb: .nan\n", syntax: .yaml).first)
        #expect(document["a"] == .string(".inf"))
        #expect(document["b"] == .string(".nan"))
    }

    @Test func yamlKeyOrderAndNesting() throws {
        let text = """
            zeta: 1
            alpha:
              - name: a
                value: x
              - [1, 2]
            mid: {y: 1, x: 2}
            """
        let document = try #require(try DocumentReader.read(text, syntax: .yaml).first)
        let expected: JSONValue = ["zeta": 1, "alpha": [["name": "a", "value": "x"], [1, 2]], "mid": ["y": 1, "x": 2]]
        #expect(document == expected)
        let object = try #require(document.objectValue)
        let mid = try #require(document["mid"]?.objectValue)
        #expect(Array(object.keys) == ["zeta", "alpha", "mid"])
        #expect(Array(mid.keys) == ["y", "x"])
    }

    @Test func yamlAndJSONGiveTheSameValue() throws {
        let json = try DocumentReader.read(#"{"name": "x", "list": [1, "two", {"three": 3.5}], "flag": false, "none": null}"#, syntax: .json)
        let yaml = try DocumentReader.read("name: x\nlist:\n  - 1\n  - two\n  - three: 3.5\nflag: false\nnone: null\n", syntax: .yaml)
        #expect(json == yaml)
    }

    @Test func yamlAliasesAreResolved() throws {
        let document = try #require(try DocumentReader.read("a: &anchor\n  k: v\nb: *anchor\n", syntax: .yaml).first)
        #expect(document["b"] == ["k": "v"])
    }

    @Test func multiDocumentYAML() throws {
        let text = """
            name: first
            ---
            name: second
            ---
            - 1
            - 2
            """
        let documents = try DocumentReader.read(text, syntax: .yaml)
        #expect(documents == [["name": "first"], ["name": "second"], [1, 2]])
    }

    // Yams' sequence keeps a parser error aside and ends: the reader must report it (malformed YAML and
    // duplicate keys), never return the documents read so far as if the file ended there.
    @Test func yamlDuplicateKeysAreAnError() {
        let error = readError("a: 1\nb: 2\na: 3\n", .yaml)
        #expect(error?.syntax == .yaml)
        #expect(error?.reason.lowercased().contains("duplicate") == true)
        #expect(error?.reason.contains("a") == true)
        #expect(error?.description.hasPrefix("malformed YAML: ") == true)
        // Nested mappings too.
        #expect(readError("outer:\n  k: 1\n  k: 2\n", .yaml)?.reason.lowercased().contains("duplicate") == true)
    }

    @Test func malformedYAML() {
        let error = readError("a: [1, 2\nb: 3\n", .yaml)
        #expect(error?.syntax == .yaml)
        #expect(error?.description.hasPrefix("malformed YAML: ") == true)
        #expect(error?.reason.isEmpty == false)
        #expect(error?.reason.contains("\n") == false)
    }

    @Test func malformedLaterYAMLDocumentIsNotDropped() {
        // The first document is fine, the second is not: the file must be refused, not cut short.
        #expect(readError("name: first\n---\nname: [unclosed\n", .yaml) != nil)
        #expect(readError("name: first\n---\nname: a\nname: b\n", .yaml) != nil)
    }

    @Test func yamlKeysThatAreEqualAsStringsAreDuplicates() {
        // `1` (an int) and '1' (a string) are different YAML nodes but the same JSON key.
        #expect(readError("1: a\n'1': b\n", .yaml)?.reason == #"line 2, column 1: duplicate key "1""#)
    }

    @Test func yamlComplexKeysAreRefused() {
        let error = readError("? [a, b]\n: value\n", .yaml)
        #expect(error?.reason == "line 1, column 3: mapping keys must be scalars")
    }

    @Test func yamlNestingIsBounded() {
        let text = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(readError(text, .yaml)?.reason == "nesting deeper than 512 levels")
    }
}

@Suite("DefinitionSource")
struct DefinitionSourceTests {
    @Test func singleJSONDefinition() throws {
        let entries = try DefinitionSource.entries(fromText: #"{"name": "a", "listeners": []}"#, fileName: "a.json")
        #expect(entries.count == 1)
        #expect(entries.first?.document == ["name": "a", "listeners": []])
        #expect(entries.first?.path == .root)
        #expect(entries.first?.path.description == "(root)")
    }

    @Test func listOfDefinitions() throws {
        let entries = try DefinitionSource.entries(fromText: #"[{"name": "a"}, {"name": "b"}]"#, fileName: "apis")
        #expect(entries.map(\.document) == [["name": "a"], ["name": "b"]])
        #expect(entries.map(\.path.description) == ["[0]", "[1]"])
    }

    @Test func yamlStreamOfDefinitions() throws {
        let text = """
            name: a
            ---
            - name: b
            - name: c
            """
        let entries = try DefinitionSource.entries(fromText: text, fileName: "apis.yaml")
        #expect(entries.map(\.document) == [["name": "a"], ["name": "b"], ["name": "c"]])
        #expect(entries.map(\.path.description) == ["[0]", "[1][0]", "[1][1]"])
    }

    @Test func emptyYAMLDocumentsAreSkipped() throws {
        let entries = try DefinitionSource.entries(fromText: "name: a\n---\n---\nname: b\n", fileName: "apis.yml")
        #expect(entries.map(\.document) == [["name": "a"], ["name": "b"]])
        #expect(entries.map(\.path.description) == ["[0]", "[2]"])
    }

    @Test func graviteeExportEnvelopeIsUnwrapped() throws {
        let text = """
            {
              "export": {"date": "2024-01-01"},
              "api": {"name": "orders", "listeners": [{"type": "http"}], "endpointGroups": []},
              "plans": [{"name": "Keyless", "security": {"type": "KEY_LESS"}}],
              "members": []
            }
            """
        let entries = try DefinitionSource.entries(fromText: text, fileName: "export.json")
        #expect(entries.count == 1)
        let expected: JSONValue = [
            "name": "orders", "listeners": [["type": "http"]], "endpointGroups": [],
            "plans": [["name": "Keyless", "security": ["type": "KEY_LESS"]]],
        ]
        #expect(entries.first?.document == expected)
        #expect(entries.first?.path == .root)
    }

    @Test func exportKeepsTheApisOwnPlans() throws {
        let text = #"{"api": {"name": "x", "listeners": [], "plans": [{"name": "inner"}]}, "plans": [{"name": "outer"}]}"#
        let entries = try DefinitionSource.entries(fromText: text, fileName: "x.json")
        #expect(entries.first?.document["plans"] == [["name": "inner"]])
    }

    @Test func exportsInAListAreUnwrapped() throws {
        let text = #"[{"api": {"name": "x", "listeners": []}, "plans": []}, {"name": "y", "listeners": []}]"#
        let entries = try DefinitionSource.entries(fromText: text, fileName: "x.json")
        #expect(entries.map(\.document) == [["name": "x", "listeners": [], "plans": []], ["name": "y", "listeners": []]])
    }

    @Test func objectsThatAreNotExportsAreLeftAlone() throws {
        // Has listeners itself: a definition with an unrelated `api` member.
        let own = #"{"name": "x", "listeners": [], "api": {"listeners": []}}"#
        let ownValue = try JSONParser.parse(own)
        #expect(try DefinitionSource.entries(fromText: own, fileName: "x.json").first?.document == ownValue)
        // `api` without listeners is not a definition.
        let other = #"{"api": {"name": "x"}, "plans": []}"#
        let otherValue = try JSONParser.parse(other)
        #expect(try DefinitionSource.entries(fromText: other, fileName: "x.json").first?.document == otherValue)
    }

    /// Fails because of the DocumentReader YAML bug above: the file reads as no definitions at all.
    @Test func malformedYAMLFileIsRefused() {
        #expect(throws: DocumentReader.ReadError.self) {
            try DefinitionSource.entries(fromText: "name: a\nname: b\n", fileName: "api.yaml")
        }
    }

    @Test func readErrorsArePassedOn() {
        do {
            _ = try DefinitionSource.entries(fromText: "{\"a\": }", fileName: "x.json")
            Issue.record("expected a read error")
        } catch {
            #expect(error.syntax == .json)
            #expect(error.reason == "line 1, column 7: unexpected character '}', expected a value")
        }
    }
}
