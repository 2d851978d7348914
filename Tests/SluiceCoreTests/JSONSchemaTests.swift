import Testing
@testable import SluiceCore

/// Validates `value` against `schema` at the root; returns the normalised value and the problems.
private func check(_ schema: JSONSchema, _ value: JSONValue?) -> (value: JSONValue?, problems: [String]) {
    var problems = Problems()
    let result = schema.validate(value, at: .root, problems: &problems)
    return (result, problems.all.map(\.description))
}

@Suite("JSONSchema")
struct JSONSchemaTests {
    // MARK: Defaults

    @Test func defaultsAreAppliedInPropertyOrder() {
        let schema = JSONSchema.object([
            ("count", .integer(default: 500, minimum: 1)),
            ("name", .string(default: "mock message")),
            ("flag", .boolean(default: false)),
            ("optional", .integer()),
        ])
        let (value, problems) = check(schema, [:])
        #expect(problems == [])
        #expect(value == ["count": 500, "name": "mock message", "flag": false])
        #expect(value.flatMap(\.objectValue).map { Array($0.keys) } == ["count", "name", "flag"])
    }

    @Test func givenValuesWinOverDefaults() {
        let schema = JSONSchema.object([("count", .integer(default: 500)), ("flag", .boolean(default: false))])
        #expect(check(schema, ["flag": true, "count": 7]).value == ["count": 7, "flag": true])
    }

    @Test func nestedObjectDefaults() {
        let schema = JSONSchema.object([
            ("producer", .object([("enabled", .boolean(default: false)), ("compression", .string(default: "none"))], defaultValue: [:])),
            ("security", .object([("protocol", .string(default: "PLAINTEXT"))], defaultValue: ["protocol": "SSL"])),
            ("noDefault", .object([("x", .integer(default: 1))])),
        ])
        let (value, problems) = check(schema, [:])
        #expect(problems == [])
        #expect(value == ["producer": ["enabled": false, "compression": "none"], "security": ["protocol": "SSL"]])
        // A given nested object gets the defaults of its missing members.
        #expect(
            check(schema, ["producer": ["enabled": true], "noDefault": [:]]).value
                == ["producer": ["enabled": true, "compression": "none"], "security": ["protocol": "SSL"], "noDefault": ["x": 1]])
    }

    @Test func absentValueWithoutDefaultStaysAbsent() {
        #expect(check(.integer(), nil).value == nil)
        #expect(check(.integer(default: 3), nil).value == 3)
        #expect(check(.object([("a", .integer(default: 1))]), nil).value == nil)
        #expect(check(.object([("a", .integer(default: 1))], defaultValue: [:]), nil).value == ["a": 1])
    }

    // MARK: Enums

    @Test(arguments: [
        ("SCRAM-SHA-256", "SCRAM-SHA-256"), ("scram_sha_256", "SCRAM-SHA-256"), ("Scram-Sha-256", "SCRAM-SHA-256"),
        ("plain", "PLAIN"), ("PLAIN", "PLAIN"), ("oauthbearer", "OAUTHBEARER"),
    ])
    func enumValuesAreCanonicalised(given: String, canonical: String) {
        let schema = JSONSchema.string(enum: ["GSSAPI", "OAUTHBEARER", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        let (value, problems) = check(schema, .string(given))
        #expect(problems == [])
        #expect(value == .string(canonical))
    }

    @Test func lowercaseEnumLabels() {
        let schema = JSONSchema.string(enum: ["earliest", "latest", "none"])
        #expect(check(schema, "LATEST").value == "latest")
        #expect(check(schema, "Earliest").value == "earliest")
    }

    @Test func unknownEnumValueIsAnError() {
        let schema = JSONSchema.string(enum: ["earliest", "latest", "none"])
        let (value, problems) = check(schema, "newest")
        #expect(problems == ["(root): must be one of earliest, latest, none"])
        #expect(value == "newest")
        #expect(check(schema, 3).problems == ["(root): must be one of earliest, latest, none"])
    }

    @Test func canonicalEnumValue() {
        #expect(JSONSchema.canonicalEnumValue("a_b", in: ["A-B", "a_b"]) == "a_b")
        #expect(JSONSchema.canonicalEnumValue("A_B", in: ["x", "a-b"]) == "a-b")
        #expect(JSONSchema.canonicalEnumValue("ab", in: ["a-b"]) == nil)
    }

    // MARK: Integers

    @Test func integerMinimumMessage() {
        let schema = JSONSchema.integer(minimum: 1)
        #expect(check(schema, 0).problems == ["(root): must be an integer >= 1"])
        #expect(check(schema, -5).problems == ["(root): must be an integer >= 1"])
        #expect(check(schema, "abc").problems == ["(root): must be an integer >= 1"])
        #expect(check(schema, 1.5).problems == ["(root): must be an integer >= 1"])
        #expect(check(schema, true).problems == ["(root): must be an integer >= 1"])
        #expect(check(schema, 1).problems == [])
    }

    @Test func integerRangeMessage() {
        let schema = JSONSchema.integer(minimum: 0, maximum: 10)
        #expect(check(schema, 11).problems == ["(root): must be an integer between 0 and 10"])
        #expect(check(schema, -1).problems == ["(root): must be an integer between 0 and 10"])
        #expect(check(schema, "x").problems == ["(root): must be an integer between 0 and 10"])
        #expect(check(schema, 0).problems == [])
        #expect(check(schema, 10).problems == [])
    }

    @Test func integerMaximumAndPlainMessages() {
        #expect(check(.integer(maximum: 5), 6).problems == ["(root): must be an integer <= 5"])
        #expect(check(.integer(), "5").problems == ["(root): must be an integer"])
        #expect(check(.integer(), nil).problems == [])
    }

    @Test func wholeNumbersBecomeIntegers() {
        #expect(check(.integer(), 3.0).value == .integer(3))
        #expect(check(.integer(), 3.0).problems == [])
    }

    @Test func numericStringsOnlyWhenAccepted() {
        let accepting = JSONSchema.integer(minimum: 1, maximum: 65535, acceptsNumericString: true)
        #expect(check(accepting, "1883").value == .integer(1883))
        #expect(check(accepting, "1883").problems == [])
        #expect(check(accepting, " 8883 ").value == .integer(8883))
        #expect(check(accepting, "18x3").problems == ["(root): must be an integer between 1 and 65535"])
        #expect(check(accepting, "70000").problems == ["(root): must be an integer between 1 and 65535"])
        #expect(check(accepting, "").problems == ["(root): must be an integer between 1 and 65535"])

        let strict = JSONSchema.integer(minimum: 1, maximum: 65535)
        let (value, problems) = check(strict, "1883")
        #expect(problems == ["(root): must be an integer between 1 and 65535"])
        #expect(value == "1883")
    }

    // MARK: Other kinds

    @Test func otherKindMessages() {
        #expect(check(.string(), 1).problems == ["(root): must be a string"])
        #expect(check(.string(minLength: 1), "").problems == ["(root): must not be empty"])
        #expect(check(.string(minLength: 3), "ab").problems == ["(root): must be at least 3 characters long"])
        #expect(check(.string(maxLength: 2), "abc").problems == ["(root): must be at most 2 characters long"])
        #expect(check(.boolean(), "true").problems == ["(root): must be true or false"])
        #expect(check(JSONSchema(kind: .number), "1").problems == ["(root): must be a number"])
        #expect(check(JSONSchema(kind: .number), 1).problems == [])
        #expect(check(.object([]), []).problems == ["(root): must be an object"])
        #expect(check(.array(of: .string()), [:]).problems == ["(root): must be an array"])
    }

    @Test func arrays() {
        let schema = JSONSchema.array(of: .object([("name", .string(minLength: 1)), ("value", .string(default: ""))], required: ["name"]), minItems: 1)
        #expect(check(schema, []).problems == ["(root): must not be empty"])
        #expect(check(.array(of: .string(), minItems: 2), ["a"]).problems == ["(root): must have at least 2 items"])
        let (value, problems) = check(schema, [["name": "a"], ["value": "v"], ["name": ""]])
        #expect(value == [["name": "a", "value": ""], ["value": "v"], ["name": "", "value": ""]])
        #expect(problems == ["[1].name: is required", "[2].name: must not be empty"])
    }

    // MARK: Objects

    @Test func requiredMembers() {
        let schema = JSONSchema.object([("host", .string()), ("port", .integer(default: 5672))], required: ["host", "vpn"])
        let (value, problems) = check(schema, [:])
        #expect(problems == ["host: is required", "vpn: is required"])
        #expect(value == ["port": 5672])
        #expect(check(schema, ["host": "h"]).problems == ["vpn: is required"])
    }

    /// A member named in `required` but not in `properties` is known: demanded when absent, never
    /// warned about as unknown when given.
    @Test func requiredNameWithoutAPropertyIsNotUnknownWhenGiven() {
        let schema = JSONSchema.object([("host", .string())], required: ["host", "vpn"])
        #expect(check(schema, ["host": "h", "vpn": "v"]).problems == [])
    }

    @Test func unknownMembersAreWarningsAndKept() {
        let schema = JSONSchema.object([("known", .integer(default: 1))])
        var problems = Problems()
        let value = schema.validate(["mystery": "x", "known": 2], at: DocumentPath.root + "configuration", problems: &problems)
        #expect(value == ["known": 2, "mystery": "x"])
        #expect(problems.hasErrors == false)
        #expect(problems.errors == [])
        #expect(problems.warnings.map(\.description) == ["configuration.mystery: warning: is not a known option; it is kept but ignored"])
        #expect(problems.all.map(\.severity) == [.warning])
        #expect(problems.all.first?.message == "is not a known option; it is kept but ignored")
    }

    @Test func everyProblemIsReportedWithItsPath() {
        let schema = JSONSchema.object([
            ("a", .integer(minimum: 1)),
            ("b", .object([("c", .boolean()), ("d", .string(enum: ["x", "y"]))])),
            ("e", .array(of: .integer(maximum: 3))),
        ])
        let (_, problems) = check(schema, ["a": 0, "b": ["c": "no", "d": "z"], "e": [1, 4, 5]])
        #expect(
            problems == [
                "a: must be an integer >= 1", "b.c: must be true or false", "b.d: must be one of x, y",
                "e[1]: must be an integer <= 3", "e[2]: must be an integer <= 3",
            ])
    }

    // MARK: Conditions

    /// `mode` none/basic; with basic a username is required (a JSON Schema if/then).
    private static let authSchema = JSONSchema.object(
        [
            ("mode", .string(default: "none", enum: ["none", "basic", "token"])),
            ("username", .string(minLength: 1)),
        ],
        allOf: [
            .when(.propertyEquals("mode", "basic"), then: .object([("password", .string(secret: true))], required: ["username", "password"])),
            .when(.propertyEquals("mode", "token"), then: .object([("token", .string())], required: ["token"]), otherwise: .object([("token", .string(default: "none"))])),
        ])

    @Test func conditionalRequiredMembers() {
        let schema = Self.authSchema
        #expect(check(schema, ["mode": "basic"]).problems == ["password: is required", "username: is required"])
        #expect(check(schema, ["mode": "token"]).problems == ["token: is required"])
        #expect(check(schema, ["mode": "none"]).problems == [])
        #expect(check(schema, ["mode": "basic", "username": "u", "password": "p"]).problems == [])
    }

    @Test func conditionSeesCanonicalEnumValues() {
        #expect(check(Self.authSchema, ["mode": "BASIC"]).problems == ["password: is required", "username: is required"])
    }

    @Test func conditionSeesDefaults() {
        let schema = JSONSchema.object(
            [("mode", .string(default: "closed", enum: ["open", "closed"]))],
            allOf: [.when(.propertyEquals("mode", "closed"), then: .object([("reason", .string())], required: ["reason"]))])
        #expect(check(schema, [:]).problems == ["reason: is required"])
        #expect(check(schema, ["mode": "open"]).problems == [])
    }

    @Test func elseBranchAppliesItsDefaults() {
        // (A branch puts its own members first, so compare without order.)
        for given: JSONValue in [["mode": "none"], [:]] {
            let value = check(Self.authSchema, given).value
            #expect(value?.objectValue?.count == 2)
            #expect(value?["mode"] == "none")
            #expect(value?["token"] == "none")
        }
    }

    @Test func membersOfConditionalBranchesAreNotUnknown() {
        let (_, problems) = check(Self.authSchema, ["mode": "basic", "username": "u", "password": "p", "token": "t", "other": 1])
        #expect(problems == ["other: warning: is not a known option; it is kept but ignored"])
    }

    @Test func propertyEqualsMatches() {
        let condition = JSONSchema.propertyEquals("type", "PEM")
        #expect(condition.matches(["type": "PEM"]))
        #expect(condition.matches(["type": "PEM", "other": 1]))
        #expect(!condition.matches(["type": "JKS"]))
        #expect(!condition.matches([:]))
        #expect(!condition.matches("PEM"))
    }

    @Test func constMismatchMessage() {
        #expect(check(JSONSchema(kind: nil, constValue: "x"), "y").problems == [#"(root): must be "x""#])
        #expect(check(JSONSchema(kind: nil, constValue: 1), 1).problems == [])
    }

    // MARK: JSON output

    @Test func jsonOfASmallSchemaIsExact() {
        let schema = JSONSchema.object(
            title: "Example",
            [
                ("port", .integer(title: "Port", default: 1883, minimum: 1, maximum: 65535, acceptsNumericString: true)),
                ("mode", .string(enum: ["a", "b"])),
                ("password", .string(secret: true)),
                ("tags", .array(of: .string(minLength: 1), minItems: 1)),
            ],
            required: ["mode"])
        let expected = #"""
            {"type":"object","title":"Example","properties":{"port":{"type":"integer","title":"Port","default":1883,"minimum":1,"maximum":65535,"x-accepts-numeric-string":true},"mode":{"type":"string","enum":["a","b"]},"password":{"type":"string","writeOnly":true},"tags":{"type":"array","items":{"type":"string","minLength":1},"minItems":1}},"required":["mode"]}
            """#
        #expect(JSONWriter.string(schema.json) == expected)
    }

    @Test func jsonOfConditions() {
        let json = Self.authSchema.json
        let allOf = json["allOf"]?.arrayValue
        #expect(allOf?.count == 2)
        #expect(allOf?.first?["if"] == ["type": "object", "properties": ["mode": ["const": "basic"]], "required": ["mode"]])
        #expect(allOf?.first?["then"]?["required"] == ["username", "password"])
        #expect(allOf?.first?["then"]?["properties"]?["password"] == ["type": "string", "writeOnly": true])
        #expect(allOf?.last?["else"] == ["type": "object", "properties": ["token": ["type": "string", "default": "none"]]])
        #expect(json["properties"]?["mode"] == ["type": "string", "default": "none", "enum": ["none", "basic", "token"]])
    }
}

@Suite("DocumentPath and Problem")
struct DocumentPathTests {
    @Test func descriptions() {
        #expect(DocumentPath.root.description == "(root)")
        #expect((DocumentPath.root + "a").description == "a")
        #expect((DocumentPath.root + "endpointGroups" + 0 + "endpoints" + 1 + "configuration").description == "endpointGroups[0].endpoints[1].configuration")
        #expect((DocumentPath.root + 3 + "name").description == "[3].name")
        #expect((DocumentPath.root + "headers" + "x.y").description == #"headers["x.y"]"#)
        #expect((DocumentPath.root + "a" + #"q"k"#).description == #"a["q\"k"]"#)
        #expect((DocumentPath.root + "").description == #"[""]"#)
        #expect((DocumentPath.root + "security_protocol-2$").description == "security_protocol-2$")
    }

    @Test func problemFormatting() {
        let error = Problem(DocumentPath.root + "a", "is required")
        let warning = Problem(DocumentPath.root + "b", "is odd", severity: .warning)
        #expect(error.description == "a: is required")
        #expect(warning.description == "b: warning: is odd")
        #expect(error.json == ["path": "a", "message": "is required", "severity": "error"])
        #expect(warning.json == ["path": "b", "message": "is odd", "severity": "warning"])
    }

    @Test func problemsSplitBySeverity() {
        var problems = Problems()
        problems.warning(.root, "w")
        #expect(!problems.hasErrors)
        problems.error(.root, "e")
        #expect(problems.hasErrors)
        #expect(problems.errors.map(\.message) == ["e"])
        #expect(problems.warnings.map(\.message) == ["w"])
        #expect(problems.all.map(\.message) == ["w", "e"])
    }
}
