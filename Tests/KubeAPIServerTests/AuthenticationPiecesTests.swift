import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeAPIServer

/// The pieces under RBAC and authentication, one rule at a time (the kubectl tests in
/// RBACTests drive them end to end).
@Suite("RBAC rules, token file, ServiceAccount tokens, certificate subjects")
struct AuthenticationPiecesTests {
    static let alice = UserInfo(name: "alice", groups: ["team-a", "system:authenticated"])

    static func snapshots(_ verb: String, subresource: String = "", name: String = "") -> AuthorizationAttributes {
        .resource(alice, verb: verb, group: "kubesnap.io", resource: "snapshots", subresource: subresource, namespace: "a", name: name)
    }

    @Test func ruleMatching() {
        let plain = PolicyRule(verbs: ["get"], apiGroups: ["kubesnap.io"], resources: ["snapshots"])
        #expect(plain.allows(Self.snapshots("get")))
        #expect(!plain.allows(Self.snapshots("delete")))
        #expect(!plain.allows(Self.snapshots("get", subresource: "status")), "a resource does not grant its subresources")
        let status = PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*/status"])
        #expect(status.allows(Self.snapshots("patch", subresource: "status")))
        #expect(!status.allows(Self.snapshots("patch")))
        let named = PolicyRule(verbs: ["get", "delete"], apiGroups: ["kubesnap.io"], resources: ["snapshots"], resourceNames: ["x"])
        #expect(named.allows(Self.snapshots("delete", name: "x")))
        #expect(!named.allows(Self.snapshots("delete", name: "y")))
        #expect(!named.allows(Self.snapshots("list")), "resourceNames never allow a list")
        let core = PolicyRule(verbs: ["list"], apiGroups: [""], resources: ["secrets"])
        #expect(!core.allows(.resource(Self.alice, verb: "list", group: "apps", resource: "secrets")))
        let urls = PolicyRule(verbs: ["get"], nonResourceURLs: ["/apis/*", "/version"])
        #expect(urls.allows(.nonResource(Self.alice, verb: "get", path: "/apis/kubesnap.io/v1alpha1")))
        #expect(urls.allows(.nonResource(Self.alice, verb: "get", path: "/version")))
        #expect(!urls.allows(.nonResource(Self.alice, verb: "get", path: "/api")))
        #expect(!urls.allows(Self.snapshots("get")), "non-resource rules do not match resources")
        #expect(!plain.allows(.nonResource(Self.alice, verb: "get", path: "/snapshots")))
    }

    @Test func ruleCovering() {
        let owner = [
            PolicyRule(verbs: ["get", "list"], apiGroups: ["kubesnap.io"], resources: ["snapshots"]),
            PolicyRule(verbs: ["patch"], apiGroups: ["*"], resources: ["*/status"]),
        ]
        func covered(_ rule: PolicyRule) -> Bool { rule.breakdown.allSatisfy { sub in owner.contains { $0.covers(sub) } } }
        #expect(covered(PolicyRule(verbs: ["get"], apiGroups: ["kubesnap.io"], resources: ["snapshots"], resourceNames: ["x"])))
        #expect(covered(PolicyRule(verbs: ["patch"], apiGroups: ["kubesnap.io"], resources: ["snapshots/status"])))
        #expect(!covered(PolicyRule(verbs: ["get", "delete"], apiGroups: ["kubesnap.io"], resources: ["snapshots"])))
        #expect(!covered(PolicyRule(verbs: ["get"], apiGroups: ["*"], resources: ["snapshots"])), "* is more than kubesnap.io")
        #expect(!covered(PolicyRule(verbs: ["get"], nonResourceURLs: ["/metrics"])))
    }

    @Test func rbacAuthorizerFollowsBindings() {
        func object(_ kind: String, _ name: String, _ extra: JSONValue) -> JSONValue {
            var o = extra
            o["kind"] = .string(kind)
            o["metadata"] = ["name": .string(name)]
            return o
        }
        var objects = RBACObjects()
        objects.clusterRoles["reader"] = object("ClusterRole", "reader", ["rules": [PolicyRule(verbs: ["get"], apiGroups: ["kubesnap.io"], resources: ["snapshots"]).json]])
        objects.roleBindings["a"] = [
            "sa-reads": object(
                "RoleBinding", "sa-reads",
                ["roleRef": ["kind": "ClusterRole", "name": "reader"], "subjects": [["kind": "ServiceAccount", "name": "bot"]]]),
            "dangling": object("RoleBinding", "dangling", ["roleRef": ["kind": "Role", "name": "gone"], "subjects": [["kind": "User", "name": "alice"]]]),
        ]
        let authorizer = RBACAuthorizer(objects: objects)
        let bot = UserInfo.serviceAccount(namespace: "a", name: "bot")
        let inA = AuthorizationAttributes.resource(bot, verb: "get", group: "kubesnap.io", resource: "snapshots", namespace: "a", name: "x")
        #expect(authorizer.authorize(inA).allowed)
        #expect(authorizer.authorize(inA).reason == "RBAC: allowed by RoleBinding \"sa-reads/a\" of ClusterRole \"reader\" to ServiceAccount \"a/bot\"")
        var inB = inA
        inB.namespace = "b"
        #expect(!authorizer.authorize(inB).allowed, "a RoleBinding's ClusterRole counts in its namespace only")
        let otherBot = UserInfo.serviceAccount(namespace: "b", name: "bot")
        #expect(!authorizer.authorize(.resource(otherBot, verb: "get", group: "kubesnap.io", resource: "snapshots", namespace: "a")).allowed)
        let denied = authorizer.authorize(Self.snapshots("get"))
        #expect(!denied.allowed && denied.reason == "RBAC: role.rbac.authorization.k8s.io \"gone\" not found", "\(denied)")
        let masters = UserInfo(name: "root", groups: [UserInfo.systemMasters])
        #expect(authorizer.authorize(.resource(masters, verb: "delete", group: "x", resource: "y")).allowed)
    }

    @Test func staticTokenFile() throws {
        let file = try StaticTokenFile(
            parsing: "t1,alice,1001,\"team-a, team-b\"\n\n  t2,bob,1002\n\"t,3\",carol,1003,auditors\n", source: "tokens.csv")
        #expect(file.users["t1"] == UserInfo(name: "alice", uid: "1001", groups: ["team-a", "team-b", "system:authenticated"]))
        #expect(file.users["t2"]?.groups == ["system:authenticated"])
        #expect(file.users["t,3"]?.name == "carol")
        #expect(throws: AuthenticationSetupError.self) { try StaticTokenFile(parsing: "ok,alice,1\nsecret-token,bob\n", source: "f") }
        do {
            _ = try StaticTokenFile(parsing: "ok,alice,1\nsecret-token,bob\n", source: "f")
        } catch {
            #expect(error.description == "token auth file f, line 2: must have at least 3 columns (token, user name, user uid), found 2")
            #expect(!error.description.contains("secret-token"))
        }
        do {
            _ = try StaticTokenFile(parsing: "same,alice,1\nsame,bob,2\n", source: "f")
            Issue.record("a repeated token was accepted")
        } catch {
            #expect(error.description == "token auth file f, line 2: the same token as line 1")
        }
        do {
            _ = try StaticTokenFile(parsing: "\"open,alice,1\n", source: "f")
            Issue.record("an unclosed quote was accepted")
        } catch {
            #expect(error.description.contains("line 1: a quoted field is not closed"))
        }
    }

    @Test func serviceAccountTokens() {
        let tokens = ServiceAccountTokens(key: Array(repeating: 7, count: 32))
        let claims = ServiceAccountTokens.Claims(
            namespace: "a", name: "bot", uid: "u1", audiences: ServiceAccountTokens.audiences, expires: 2000)
        let token = tokens.issue(claims, now: 1000)
        let verified = tokens.verify(token, now: 1500)
        #expect(verified?.namespace == "a" && verified?.name == "bot" && verified?.uid == "u1")
        #expect(tokens.verify(token, now: 2000) == nil, "expired")
        #expect(ServiceAccountTokens(key: Array(repeating: 8, count: 32)).verify(token, now: 1500) == nil, "another key")
        var tampered = Array(token)
        let dot = tampered.firstIndex(of: ".")!
        tampered[dot + 3] = tampered[dot + 3] == "A" ? "B" : "A"
        #expect(tokens.verify(String(tampered), now: 1500) == nil, "a changed payload")
        var vault = claims
        vault.audiences = ["vault"]
        #expect(tokens.verify(tokens.issue(vault, now: 1000), now: 1500) == nil, "a token for another audience")
        #expect(tokens.verify("not.a.jwt", now: 0) == nil && tokens.verify("", now: 0) == nil)
    }

    @Test func certificateSubjectOfAUserKubeconfig() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let output = server.directory.appending("alice.kubeconfig")
        var request = UserKubeconfig.Request(dataDirectory: server.directory.appending("data"), user: "alice", output: output)
        request.groups = ["team-a"]
        try UserKubeconfig.write(request)
        let config = try YAML.parse(try String(contentsOfFile: output, encoding: .utf8))
        let pemData = try #require(Data(base64Encoded: config["users"][0]["user"]["client-certificate-data"].stringValue ?? ""))
        let pem = String(decoding: pemData, as: UTF8.self)
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: body))
        let subject = try #require(CertificateSubject(der: Array(der)))
        #expect(subject.commonName == "alice" && subject.organizations == ["team-a"], "\(subject)")
        #expect(subject.user.groups == ["team-a", "system:authenticated"])
        #expect(CertificateSubject(der: Array(der.prefix(40))) == nil, "a truncated certificate is no subject")
        #expect(CertificateSubject(der: []) == nil)

        request.groups = ["a", "b"]
        #expect(throws: AuthenticationSetupError.self) { try UserKubeconfig.write(request) }
        var noCA = UserKubeconfig.Request(dataDirectory: server.directory.appending("nowhere"), user: "alice", output: output)
        noCA.groups = []
        do {
            try UserKubeconfig.write(noCA)
            Issue.record("wrote a kubeconfig without a CA")
        } catch {
            #expect(error.description.contains("no CA in"))
        }
    }
}
