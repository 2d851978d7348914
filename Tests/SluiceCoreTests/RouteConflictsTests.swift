import Testing
@testable import SluiceCore

/// A deployable API serving `paths` on one HTTP listener.
private func api(_ id: String, _ paths: [ListenerPath]) -> DeployableApi {
    let definition = ApiDefinition(
        id: id, name: id,
        listeners: [Listener(type: .http, paths: paths, entrypoints: [Entrypoint(type: "http-get")])],
        endpointGroups: [EndpointGroup(name: "g", type: "mock", endpoints: [Endpoint(name: "e", type: "mock")])],
        plans: [Plan(name: "p")])
    return DeployableApi(
        definition: definition, paths: paths, entrypoints: [], endpointGroups: [], revision: "r", warnings: [])
}

private func conflicts(_ new: DeployableApi, _ others: [DeployableApi]) -> [String] {
    RouteConflicts.problems(adding: new, to: others).map(\.description)
}

@Suite("RouteConflicts")
struct RouteConflictsTests {
    @Test func samePathInTwoApis() {
        let a = api("a", [ListenerPath(path: "/orders")])
        let b = api("b", [ListenerPath(path: "/orders")])
        #expect(conflicts(b, [a]) == ["listeners[0].paths[0]: path /orders is already used by API 'a'"])
        #expect(RouteConflicts.problems(adding: b, to: [a]).allSatisfy { $0.severity == .error })
    }

    @Test func trailingSlashesAndDoubleSlashesAreNormalised() {
        let a = api("a", [ListenerPath(path: "/orders")])
        #expect(conflicts(api("b", [ListenerPath(path: "/orders/")]), [a]) == ["listeners[0].paths[0]: path /orders is already used by API 'a'"])
        #expect(conflicts(api("b", [ListenerPath(path: "//orders//")]), [a]) == ["listeners[0].paths[0]: path /orders is already used by API 'a'"])
        #expect(conflicts(a, [api("b", [ListenerPath(path: "/orders/")])]) == ["listeners[0].paths[0]: path /orders is already used by API 'b'"])
    }

    @Test func hostAndNoHostDoNotConflict() {
        let withHost = api("a", [ListenerPath(host: "api.example.com", path: "/orders")])
        let withoutHost = api("b", [ListenerPath(path: "/orders")])
        #expect(conflicts(withoutHost, [withHost]) == [])
        #expect(conflicts(withHost, [withoutHost]) == [])
        #expect(conflicts(api("c", [ListenerPath(host: "other.example.com", path: "/orders")]), [withHost]) == [])
    }

    @Test func sameHostConflictsCaseInsensitively() {
        let a = api("a", [ListenerPath(host: "api.example.com", path: "/orders")])
        let b = api("b", [ListenerPath(host: "API.Example.com", path: "/orders/")])
        #expect(conflicts(b, [a]) == ["listeners[0].paths[0]: path API.Example.com/orders is already used by API 'a'"])
    }

    @Test func differentPathsDoNotConflict() {
        let a = api("a", [ListenerPath(path: "/orders")])
        #expect(conflicts(api("b", [ListenerPath(path: "/orders2")]), [a]) == [])
        #expect(conflicts(api("b", [ListenerPath(path: "/orders/v2")]), [a]) == [])
        #expect(conflicts(api("b", [ListenerPath(path: "/")]), [a]) == [])
        #expect(conflicts(api("b", [ListenerPath(path: "/Orders")]), [a]) == [])
    }

    @Test func redeployingTheSameApiIsNoConflict() {
        let a = api("a", [ListenerPath(path: "/orders")])
        #expect(conflicts(api("a", [ListenerPath(path: "/orders")]), [a]) == [])
    }

    @Test func everyConflictIsReported() {
        let a = api("a", [ListenerPath(path: "/x"), ListenerPath(path: "/y")])
        let c = api("c", [ListenerPath(path: "/z")])
        let b = api("b", [ListenerPath(path: "/w"), ListenerPath(path: "/y/"), ListenerPath(path: "/z"), ListenerPath(path: "/x")])
        #expect(
            conflicts(b, [a, c]) == [
                "listeners[0].paths[1]: path /y is already used by API 'a'",
                "listeners[0].paths[3]: path /x is already used by API 'a'",
                "listeners[0].paths[2]: path /z is already used by API 'c'",
            ])
    }

    @Test func noOthersNoConflicts() {
        #expect(conflicts(api("a", [ListenerPath(path: "/")]), []) == [])
    }
}
