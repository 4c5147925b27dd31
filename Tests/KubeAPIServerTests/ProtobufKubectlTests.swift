import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// kubectl 1.32's `create` commands send protobuf bodies; the server decodes them into the same
/// JSON objects kubectl would have sent as JSON.
@Suite("protobuf bodies from kubectl")
struct ProtobufKubectlTests {
    /// Runs `kubectl create ...` for real (a protobuf body), then compares what the server stored
    /// with what `--dry-run=client -o json` prints (the JSON kubectl would have sent).
    func createAndCompare(_ server: TestAPIServer, _ args: [String], get: [String], paths: [String]) async throws {
        let dry = try await kubectl(server, ["--dry-run=client", "-o", "json"] + args)
        try #require(dry.succeeded, "\(dry)")
        let created = try await kubectl(server, args)
        #expect(created.succeeded, "\(args): \(created)")
        let stored = try await kubectl(server, ["get"] + get + ["-o", "json"])
        try #require(stored.succeeded, "\(stored)")
        let want = try JSONValue.parse(dry.stdout), got = try JSONValue.parse(stored.stdout)
        for path in paths {
            var w = want, g = got
            for key in path.split(separator: ".") { w = w[String(key)]; g = g[String(key)] }
            #expect(w == g, "\(args) \(path): kubectl meant \(w), the server stored \(g)")
            #expect(!w.isNull || path == "metadata.labels", "\(args) \(path) is missing from kubectl's own JSON")
        }
    }

    @Test func everydayCreateCommands() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        try await createAndCompare(server, ["create", "namespace", "shop"], get: ["namespace", "shop"], paths: ["metadata.name", "kind", "apiVersion"])
        try await createAndCompare(server, ["create", "namespace", "demo"], get: ["namespace", "demo"], paths: ["metadata.name"])
        try await createAndCompare(
            server, ["create", "secret", "generic", "app-repo-password", "-n", "demo", "--from-literal=password=s3cret"],
            get: ["secret", "app-repo-password", "-n", "demo"], paths: ["data", "metadata.namespace", "kind"])
        let data = try await kubectl(server, ["get", "secret", "app-repo-password", "-n", "demo", "-o", "jsonpath={.data.password}"])
        #expect(data.stdout == Data("s3cret".utf8).base64EncodedString(), "\(data)")
        try await createAndCompare(
            server, ["create", "configmap", "settings", "-n", "demo", "--from-literal=mode=fast", "--from-literal=level=3"],
            get: ["configmap", "settings", "-n", "demo"], paths: ["data"])
        try await createAndCompare(server, ["create", "serviceaccount", "bot", "-n", "demo"], get: ["serviceaccount", "bot", "-n", "demo"], paths: ["metadata.name"])
        try await createAndCompare(
            server, ["create", "role", "reader", "-n", "demo", "--verb=get", "--verb=list", "--resource=pods"],
            get: ["role", "reader", "-n", "demo"], paths: ["rules"])
        try await createAndCompare(
            server, ["create", "rolebinding", "reader-alice", "-n", "demo", "--role=reader", "--user=alice"],
            get: ["rolebinding", "reader-alice", "-n", "demo"], paths: ["roleRef", "subjects"])
        try await createAndCompare(
            server, ["create", "clusterrole", "watcher", "--verb=watch", "--resource=configmaps"],
            get: ["clusterrole", "watcher"], paths: ["rules"])
        try await createAndCompare(
            server, ["create", "clusterrolebinding", "watcher-team", "--clusterrole=watcher", "--group=team-a"],
            get: ["clusterrolebinding", "watcher-team"], paths: ["roleRef", "subjects"])
        try await createAndCompare(
            server, ["create", "deployment", "web", "-n", "demo", "--image=nginx:1.27", "--replicas=2"],
            get: ["deployment", "web", "-n", "demo"], paths: ["spec.replicas", "spec.selector", "spec.template", "metadata.labels"])
        try await createAndCompare(
            server, ["create", "job", "once", "-n", "demo", "--image=busybox", "--", "echo", "hi"],
            get: ["job", "once", "-n", "demo"], paths: ["spec.template"])
        // YAML still works.
        let path = try server.directory.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n  namespace: demo\ndata:\n  a: b\n")
        let applied = try await kubectl(server, ["apply", "-f", path])
        #expect(applied.succeeded, "\(applied)")

        // Replies are JSON: a client accepting only protobuf gets 406, one accepting both gets JSON.
        let client = RawClient(server: server)
        let onlyProtobuf = try await client.request("GET", "/api/v1/namespaces/demo/configmaps/settings", text: nil, headers: ["Accept: application/vnd.kubernetes.protobuf"])
        #expect(onlyProtobuf.code == 406 && onlyProtobuf.body["reason"] == "NotAcceptable", "\(onlyProtobuf)")
        let both = try await client.request("GET", "/api/v1/namespaces/demo/configmaps/settings", text: nil, headers: ["Accept: application/vnd.kubernetes.protobuf, application/json"])
        #expect(both.code == 200 && both.body["data"]["mode"] == "fast", "\(both)")
    }
}
