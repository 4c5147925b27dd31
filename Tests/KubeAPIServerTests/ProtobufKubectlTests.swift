import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeAPIServer

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

        // Replies follow Accept: protobuf first gets protobuf for a built-in kind (the same
        // object as the JSON reply), JSON first gets JSON, and a custom resource or discovery
        // asked for in protobuf only gets 406.
        let json = try await kubectl(server, ["get", "configmap", "settings", "-n", "demo", "-o", "json"])
        let want = try JSONValue.parse(json.stdout)
        for accept in ["application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf, application/json"] {
            let reply = try await Self.rawGet(server, "/api/v1/namespaces/demo/configmaps/settings", accept: accept)
            #expect(reply.code == 200 && reply.contentType == "application/vnd.kubernetes.protobuf", "\(accept): \(reply)")
            let decoded = try ProtobufTranscoder.decodeBody(reply.body)
            #expect(decoded["data"] == want["data"] && decoded["metadata"]["uid"] == want["metadata"]["uid"], "\(decoded)")
        }
        let list = try await Self.rawGet(server, "/api/v1/namespaces/demo/configmaps", accept: "application/vnd.kubernetes.protobuf,application/json")
        let items = try ProtobufTranscoder.decodeBody(list.body)
        #expect(items["kind"] == "ConfigMapList" && (items["items"].arrayValue ?? []).contains { $0["metadata"]["name"] == "settings" }, "\(items)")
        let missing = try await Self.rawGet(server, "/api/v1/namespaces/demo/configmaps/nope", accept: "application/vnd.kubernetes.protobuf,application/json")
        let status = try ProtobufTranscoder.decodeBody(missing.body)
        #expect(missing.code == 404 && status["kind"] == "Status" && status["reason"] == "NotFound", "\(status)")
        let jsonFirst = try await Self.rawGet(server, "/api/v1/namespaces/demo/configmaps/settings", accept: "application/json, application/vnd.kubernetes.protobuf")
        #expect(jsonFirst.contentType == "application/json" && (try? JSONValue.parse(jsonFirst.body))?["data"] == want["data"], "\(jsonFirst)")
        for path in ["/apis/kubesnap.io/v1alpha1/namespaces/demo/snapshots", "/api"] {
            let custom = try await Self.rawGet(server, path, accept: "application/vnd.kubernetes.protobuf")
            #expect(custom.code == 406, "\(path): \(custom)")
        }
    }

    /// kubectl decodes the server's protobuf replies: what `create ... -o json` prints (decoded
    /// from the protobuf reply to the create) is what a JSON get returns.
    @Test func kubectlReadsProtobufReplies() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let verbose = try await kubectl(server, ["create", "namespace", "demo", "-v=8"])
        // -v=8 prints the request's headers, then "Response Headers:" and the reply's.
        let replyHeaders = verbose.stderr.components(separatedBy: "Response Headers:").dropFirst().first ?? ""
        let replyType = replyHeaders.split(separator: "\n").first { $0.contains("Content-Type:") } ?? ""
        #expect(verbose.succeeded && replyType.hasSuffix("Content-Type: application/vnd.kubernetes.protobuf"), "\(verbose)")
        let cases: [([String], [String])] = [
            (["create", "configmap", "settings", "-n", "demo", "--from-literal=mode=fast"], ["configmap", "settings", "-n", "demo"]),
            (["create", "secret", "generic", "pw", "-n", "demo", "--from-literal=password=s3cret"], ["secret", "pw", "-n", "demo"]),
            (["create", "deployment", "web", "-n", "demo", "--image=nginx:1.27", "--replicas=2", "--port=80"], ["deployment", "web", "-n", "demo"]),
            (["create", "serviceaccount", "bot", "-n", "demo"], ["serviceaccount", "bot", "-n", "demo"]),
            (["create", "role", "reader", "-n", "demo", "--verb=get", "--resource=configmaps"], ["role", "reader", "-n", "demo"]),
        ]
        for (create, get) in cases {
            let created = try await kubectl(server, create + ["-o", "json"])
            try #require(created.succeeded, "\(create): \(created)")
            let got = try await kubectl(server, ["get"] + get + ["-o", "json"])
            try #require(got.succeeded, "\(got)")
            let fromProtobuf = try JSONValue.parse(created.stdout), fromJSON = try JSONValue.parse(got.stdout)
            #expect(
                ProtobufEncoderTests.difference(fromJSON, fromProtobuf) == nil,
                "\(create): \(ProtobufEncoderTests.difference(fromJSON, fromProtobuf) ?? "")")
        }
        // Typed replies of other kinds: a TokenRequest and an access review.
        let token = try await kubectl(server, ["create", "token", "bot", "-n", "demo"])
        #expect(token.succeeded && token.stdout.split(separator: ".").count == 3, "\(token)")
        let can = try await kubectl(server, ["auth", "can-i", "delete", "snapshots", "-n", "demo"])
        #expect(can.succeeded && can.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "\(can)")
        // An error reply in protobuf: kubectl shows the server's message.
        let again = try await kubectl(server, ["create", "configmap", "settings", "-n", "demo"])
        #expect(!again.succeeded && again.stderr.contains("configmaps \"settings\" already exists"), "\(again)")
    }

    /// A protobuf watch of a built-in kind: length-framed WatchEvents whose objects decode.
    @Test func protobufWatchFrames() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        _ = try await client.post("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "demo"]])
        for name in ["a", "b"] {
            let made = try await client.post("/api/v1/namespaces/demo/configmaps", configMap(name, namespace: "demo", data: ["k": name]))
            try #require(made.code == 201, "\(made)")
        }
        let reply = try await Self.rawGet(
            server, "/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=0&timeoutSeconds=1",
            accept: "application/vnd.kubernetes.protobuf;stream=watch, application/json")
        #expect(reply.contentType == "application/vnd.kubernetes.protobuf;stream=watch", "\(reply)")
        var events: [(String, JSONValue)] = []
        var at = 0
        let bytes = reply.body
        while at + 4 <= bytes.count {
            let n = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            try #require(at + 4 + n <= bytes.count, "a frame of \(n) bytes runs past the \(bytes.count) read")
            var r = WireReader(bytes: bytes, range: (at + 4)..<(at + 4 + n))
            var type = "", object: JSONValue = .null
            while !r.atEnd {
                let (number, _) = try r.tag(in: "WatchEvent")
                if number == 1 { type = try r.string(in: "WatchEvent") } else {
                    var raw = WireReader(bytes: bytes, range: try r.lengthDelimited(in: "WatchEvent"))
                    _ = try raw.tag(in: "RawExtension")
                    object = try ProtobufTranscoder.decodeBody(Array(bytes[try raw.lengthDelimited(in: "RawExtension")]))
                }
            }
            events.append((type, object))
            at += 4 + n
        }
        #expect(at == bytes.count, "\(bytes.count - at) bytes after the last frame")
        #expect(events.map(\.0) == ["ADDED", "ADDED"] && Set(events.map { $0.1["data"]["k"].stringValue ?? "" }) == ["a", "b"], "\(events)")
    }

    struct BinaryReply: CustomStringConvertible {
        var code: Int
        var contentType: String
        var body: [UInt8]
        var description: String { "\(code) \(contentType) \(body.count) bytes: \(String(decoding: body.prefix(300), as: UTF8.self))" }
    }

    /// A GET whose body is kept as bytes (protobuf is not text).
    static func rawGet(_ server: TestAPIServer, _ path: String, accept: String) async throws -> BinaryReply {
        let out = server.directory.appending("reply-\(UUID().uuidString)")
        let args = ["-o", out, "-w", "%{http_code} %{content_type}"] + RawClient(server: server).arguments("GET", path, contentType: nil, headers: ["Accept: \(accept)"])
        let result = try await runCommand("/usr/bin/curl", args)
        try #require(result.succeeded, "\(result)")
        let parts = result.stdout.split(separator: " ", maxSplits: 1)
        let body = try [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))
        return BinaryReply(code: Int(parts.first ?? "") ?? 0, contentType: parts.count > 1 ? String(parts[1]) : "", body: body)
    }
}
