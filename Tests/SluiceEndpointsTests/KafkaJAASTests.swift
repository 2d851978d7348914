import Testing

@testable import SluiceEndpoints

@Suite struct KafkaJAASTests {
    static let password = "S3cr3t-pw"
    static let plainModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

    @Test func plainMapsToUsernameAndPassword() throws {
        let jaas = try KafkaJAAS(parsing: "\(Self.plainModule) required username=\"alice\" password=\"\(Self.password)\";")
        #expect(jaas.loginModule == .plain)
        #expect(jaas.controlFlag == .required)
        #expect(jaas.options == ["username": "alice", "password": Self.password])
        #expect(jaas.properties == ["sasl.username": "alice", "sasl.password": Self.password])
        #expect(jaas.ignoredOptions.isEmpty)
        #expect(jaas.supports(.plain))
        #expect(!jaas.supports(.scramSHA256))
    }

    @Test(arguments: [KafkaEndpointConfiguration.SASLMechanism.scramSHA256, .scramSHA512])
    func scramMapsToUsernameAndPassword(mechanism: KafkaEndpointConfiguration.SASLMechanism) throws {
        let jaas = try KafkaJAAS(
            parsing: "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=bob\n  password=\"\(Self.password)\";")
        #expect(jaas.loginModule == .scram)
        #expect(jaas.properties == ["sasl.username": "bob", "sasl.password": Self.password])
        #expect(jaas.supports(mechanism))
        #expect(!jaas.supports(.plain))
    }

    @Test func unsecuredOAuthBearerMapsToLibrdkafkasUnsecuredJWT() throws {
        let simple = try KafkaJAAS(
            parsing: "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";")
        #expect(simple.properties == ["enable.sasl.oauthbearer.unsecure.jwt": "true", "sasl.oauthbearer.config": "principal=admin"])
        #expect(simple.supports(.oauthBearer))

        let full = try KafkaJAAS(
            parsing: """
                org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required
                  unsecuredLoginPrincipalClaimName="azp" unsecuredLoginStringClaim_azp="svc"
                  unsecuredLoginScopeClaimName="roles" unsecuredLoginListClaim_roles="|read|write"
                  unsecuredLoginLifetimeSeconds="600" unsecuredLoginExtension_traceId="123"
                  unsecuredLoginStringClaim_iss="me";
                """)
        #expect(
            full.properties["sasl.oauthbearer.config"]
                == "principalClaimName=azp principal=svc scopeClaimName=roles scope=read,write lifeSeconds=600 extension_traceId=123")
        #expect(full.ignoredOptions == ["unsecuredLoginStringClaim_iss"], "librdkafka cannot add other claims")

        let stringScope = try KafkaJAAS(
            parsing: "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=a unsecuredLoginStringClaim_scope=read;")
        #expect(stringScope.properties["sasl.oauthbearer.config"] == "principal=a scope=read")
    }

    @Test func oidcOAuthBearerMapsToLibrdkafkasOIDCMethod() throws {
        let jaas = try KafkaJAAS(
            parsing: """
                org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="sluice" \
                clientSecret="\(Self.password)" scope="kafka" tokenEndpointUrl="https://idp.example.com/token" extension_logicalCluster="lkc-1";
                """)
        #expect(
            jaas.properties == [
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": "sluice",
                "sasl.oauthbearer.client.secret": Self.password,
                "sasl.oauthbearer.scope": "kafka",
                "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/token",
                "sasl.oauthbearer.extensions": "logicalCluster=lkc-1",
            ])
        // Strimzi's names are accepted too.
        let strimzi = try KafkaJAAS(
            parsing: """
                org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required oauth.client.id="c" \
                oauth.client.secret="\(Self.password)" oauth.token.endpoint.uri="https://idp/token";
                """)
        #expect(strimzi.properties["sasl.oauthbearer.client.id"] == "c")
        #expect(strimzi.properties["sasl.oauthbearer.token.endpoint.url"] == "https://idp/token")
        #expect(strimzi.properties["sasl.oauthbearer.scope"] == nil)
    }

    @Test func kerberosMapsToLibrdkafkasKerberosSettings() throws {
        let jaas = try KafkaJAAS(
            parsing: """
                com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true storeKey=true \
                keyTab="/etc/security/keytabs/sluice.keytab" principal="sluice@EXAMPLE.COM" serviceName="kafka-prod";
                """)
        #expect(
            jaas.properties == [
                "sasl.kerberos.principal": "sluice@EXAMPLE.COM",
                "sasl.kerberos.keytab": "/etc/security/keytabs/sluice.keytab",
                "sasl.kerberos.service.name": "kafka-prod",
            ])
        #expect(jaas.ignoredOptions.isEmpty)
        #expect(jaas.supports(.gssapi))
        let defaults = try KafkaJAAS(parsing: "com.sun.security.auth.module.Krb5LoginModule required principal=\"p@R\";")
        #expect(defaults.properties["sasl.kerberos.service.name"] == "kafka")
    }

    @Test func valuesMayBeQuotedWithEscapesOrBare() throws {
        let jaas = try KafkaJAAS(
            parsing: #"  \#(Self.plainModule)   optional username = "a \"quoted\" name"  password="back\\slash\ttab";   "#)
        #expect(jaas.controlFlag == .optional)
        #expect(jaas.options["username"] == "a \"quoted\" name")
        #expect(jaas.options["password"] == "back\\slash\ttab")
        for flag in KafkaJAAS.ControlFlag.allCases {
            #expect(try KafkaJAAS(parsing: "\(Self.plainModule) \(flag.rawValue) username=u password=p;").controlFlag == flag)
        }
    }

    /// Malformed and unusable lines, with a fragment of the expected message. Every line holds the
    /// password, and no message may.
    static let malformed: [(line: String, message: String)] = [
        ("\(plainModule) required username=\"u\" password=\"\(password);", "the quoted value of option password is not closed"),
        ("\(plainModule) required username=\"u\" password=\"\(password)\"", "expected ';' at the end of the line"),
        ("org.example.MyLoginModule required username=\"u\" password=\"\(password)\";", "unknown login module org.example.MyLoginModule"),
        ("\(password) required username=\"u\";", "unknown login module"),
        ("\(plainModule) mandatory username=\"u\" password=\"\(password)\";", "expected a control flag after the login module: required, requisite, sufficient or optional (found mandatory)"),
        ("\(plainModule) username=\"u\" password=\"\(password)\";", "expected a control flag"),
        ("\(plainModule) required password=\"\(password)\";", "the PlainLoginModule needs the option username"),
        ("\(plainModule) required username=\"u\";", "the PlainLoginModule needs the option password"),
        ("\(plainModule) required username=\"u\" password=\"\";", "option password of the PlainLoginModule must not be empty"),
        ("\(plainModule) required username=\"u\" \"\(password)\";", "expected an option name"),
        ("\(plainModule) required username=\"u\" \(password);", "expected '=' after an option name"),
        ("\(plainModule) required username=\"u\" password=;", "option password has no value"),
        ("\(plainModule) required username=\"u\" password=ab\"\(password)\";", "a quote inside the unquoted value of option password"),
        ("\(plainModule) required username=\"u\" password=\"\(password)\"; other", "exactly one login module"),
        ("\(plainModule) required password=\"x\" password=\"\(password)\" username=u;", "option password is given twice"),
        ("", "expected the login module's class name"),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientSecret=\"\(password)\";",
            "OIDC login with the OAuthBearerLoginModule needs the option clientId"
        ),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required foo=\"\(password)\";",
            "needs either unsecuredLoginStringClaim_sub"
        ),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=a clientId=c clientSecret=\"\(password)\";",
            "not both"
        ),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"two \(password)\";",
            "option unsecuredLoginStringClaim_sub must be non-empty and without spaces"
        ),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=a unsecuredLoginLifetimeSeconds=\"\(password)\";",
            "unsecuredLoginLifetimeSeconds must be a whole number"
        ),
        (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=c clientSecret=\"\(password)\" tokenEndpointUrl=\"\(password)\";",
            "option tokenEndpointUrl must be an http, https or file URL"
        ),
        ("com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"\(password)\";", "useKeyTab=true needs the option keyTab"),
    ]

    @Test(arguments: malformed)
    func malformedLinesAreClearErrorsWithoutValues(line: String, message: String) {
        #expect {
            _ = try KafkaJAAS(parsing: line)
        } throws: { error in
            let text = (error as? KafkaJAAS.ParseError)?.description ?? ""
            return text.contains(message) && !text.contains(Self.password)
        }
    }

    @Test func errorsNameThePosition() {
        #expect(throws: KafkaJAAS.ParseError("at character 57: expected a control flag after the login module: required, requisite, sufficient or optional (found requird)")) {
            try KafkaJAAS(parsing: "\(Self.plainModule) requird username=u password=p;")
        }
        #expect(throws: KafkaJAAS.ParseError("at character 97: expected ';' at the end of the line")) {
            try KafkaJAAS(parsing: "\(Self.plainModule) required username=u password=\"\(Self.password)\"")
        }
    }

    @Test func unknownOptionsAreListedAsIgnored() throws {
        let jaas = try KafkaJAAS(parsing: "\(Self.plainModule) required username=u password=p debug=true;")
        #expect(jaas.ignoredOptions == ["debug"])
    }

    @Test func descriptionsRedactEveryValue() throws {
        let jaas = try KafkaJAAS(parsing: "\(Self.plainModule) required username=\"alice\" password=\"\(Self.password)\";")
        var dumped = ""
        dump(jaas, to: &dumped)
        for text in [jaas.description, jaas.debugDescription, String(describing: jaas), String(reflecting: jaas), "\(jaas)", dumped] {
            #expect(!text.contains(Self.password))
            #expect(!text.contains("alice"))
        }
        #expect(jaas.description == "PlainLoginModule required password=<redacted> username=<redacted>;")
    }
}
