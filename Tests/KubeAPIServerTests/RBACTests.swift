import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

/// Users, RBAC, impersonation and the access reviews, driven by the real kubectl over TLS.
///
/// Tenant `alice` (group `team-a`, a client certificate from `UserKubeconfig`) holds a Role on
/// Snapshots in namespace `a`; namespace `b` is someone else's.
@Suite("Users, RBAC, impersonation and access reviews")
struct RBACTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let tenantManifests = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: a}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: b}
        ---
        apiVersion: kubesnap.io/v1alpha1
        kind: Snapshot
        metadata: {name: x, namespace: a}
        spec: {repository: r, source: {path: /data}}
        ---
        apiVersion: kubesnap.io/v1alpha1
        kind: Snapshot
        metadata: {name: x, namespace: b}
        spec: {repository: r, source: {path: /data}}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: snapshot-admin, namespace: a}
        rules:
        - apiGroups: [kubesnap.io]
          resources: [snapshots]
          verbs: [get, list, watch, delete]
        - apiGroups: [kubesnap.io]
          resources: [snapshots/status]
          verbs: [get]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: team-a-snapshots, namespace: a}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: snapshot-admin}
        subjects:
        - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: team-a}
        """

    /// A server with kubesnap's Snapshot CRD, namespaces a and b with a Snapshot x each, and
    /// the team-a Role in a; plus alice's kubeconfig.
    static func tenantServer(configure: (inout APIServerConfiguration) -> Void = { _ in }) async throws -> (TestAPIServer, String) {
        let server = try await TestAPIServer.start(configure: configure)
        do {
            let crd = repositoryRoot.appendingPathComponent("crds/snapshots.yaml").path
            let applied = try await kubectl(server, ["apply", "-f", crd])
            try #require(applied.succeeded, "\(applied)")
            let established = try await kubectl(server, ["wait", "--for", "condition=established", "--timeout=30s", "crd/snapshots.kubesnap.io"])
            try #require(established.succeeded, "\(established)")
            let manifests = try server.directory.write("tenant.yaml", tenantManifests)
            let setup = try await kubectl(server, ["apply", "-f", manifests])
            try #require(setup.succeeded, "\(setup)")
            let alice = server.directory.appending("alice.kubeconfig")
            var request = UserKubeconfig.Request(dataDirectory: server.directory.appending("data"), user: "alice", output: alice)
            request.groups = ["team-a"]
            request.namespace = "a"
            try UserKubeconfig.write(request)
            return (server, alice)
        } catch {
            await server.stop()
            throw error
        }
    }

    /// kubectl with another kubeconfig than the admin's.
    static func kubectlWith(_ kubeconfig: String, _ server: TestAPIServer, _ args: [String], input: String? = nil) async throws -> CommandResult {
        try await runCommand(
            "/usr/bin/kubectl", ["--kubeconfig", kubeconfig] + args,
            environment: ["HOME": server.directory.path, "PATH": "/usr/bin:/bin"], input: input, timeout: .seconds(90))
    }

    /// kubectl with only a bearer token (no kubeconfig user).
    static func kubectlWithToken(_ token: String, _ server: TestAPIServer, _ args: [String]) async throws -> CommandResult {
        // The token goes through a kubeconfig file, never argv.
        let path = server.directory.appending("token-\(UUID().uuidString).kubeconfig")
        let config: JSONValue = [
            "apiVersion": "v1", "kind": "Config",
            "clusters": [["name": "c", "cluster": ["server": .string(server.baseURL), "certificate-authority": .string(server.caCertificatePath)]]],
            "users": [["name": "u", "user": ["token": .string(token)]]],
            "contexts": [["name": "c", "context": ["cluster": "c", "user": "u", "namespace": "a"]]],
            "current-context": "c",
        ]
        _ = try server.directory.write((path as NSString).lastPathComponent, YAML.serialize(config))
        return try await kubectlWith(path, server, args)
    }

    static func forbidden(_ verb: String, _ resource: String, name: String?, group: String, user: String = "alice", namespace: String?) -> String {
        let qualified = group.isEmpty ? resource : "\(resource).\(group)"
        let subject = name.map { "\(qualified) \"\($0)\"" } ?? qualified
        let scope = namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        return "Error from server (Forbidden): \(subject) is forbidden: User \"\(user)\" cannot \(verb) resource \"\(resource)\" in API group \"\(group)\" \(scope)"
    }

    @Test func tenantWorksInTheirNamespaceAndIsForbiddenInAnother() async throws {
        let (server, alice) = try await Self.tenantServer()
        defer { Task { await server.stop() } }

        let own = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "a"])
        #expect(own.succeeded && own.stdout.contains("x"), "\(own)")
        let ownByName = try await Self.kubectlWith(alice, server, ["get", "snapshot", "x", "-o", "name"])
        #expect(ownByName.succeeded && ownByName.stdout.contains("snapshot.kubesnap.io/x"), "the context's namespace a: \(ownByName)")

        let getOther = try await Self.kubectlWith(alice, server, ["get", "snapshot", "x", "-n", "b"])
        #expect(!getOther.succeeded)
        #expect(getOther.stderr.contains(Self.forbidden("get", "snapshots", name: "x", group: "kubesnap.io", namespace: "b")), "\(getOther)")
        let listOther = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "b"])
        #expect(listOther.stderr.contains(Self.forbidden("list", "snapshots", name: nil, group: "kubesnap.io", namespace: "b")), "\(listOther)")
        let deleteOther = try await Self.kubectlWith(alice, server, ["delete", "snapshot", "x", "-n", "b"])
        #expect(!deleteOther.succeeded)
        #expect(
            deleteOther.stderr.contains(
                "Error from server (Forbidden): snapshots.kubesnap.io \"x\" is forbidden: User \"alice\" cannot delete resource \"snapshots\" in API group \"kubesnap.io\" in the namespace \"b\""),
            "\(deleteOther)")
        // Listing across namespaces needs a cluster-wide grant, which a Role is not.
        let all = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-A"])
        #expect(all.stderr.contains(Self.forbidden("list", "snapshots", name: nil, group: "kubesnap.io", namespace: nil)), "\(all)")
        // Core group: the Role grants nothing on Secrets.
        let secrets = try await Self.kubectlWith(alice, server, ["get", "secrets", "-n", "a"])
        #expect(secrets.stderr.contains(Self.forbidden("list", "secrets", name: nil, group: "", namespace: "a")), "\(secrets)")
        // Cluster-scoped resource.
        let namespaces = try await Self.kubectlWith(alice, server, ["get", "namespaces"])
        #expect(namespaces.stderr.contains(Self.forbidden("list", "namespaces", name: nil, group: "", namespace: nil)), "\(namespaces)")
        // A subresource the Role does not grant.
        let patchStatus = try await Self.kubectlWith(
            alice, server, ["patch", "snapshot", "x", "--subresource=status", "--type=merge", "-p", #"{"status":{"phase":"Ready"}}"#])
        #expect(
            patchStatus.stderr.contains(
                "snapshots.kubesnap.io \"x\" is forbidden: User \"alice\" cannot patch resource \"snapshots/status\" in API group \"kubesnap.io\" in the namespace \"a\""),
            "\(patchStatus)")

        let deleteOwn = try await Self.kubectlWith(alice, server, ["delete", "snapshot", "x", "-n", "a", "--wait=false"])
        #expect(deleteOwn.succeeded && deleteOwn.stdout.contains("deleted"), "\(deleteOwn)")
        let remaining = try await kubectl(server, ["get", "snapshots", "-A", "-o", "name"])
        #expect(remaining.succeeded, "\(remaining)")
        let othersSnapshot = try await kubectl(server, ["get", "snapshot", "x", "-n", "b", "-o", "name"])
        #expect(othersSnapshot.succeeded, "b's Snapshot is untouched: \(othersSnapshot)")
    }

    @Test func roleBindingChangesTakeEffectWithoutRestart() async throws {
        let tokens = try TemporaryDirectory(prefix: "tokens")
        defer { tokens.remove() }
        let tokenFile = try tokens.write("tokens.csv", "bob-secret-token,bob,1001,\"team-b,auditors\"\n")
        let (server, _) = try await Self.tenantServer { $0.tokenAuthFile = tokenFile }
        defer { Task { await server.stop() } }

        let before = try await Self.kubectlWithToken("bob-secret-token", server, ["get", "snapshots", "-n", "a"])
        #expect(before.stderr.contains(Self.forbidden("list", "snapshots", name: nil, group: "kubesnap.io", user: "bob", namespace: "a")), "\(before)")
        let unknownToken = try await Self.kubectlWithToken("nobody-issued-this", server, ["get", "snapshots", "-n", "a"])
        #expect(unknownToken.stderr.contains("Unauthorized"), "\(unknownToken)")

        // A RoleBinding to the auditors group (from the token file's groups column) applies at once.
        let binding = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: auditors, namespace: a}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: snapshot-admin}
            subjects:
            - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: auditors}
            """
        let path = try server.directory.write("auditors.yaml", binding)
        let applied = try await kubectl(server, ["apply", "-f", path])
        try #require(applied.succeeded, "\(applied)")
        let granted = try await Self.kubectlWithToken("bob-secret-token", server, ["get", "snapshots", "-n", "a", "-o", "name"])
        #expect(granted.succeeded && granted.stdout.contains("snapshot.kubesnap.io/x"), "\(granted)")

        // Changing the Role takes a verb away at once, too.
        let narrowed = try await kubectl(
            server, ["patch", "role", "snapshot-admin", "-n", "a", "--type=json", "-p", #"[{"op":"replace","path":"/rules/0/verbs","value":["get"]}]"#])
        try #require(narrowed.succeeded, "\(narrowed)")
        let listAfterNarrowing = try await Self.kubectlWithToken("bob-secret-token", server, ["get", "snapshots", "-n", "a"])
        #expect(listAfterNarrowing.stderr.contains("cannot list resource \"snapshots\""), "\(listAfterNarrowing)")
        let getAfterNarrowing = try await Self.kubectlWithToken("bob-secret-token", server, ["get", "snapshot", "x", "-n", "a", "-o", "name"])
        #expect(getAfterNarrowing.succeeded, "\(getAfterNarrowing)")

        let removed = try await kubectl(server, ["delete", "rolebinding", "auditors", "-n", "a"])
        try #require(removed.succeeded, "\(removed)")
        let revoked = try await Self.kubectlWithToken("bob-secret-token", server, ["get", "snapshot", "x", "-n", "a"])
        #expect(revoked.stderr.contains(Self.forbidden("get", "snapshots", name: "x", group: "kubesnap.io", user: "bob", namespace: "a")), "\(revoked)")

        // The token never reaches the audit log or the server's files other than the one given.
        let dataFiles = try FileManager.default.contentsOfDirectory(atPath: server.directory.appending("data"))
        for file in dataFiles {
            let text = (try? String(contentsOfFile: server.directory.appending("data/" + file), encoding: .utf8)) ?? ""
            #expect(!text.contains("bob-secret-token"), "\(file) holds the token")
        }
    }

    @Test func impersonationNeedsTheImpersonateVerb() async throws {
        let (server, alice) = try await Self.tenantServer()
        defer { Task { await server.stop() } }

        let denied = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "b", "--as", "carol"])
        #expect(
            denied.stderr.contains(
                "Error from server (Forbidden): users \"carol\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
            "\(denied)")

        // The admin (system:masters) may impersonate anyone: acting as alice, b is forbidden.
        let asAlice = try await kubectl(server, ["get", "snapshots", "-n", "b", "--as", "alice", "--as-group", "team-a"])
        #expect(asAlice.stderr.contains(Self.forbidden("list", "snapshots", name: nil, group: "kubesnap.io", namespace: "b")), "\(asAlice)")
        let asAliceInA = try await kubectl(server, ["get", "snapshots", "-n", "a", "--as", "alice", "--as-group", "team-a", "-o", "name"])
        #expect(asAliceInA.succeeded && asAliceInA.stdout.contains("snapshot.kubesnap.io/x"), "\(asAliceInA)")

        // Granting alice impersonate on the user carol (only) and carol a cluster-wide view.
        let grants = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: impersonate-carol}
            rules:
            - {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [carol]}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: alice-impersonates-carol}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-carol}
            subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: snapshot-reader}
            rules:
            - {apiGroups: [kubesnap.io], resources: [snapshots], verbs: [get, list, watch]}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: carol-reads-snapshots}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: snapshot-reader}
            subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
            """
        let path = try server.directory.write("grants.yaml", grants)
        let applied = try await kubectl(server, ["apply", "-f", path])
        try #require(applied.succeeded, "\(applied)")
        let asCarol = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-A", "--as", "carol", "-o", "name"])
        #expect(asCarol.succeeded && asCarol.stdout.components(separatedBy: "snapshot.kubesnap.io/x").count == 3, "\(asCarol)")
        // Carol cannot delete, even through alice.
        let carolDeletes = try await Self.kubectlWith(alice, server, ["delete", "snapshot", "x", "-n", "b", "--as", "carol"])
        #expect(carolDeletes.stderr.contains(Self.forbidden("delete", "snapshots", name: "x", group: "kubesnap.io", user: "carol", namespace: "b")), "\(carolDeletes)")
        // Impersonating a group as well needs impersonate on groups, which alice lacks.
        let withGroup = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "b", "--as", "carol", "--as-group", "system:masters"])
        #expect(
            withGroup.stderr.contains("groups \"system:masters\" is forbidden: User \"alice\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope"),
            "\(withGroup)")
        let other = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "b", "--as", "dave"])
        #expect(other.stderr.contains("users \"dave\" is forbidden"), "resourceNames limit it to carol: \(other)")
    }

    @Test func accessReviewsWithJSONBodies() async throws {
        let (server, alice) = try await Self.tenantServer()
        defer { Task { await server.stop() } }

        func review(_ kubeconfig: String, _ body: String) async throws -> (CommandResult, JSONValue) {
            let path = try server.directory.write("review-\(UUID().uuidString).yaml", body)
            let result = try await Self.kubectlWith(kubeconfig, server, ["create", "-f", path, "-o", "json"])
            return (result, (try? JSONValue.parse(result.stdout)) ?? .null)
        }
        func ssar(_ verb: String, namespace: String) -> String {
            """
            apiVersion: authorization.k8s.io/v1
            kind: SelfSubjectAccessReview
            spec:
              resourceAttributes: {namespace: \(namespace), verb: \(verb), group: kubesnap.io, resource: snapshots}
            """
        }
        let (yes, yesBody) = try await review(alice, ssar("delete", namespace: "a"))
        #expect(yes.succeeded && yesBody["status"]["allowed"].boolValue == true, "\(yes)")
        #expect(yesBody["status"]["reason"].stringValue?.contains("RoleBinding \"team-a-snapshots/a\" of Role \"snapshot-admin\" to Group \"team-a\"") == true, "\(yes)")
        let (no, noBody) = try await review(alice, ssar("delete", namespace: "b"))
        #expect(no.succeeded && noBody["status"]["allowed"].boolValue == false, "\(no)")

        let (whoami, whoamiBody) = try await review(alice, "apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n")
        #expect(whoami.succeeded, "\(whoami)")
        #expect(whoamiBody["status"]["userInfo"]["username"].stringValue == "alice", "\(whoami)")
        let groups = (whoamiBody["status"]["userInfo"]["groups"].arrayValue ?? []).compactMap(\.stringValue)
        #expect(groups == ["team-a", "system:authenticated"], "\(whoami)")

        let (rules, rulesBody) = try await review(alice, "apiVersion: authorization.k8s.io/v1\nkind: SelfSubjectRulesReview\nspec: {namespace: a}\n")
        #expect(rules.succeeded, "\(rules)")
        let resourceRules = rulesBody["status"]["resourceRules"].arrayValue ?? []
        #expect(
            resourceRules.contains { ($0["resources"].arrayValue ?? []).contains("snapshots") && ($0["verbs"].arrayValue ?? []).contains("delete") },
            "\(rules)")

        // SubjectAccessReview: the admin may ask about alice; alice may not ask about anyone.
        let sar = """
            apiVersion: authorization.k8s.io/v1
            kind: SubjectAccessReview
            spec:
              user: alice
              groups: [team-a]
              resourceAttributes: {namespace: a, verb: get, group: kubesnap.io, resource: snapshots, name: x}
            """
        let (adminAsks, adminBody) = try await review(server.kubeconfigPath, sar)
        #expect(adminAsks.succeeded && adminBody["status"]["allowed"].boolValue == true, "\(adminAsks)")
        let (aliceAsks, _) = try await review(alice, sar)
        #expect(
            aliceAsks.stderr.contains(
                "subjectaccessreviews.authorization.k8s.io is forbidden: User \"alice\" cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"),
            "\(aliceAsks)")
        let (empty, _) = try await review(server.kubeconfigPath, "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec: {resourceAttributes: {verb: get, resource: pods}}\n")
        #expect(empty.stderr.contains("spec.user: Invalid value: \"\": at least one of user or group must be specified"), "\(empty)")

        // LocalSubjectAccessReview: the namespace of the path and of the attributes must agree.
        let local = """
            apiVersion: authorization.k8s.io/v1
            kind: LocalSubjectAccessReview
            metadata: {namespace: b}
            spec:
              user: alice
              groups: [team-a]
              resourceAttributes: {namespace: b, verb: get, group: kubesnap.io, resource: snapshots}
            """
        let (localAsked, localBody) = try await review(server.kubeconfigPath, local)
        #expect(localAsked.succeeded && localBody["status"]["allowed"].boolValue == false, "\(localAsked)")
        let (mismatch, _) = try await review(server.kubeconfigPath, local.replacingOccurrences(of: "metadata: {namespace: b}", with: "metadata: {namespace: a}"))
        #expect(mismatch.stderr.contains("spec.resourceAttributes.namespace: Invalid value: \"b\": must match metadata.namespace"), "\(mismatch)")

        // Discovery lists the review groups, so kubectl finds them.
        let resources = try await Self.kubectlWith(alice, server, ["api-resources", "--api-group=authorization.k8s.io", "-o", "name"])
        #expect(resources.succeeded && resources.stdout.contains("selfsubjectaccessreviews.authorization.k8s.io"), "\(resources)")
    }

    @Test func serviceAccountTokenAuthenticatesAsTheAccount() async throws {
        let (server, _) = try await Self.tenantServer()
        defer { Task { await server.stop() } }
        let setup = """
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: bot, namespace: a}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: bot-views, namespace: a}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
            subjects: [{kind: ServiceAccount, name: bot}]
            """
        let applied = try await kubectl(server, ["apply", "-f", try server.directory.write("bot.yaml", setup)])
        try #require(applied.succeeded, "\(applied)")
        // TokenRequest with a JSON body (what `kubectl create token` sends once protobuf is read).
        let requestPath = try server.directory.write("tokenrequest.json", #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":900}}"#)
        let issued = try await kubectl(server, ["create", "--raw", "/api/v1/namespaces/a/serviceaccounts/bot/token", "-f", requestPath])
        try #require(issued.succeeded, "\(issued)")
        let response = try JSONValue.parse(issued.stdout)
        let token = try #require(response["status"]["token"].stringValue)
        #expect(response["spec"]["expirationSeconds"].intValue == 900)

        let whoami = try await Self.kubectlWithToken(token, server, ["create", "-f", try server.directory.write("ssr.yaml", "apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n"), "-o", "json"])
        let info = (try? JSONValue.parse(whoami.stdout))?["status"]["userInfo"] ?? .null
        #expect(info["username"].stringValue == "system:serviceaccount:a:bot", "\(whoami)")
        let groups = (info["groups"].arrayValue ?? []).compactMap(\.stringValue)
        #expect(groups == ["system:serviceaccounts", "system:serviceaccounts:a", "system:authenticated"], "\(whoami)")

        // TokenReview (the admin's): the token is the account's.
        let tokenReview: JSONValue = ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": ["token": .string(token)]]
        let reviewPath = try server.directory.write("tokenreview.json", tokenReview.serialized())
        let reviewed = try await kubectl(server, ["create", "-f", reviewPath, "-o", "json"])
        let reviewedBody = (try? JSONValue.parse(reviewed.stdout)) ?? .null
        #expect(reviewedBody["status"]["authenticated"].boolValue == true, "\(reviewed)")
        #expect(reviewedBody["status"]["user"]["username"].stringValue == "system:serviceaccount:a:bot", "\(reviewed)")

        // The aggregated `view` ClusterRole, bound in a, lets it read ConfigMaps there only.
        let read = try await Self.kubectlWithToken(token, server, ["get", "configmaps", "-n", "a"])
        #expect(read.succeeded, "\(read)")
        let write = try await Self.kubectlWithToken(token, server, ["delete", "configmap", "nothing", "-n", "a"])
        #expect(
            write.stderr.contains(
                "configmaps \"nothing\" is forbidden: User \"system:serviceaccount:a:bot\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"a\""),
            "\(write)")
        let elsewhere = try await Self.kubectlWithToken(token, server, ["get", "configmaps", "-n", "b"])
        #expect(elsewhere.stderr.contains("cannot list resource \"configmaps\" in API group \"\" in the namespace \"b\""), "\(elsewhere)")

        let tooShort = try server.directory.write("short.json", #"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":10}}"#)
        let rejected = try await kubectl(server, ["create", "--raw", "/api/v1/namespaces/a/serviceaccounts/bot/token", "-f", tooShort])
        #expect(rejected.stderr.contains("may not specify a duration less than 10 minutes"), "\(rejected)")

        // Deleting the ServiceAccount ends its tokens.
        let deleted = try await kubectl(server, ["delete", "serviceaccount", "bot", "-n", "a"])
        try #require(deleted.succeeded, "\(deleted)")
        let afterDelete = try await Self.kubectlWithToken(token, server, ["get", "configmaps", "-n", "a"])
        #expect(afterDelete.stderr.contains("Unauthorized"), "\(afterDelete)")
    }

    @Test func rolesAndBindingsCannotGrantMoreThanTheWriterHolds() async throws {
        let (server, alice) = try await Self.tenantServer()
        defer { Task { await server.stop() } }
        let manager = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: rbac-manager, namespace: a}
            rules:
            - {apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [get, create, patch, update]}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: alice-manages-rbac, namespace: a}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rbac-manager}
            subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
            """
        let applied = try await kubectl(server, ["apply", "-f", try server.directory.write("manager.yaml", manager)])
        try #require(applied.succeeded, "\(applied)")
        func role(_ name: String, verbs: String) -> String {
            """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: \(name), namespace: a}
            rules:
            - {apiGroups: [kubesnap.io], resources: [snapshots], verbs: \(verbs)}
            """
        }
        func binding(_ name: String, kind: String, role: String) -> String {
            """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: \(name), namespace: a}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: \(kind), name: \(role)}
            subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
            """
        }
        func create(_ text: String) async throws -> CommandResult {
            try await Self.kubectlWith(alice, server, ["create", "-f", try server.directory.write("w-\(UUID().uuidString).yaml", text)])
        }
        let held = try await create(role("readers", verbs: "[get, list]"))
        #expect(held.succeeded, "alice holds get and list on snapshots in a: \(held)")
        let tooMuch = try await create(role("creators", verbs: "[get, create]"))
        #expect(
            tooMuch.stderr.contains(
                "roles.rbac.authorization.k8s.io \"creators\" is forbidden: user \"alice\" (groups=[\"team-a\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"kubesnap.io\"], Resources:[\"snapshots\"], Verbs:[\"create\"]}"),
            "\(tooMuch)")
        let widened = try await Self.kubectlWith(
            alice, server, ["patch", "role", "readers", "--type=json", "-p", #"[{"op":"add","path":"/rules/0/verbs/-","value":"deletecollection"}]"#])
        #expect(widened.stderr.contains("is attempting to grant RBAC permissions not currently held"), "a patch is checked too: \(widened)")
        let bindHeld = try await create(binding("bob-reads", kind: "Role", role: "readers"))
        #expect(bindHeld.succeeded, "\(bindHeld)")
        let bindAdmin = try await create(binding("bob-admin", kind: "ClusterRole", role: "cluster-admin"))
        #expect(
            bindAdmin.stderr.contains("rolebindings.rbac.authorization.k8s.io \"bob-admin\" is forbidden: user \"alice\""),
            "\(bindAdmin)")

        // With `bind` on the ClusterRole edit, alice may hand it out in a without holding it.
        let bindGrant = """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: bind-edit, namespace: a}
            rules:
            - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind], resourceNames: [edit]}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata: {name: alice-binds-edit, namespace: a}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: bind-edit}
            subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
            """
        let granted = try await kubectl(server, ["apply", "-f", try server.directory.write("bind.yaml", bindGrant)])
        try #require(granted.succeeded, "\(granted)")
        let bindEdit = try await create(binding("bob-edits", kind: "ClusterRole", role: "edit"))
        #expect(bindEdit.succeeded, "\(bindEdit)")
        let bindAdminStill = try await create(binding("bob-admin", kind: "ClusterRole", role: "admin"))
        #expect(bindAdminStill.stderr.contains("is attempting to grant RBAC permissions not currently held"), "\(bindAdminStill)")
    }

    /// The kubectl commands of issue 21, verbatim. kubectl 1.32 sends their bodies as protobuf:
    /// until the server reads protobuf (the protobuf branch), the test is cancelled (skipped)
    /// when, and only when, that is the failure.
    /// Everyday kubectl, verbatim, as an admin and as a tenant: creates of built-in kinds (sent
    /// as protobuf), tokens, `auth can-i` and `whoami`, `--as`, and a tenant's get and delete in
    /// their own namespace and in another.
    @Test func verbatimKubectlAuthCommands() async throws {
        let (server, alice) = try await Self.tenantServer()
        defer { Task { await server.stop() } }
        @discardableResult func admin(_ args: [String]) async throws -> CommandResult {
            let result = try await kubectl(server, args)
            #expect(result.succeeded, "kubectl \(args.joined(separator: " ")): \(result)")
            return result
        }
        try await admin(["create", "namespace", "shop"])
        try await admin(["create", "secret", "generic", "app-repo-password", "-n", "shop", "--from-literal=password=p4ss"])
        try await admin(["create", "configmap", "settings", "-n", "shop", "--from-literal=mode=fast"])
        try await admin(["create", "serviceaccount", "bot", "-n", "a"])
        try await admin(["create", "role", "pod-reader", "-n", "shop", "--verb=get", "--verb=list", "--resource=pods"])
        try await admin(["create", "rolebinding", "alice-reads-pods", "-n", "shop", "--role=pod-reader", "--user=alice"])
        try await admin(["create", "deployment", "web", "-n", "shop", "--image=nginx:1.27"])
        try await admin(["create", "job", "once", "-n", "shop", "--image=busybox:1.36"])

        let yes = try await Self.kubectlWith(alice, server, ["auth", "can-i", "delete", "snapshots", "-n", "a"])
        #expect(yes.succeeded && yes.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "\(yes)")
        let no = try await Self.kubectlWith(alice, server, ["auth", "can-i", "delete", "snapshots", "-n", "b"])
        #expect(no.status == 1 && no.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no", "\(no)")
        let list = try await Self.kubectlWith(alice, server, ["auth", "can-i", "--list", "-n", "a"])
        #expect(list.succeeded && list.stdout.contains("snapshots.kubesnap.io"), "\(list)")
        let pods = try await Self.kubectlWith(alice, server, ["auth", "can-i", "list", "pods", "-n", "shop"])
        #expect(pods.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "the RoleBinding made with kubectl: \(pods)")
        let whoami = try await Self.kubectlWith(alice, server, ["auth", "whoami"])
        #expect(whoami.succeeded && whoami.stdout.contains("alice") && whoami.stdout.contains("team-a"), "\(whoami)")

        let token = try await admin(["create", "token", "bot", "-n", "a"])
        let botWhoami = try await Self.kubectlWithToken(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines), server, ["auth", "whoami"])
        #expect(botWhoami.stdout.contains("system:serviceaccount:a:bot"), "\(botWhoami)")

        // --as: the admin may impersonate; alice may not.
        let asAlice = try await kubectl(server, ["auth", "can-i", "delete", "snapshots", "-n", "b", "--as", "alice", "--as-group", "team-a"])
        #expect(asAlice.status == 1 && asAlice.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no", "\(asAlice)")
        let asAliceGet = try await kubectl(server, ["get", "snapshots", "-n", "a", "--as", "alice", "--as-group", "team-a", "-o", "name"])
        #expect(asAliceGet.succeeded && asAliceGet.stdout.contains("snapshot.kubesnap.io/x"), "\(asAliceGet)")
        let aliceAsBob = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "a", "--as", "bob"])
        #expect(
            !aliceAsBob.succeeded
                && aliceAsBob.stderr.contains(#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#),
            "\(aliceAsBob)")

        // A tenant in their own namespace, and in another.
        let own = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "a", "-o", "name"])
        #expect(own.succeeded && own.stdout.contains("snapshot.kubesnap.io/x"), "\(own)")
        let other = try await Self.kubectlWith(alice, server, ["get", "snapshots", "-n", "b"])
        #expect(
            other.stderr.contains(#"snapshots.kubesnap.io is forbidden: User "alice" cannot list resource "snapshots" in API group "kubesnap.io" in the namespace "b""#),
            "\(other)")
        let deleteOther = try await Self.kubectlWith(alice, server, ["delete", "snapshot", "x", "-n", "b"])
        #expect(
            deleteOther.stderr.contains(#"snapshots.kubesnap.io "x" is forbidden: User "alice" cannot delete resource "snapshots" in API group "kubesnap.io" in the namespace "b""#),
            "\(deleteOther)")
        let deleteOwn = try await Self.kubectlWith(alice, server, ["delete", "snapshot", "x", "-n", "a", "--wait=false"])
        #expect(deleteOwn.succeeded, "\(deleteOwn)")
    }
}
