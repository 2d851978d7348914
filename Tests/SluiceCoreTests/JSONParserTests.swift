import Testing
@testable import SluiceCore

/// Parses `text`, returning the syntax error it throws (nil when it parses).
private func parseError(_ text: String) -> JSONParser.SyntaxError? {
    do {
        _ = try JSONParser.parse(text)
        return nil
    } catch {
        return error
    }
}

private func expectError(
    _ text: String, line: Int, column: Int, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let error = parseError(text)
    #expect(error == JSONParser.SyntaxError(line: line, column: column, reason: reason), sourceLocation: sourceLocation)
}

@Suite("JSONParser values")
struct JSONParserValueTests {
    @Test func literals() throws {
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse("false") == .bool(false))
        #expect(try JSONParser.parse(" \t\r\n true \n") == .bool(true))
    }

    @Test func integersStayIntegers() throws {
        #expect(try JSONParser.parse("0") == .integer(0))
        #expect(try JSONParser.parse("-0") == .integer(0))
        #expect(try JSONParser.parse("42") == .integer(42))
        #expect(try JSONParser.parse("-17") == .integer(-17))
        #expect(try JSONParser.parse("9223372036854775807") == .integer(Int.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .integer(Int.min))
    }

    @Test func numbersWithFractionOrExponentAreNumbers() throws {
        #expect(try JSONParser.parse("1.5") == .number(1.5))
        #expect(try JSONParser.parse("-0.25") == .number(-0.25))
        #expect(try JSONParser.parse("1.0") == .number(1.0))
        #expect(try JSONParser.parse("1e3") == .number(1000))
        #expect(try JSONParser.parse("1E+2") == .number(100))
        #expect(try JSONParser.parse("-12.5e-1") == .number(-1.25))
        #expect(try JSONParser.parse("0.5E0") == .number(0.5))
        // Too large for Int: kept as a number.
        #expect(try JSONParser.parse("9223372036854775808") == .number(9_223_372_036_854_775_808.0))
    }

    @Test func integerValueAccessor() throws {
        #expect(try JSONParser.parse("1.0").integerValue == 1)
        #expect(try JSONParser.parse("1.5").integerValue == nil)
        #expect(try JSONParser.parse("7").doubleValue == 7.0)
    }

    @Test func simpleEscapes() throws {
        let value = try JSONParser.parse(#""\" \\ \/ \b \f \n \r \t""#)
        #expect(value == .string("\" \\ / \u{08} \u{0C} \n \r \t"))
    }

    @Test func unicodeEscapes() throws {
        #expect(try JSONParser.parse(#""\u00e9\u00C9\u0041""#) == .string("éÉA"))
        #expect(try JSONParser.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try JSONParser.parse(#""\u2028""#) == .string("\u{2028}"))
    }

    @Test func surrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""a\uD834\uDD1Eb""#) == .string("a𝄞b"))
    }

    @Test func rawUTF8IsKept() throws {
        #expect(try JSONParser.parse("\"héllo wörld 😀 日本\"") == .string("héllo wörld 😀 日本"))
    }

    @Test func emptyContainers() throws {
        #expect(try JSONParser.parse("{}") == .object([:]))
        #expect(try JSONParser.parse("[]") == .array([]))
        #expect(try JSONParser.parse("{ \n }") == .object([:]))
        #expect(try JSONParser.parse("[ \n ]") == .array([]))
    }

    @Test func nestedStructure() throws {
        let value = try JSONParser.parse(#"{"a": [1, 2.5, "x", null, {"b": false}], "c": {}}"#)
        let expected: JSONValue = ["a": [1, 2.5, "x", nil, ["b": false]], "c": [:]]
        #expect(value == expected)
        #expect(value["a"]?.arrayValue?.count == 5)
        #expect(value.value(at: "c") == .object([:]))
    }

    @Test func objectKeyOrderIsPreserved() throws {
        let value = try JSONParser.parse(#"{"zeta": 1, "alpha": 2, "mid": 3, "beta": {"y": 1, "x": 2}}"#)
        let object = try #require(value.objectValue)
        #expect(Array(object.keys) == ["zeta", "alpha", "mid", "beta"])
        let beta = try #require(object["beta"]?.objectValue)
        #expect(Array(beta.keys) == ["y", "x"])
    }

    @Test func parsesBytes() throws {
        let bytes: [UInt8] = Array(#"{"k":"v"}"#.utf8)
        #expect(try JSONParser.parse(bytes) == ["k": "v"])
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = JSONParser.maximumDepth
        #expect(depth == 512)
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try JSONParser.parse(text)
        var levels = 0
        while case .array(let elements) = value {
            levels += 1
            guard let first = elements.first else { break }
            value = first
        }
        #expect(levels == depth)
    }
}

@Suite("JSONParser errors")
struct JSONParserErrorTests {
    @Test func trailingCommaInObject() {
        expectError(#"{"a":1,}"#, line: 1, column: 8, "expected a string as object key")
    }

    @Test func trailingCommaInArray() {
        expectError("[1,2,]", line: 1, column: 6, "unexpected character ']', expected a value")
    }

    @Test func unterminatedString() {
        expectError(#"{"a": "abc"#, line: 1, column: 11, "unterminated string")
    }

    @Test func unterminatedEscape() {
        expectError(#""abc\"#, line: 1, column: 6, "unterminated escape sequence")
    }

    @Test func leadingZeros() {
        expectError("01", line: 1, column: 2, "leading zeros are not allowed in numbers")
        expectError("[-012]", line: 1, column: 4, "leading zeros are not allowed in numbers")
        expectError("00.5", line: 1, column: 2, "leading zeros are not allowed in numbers")
    }

    @Test func malformedNumbers() {
        expectError("1.", line: 1, column: 3, "expected digits after the decimal point")
        expectError("1.e5", line: 1, column: 3, "expected digits after the decimal point")
        expectError("1e", line: 1, column: 3, "expected digits in the exponent")
        expectError("1e+", line: 1, column: 4, "expected digits in the exponent")
        expectError("-", line: 1, column: 2, "invalid number")
        expectError("-a", line: 1, column: 2, "invalid number")
        expectError(".5", line: 1, column: 1, "unexpected character '.', expected a value")
        expectError("+1", line: 1, column: 1, "unexpected character '+', expected a value")
        expectError("1e400", line: 1, column: 1, "number out of range")
        expectError("[0, -1e999]", line: 1, column: 5, "number out of range")
    }

    @Test func duplicateKeys() {
        expectError(#"{"a":1,"a":2}"#, line: 1, column: 8, #"duplicate key "a""#)
        expectError("{\n  \"x\": {\"k\": 1},\n  \"x\": 2\n}", line: 3, column: 3, #"duplicate key "x""#)
        // The same key in different objects is fine.
        #expect(parseError(#"{"a":{"a":1},"b":{"a":2}}"#) == nil)
    }

    @Test func controlCharactersInStrings() {
        expectError("\"a\tb\"", line: 1, column: 3, "control character in string must be escaped")
        expectError("\"a\nb\"", line: 1, column: 3, "control character in string must be escaped")
        expectError("\"\u{01}\"", line: 1, column: 2, "control character in string must be escaped")
    }

    @Test func invalidEscapes() {
        expectError(#""\x""#, line: 1, column: 3, #"invalid escape '\x'"#)
        expectError(#""\u12G4""#, line: 1, column: 6, #"invalid hex digit in \u escape"#)
        expectError(#""\u12"#, line: 1, column: 4, #"truncated \u escape"#)
    }

    @Test func badSurrogates() {
        expectError(#""\ud83d""#, line: 1, column: 8, #"unpaired surrogate in \u escape"#)
        expectError(#""\ud83dx""#, line: 1, column: 8, #"unpaired surrogate in \u escape"#)
        expectError(#""\ude00""#, line: 1, column: 8, #"unpaired surrogate in \u escape"#)
        expectError(#""\ud83d\u0041""#, line: 1, column: 14, #"invalid low surrogate in \u escape"#)
    }

    @Test func invalidUTF8() {
        let error: JSONParser.SyntaxError?
        do {
            _ = try JSONParser.parse([0x22, 0x61, 0xFF, 0x22] as [UInt8])
            error = nil
        } catch let caught {
            error = caught
        }
        #expect(error == JSONParser.SyntaxError(line: 1, column: 2, reason: "invalid UTF-8 in string"))
    }

    @Test func depthOverTheLimit() {
        let text = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        expectError(text, line: 1, column: 513, "nesting deeper than 512 levels")
        let objects = String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513)
        expectError(objects, line: 1, column: 1 + 512 * 5, "nesting deeper than 512 levels")
    }

    @Test func deeplyNestedHostileInputDoesNotCrash() {
        let text = String(repeating: "[", count: 100_000)
        #expect(parseError(text)?.reason == "nesting deeper than 512 levels")
    }

    @Test func invalidLiterals() {
        expectError("nul", line: 1, column: 1, "invalid literal, expected 'null'")
        expectError("[tru]", line: 1, column: 2, "invalid literal, expected 'true'")
        expectError("falsey", line: 1, column: 6, "unexpected content after the JSON value")
        expectError("NaN", line: 1, column: 1, "unexpected character 'N', expected a value")
        expectError("'a'", line: 1, column: 1, "unexpected character ''', expected a value")
    }

    @Test func structuralErrors() {
        expectError("", line: 1, column: 1, "unexpected end of input, expected a value")
        expectError("   ", line: 1, column: 4, "unexpected end of input, expected a value")
        expectError("1 2", line: 1, column: 3, "unexpected content after the JSON value")
        expectError(#"{"a" 1}"#, line: 1, column: 6, "expected ':' after object key")
        expectError(#"{a:1}"#, line: 1, column: 2, "expected a string as object key")
        expectError(#"{"a":1 "b":2}"#, line: 1, column: 8, "expected ',' or '}' in object")
        expectError("[1 2]", line: 1, column: 4, "expected ',' or ']' in array")
        expectError("[1,", line: 1, column: 4, "unexpected end of input, expected a value")
        expectError(#"{"a":"#, line: 1, column: 6, "unexpected end of input, expected a value")
    }

    @Test func lineAndColumnAcrossLines() {
        let text = "{\n  \"a\": 1,\n  \"b\": tru\n}"
        expectError(text, line: 3, column: 8, "invalid literal, expected 'true'")
    }

    @Test func columnsCountCharactersNotBytes() {
        // "é" is two bytes but one column.
        expectError("[\"é\" x]", line: 1, column: 6, "expected ',' or ']' in array")
    }

    @Test func errorDescription() {
        let error = parseError(#"{"a":1,"a":2}"#)
        #expect(error?.description == #"line 1, column 8: duplicate key "a""#)
    }
}

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test func compactOutputKeepsKeyOrder() {
        let value: JSONValue = ["b": 1, "a": [true, nil, "x"], "c": [:], "d": []]
        #expect(JSONWriter.string(value) == #"{"b":1,"a":[true,null,"x"],"c":{},"d":[]}"#)
        #expect(value.description == #"{"b":1,"a":[true,null,"x"],"c":{},"d":[]}"#)
        #expect(JSONWriter.bytes(value) == Array(#"{"b":1,"a":[true,null,"x"],"c":{},"d":[]}"#.utf8))
    }

    @Test func prettyOutput() {
        let value: JSONValue = ["a": [1, 2], "b": [:], "c": ["d": "e"]]
        let expected = """
            {
              "a": [
                1,
                2
              ],
              "b": {},
              "c": {
                "d": "e"
              }
            }
            """
        #expect(JSONWriter.string(value, pretty: true) == expected)
    }

    @Test func numbers() {
        #expect(JSONWriter.string(.integer(-42)) == "-42")
        #expect(JSONWriter.string(.number(1.5)) == "1.5")
        #expect(JSONWriter.string(.number(2.0)) == "2")
        #expect(JSONWriter.string(.number(-0.125)) == "-0.125")
        #expect(JSONWriter.string(.number(1e20)) == "1e+20")
    }

    @Test func stringEscaping() {
        let value = JSONValue.string("q\" b\\ n\n r\r t\t b\u{08} f\u{0C} c\u{01}\u{1F} ls\u{2028} ps\u{2029} / é 😀")
        let expected = #""q\" b\\ n\n r\r t\t b\b f\f c\u0001\u001f ls\u2028 ps\u2029 / é 😀""#
        #expect(JSONWriter.string(value) == expected)
    }

    @Test func appendQuoted() {
        var text = "x="
        JSONWriter.appendQuoted("a\"b", to: &text)
        #expect(text == #"x="a\"b""#)
    }

    @Test(arguments: [
        #"{"b":1,"a":[true,false,null,"x"],"c":{"z":-1.5,"y":{}},"d":[]}"#,
        #"["\"\\\n\r\t\b\f\u0000\u001f","é😀日本","\u2028",1e+20,-3,0.001]"#,
        #"{"nested":{"deeper":{"deepest":[[[]]]}}}"#,
    ])
    func roundTrip(text: String) throws {
        let value = try JSONParser.parse(text)
        let compact = JSONWriter.string(value)
        let pretty = JSONWriter.string(value, pretty: true)
        #expect(try JSONParser.parse(compact) == value)
        #expect(try JSONParser.parse(pretty) == value)
        // Writing is stable.
        #expect(JSONWriter.string(try JSONParser.parse(compact)) == compact)
    }

    @Test func roundTripOfEveryControlCharacter() throws {
        let text = String(String.UnicodeScalarView((0..<0x20).compactMap(Unicode.Scalar.init)))
        let written = JSONWriter.string(.string(text))
        #expect(try JSONParser.parse(written) == .string(text))
    }
}
