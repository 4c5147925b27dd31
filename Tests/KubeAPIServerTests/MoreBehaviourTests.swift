import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@Suite("Watch options, dry run, field validation, durability, audit")
struct MoreBehaviourTests {
    static let cms = "/api/v1/namespaces/default/configmaps"

    @Test func bookmarksAndTimeout() async throws {
        let server = try await TestAPIServer.start { $0.bookmarkIntervalSeconds = 0.2 }
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let created = try await client.post(Self.cms, configMap("a"))
        let watch = try client.stream(Self.cms + "?watch=1&allowWatchBookmarks=true&resourceVersion=\(created.body.resourceVersion ?? "")", in: server.directory, name: "bookmarks")
        defer { watch.kill9() }
        try await waitUntil("a BOOKMARK event") {
            let events = watchEvents(watch.log)
            let bookmark = events.first { $0["type"] == "BOOKMARK" }
            return (bookmark?["object"]["metadata"]["resourceVersion"].stringValue == created.body.resourceVersion, watch.log)
        }
        let timed = try await client.get(Self.cms + "?watch=1&timeoutSeconds=1")
        #expect(timed.code == 200 && timed.text.contains("ADDED"), "\(timed)")
    }

    @Test func selectorWatchSeesObjectsEnterAndLeave() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let watch = try client.stream("/api/v1/configmaps?watch=1&labelSelector=app%3Dx", in: server.directory, name: "selector")
        defer { watch.kill9() }
        #expect(try await client.post(Self.cms, configMap("m", labels: ["app": "y"])).code == 201)
        #expect(try await client.patch(Self.cms + "/m", ["metadata": ["labels": ["app": "x"]]]).code == 200)
        #expect(try await client.patch(Self.cms + "/m", ["data": ["k": "v"]]).code == 200)
        #expect(try await client.patch(Self.cms + "/m", ["metadata": ["labels": ["app": "z"]]]).code == 200)
        try await waitUntil("ADDED, MODIFIED, DELETED as the labels change") {
            let types = watchEvents(watch.log).compactMap { $0["type"].stringValue }
            return (types == ["ADDED", "MODIFIED", "DELETED"], "\(types)")
        }
        server.server.faults.setLatency(milliseconds: 300)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await client.get(Self.cms).code == 200)
        #expect(clock.now - start >= .milliseconds(300), "injected latency")
        server.server.faults.reset()
    }

    @Test func dryRunWritesNothing() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let dry = try await client.post(Self.cms + "?dryRun=All", configMap("ghost"))
        #expect(dry.code == 201 && dry.body.name == "ghost", "\(dry)")
        #expect(try await client.get(Self.cms + "/ghost").code == 404)
        #expect(try await client.post(Self.cms, configMap("real", data: ["a": "1"])).code == 201)
        let patched = try await client.patch(Self.cms + "/real?dryRun=All", ["data": ["a": "2"]])
        #expect(patched.code == 200 && patched.body["data"]["a"] == "2")
        #expect(try await client.get(Self.cms + "/real").body["data"]["a"] == "1")
        #expect(try await client.delete(Self.cms + "/real?dryRun=All").code == 200)
        #expect(try await client.get(Self.cms + "/real").code == 200)
    }

    @Test func strictFieldValidationNamesTheUnknownField() async throws {
        let server = try await KubectlTests.serverWithCRD()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let widget: JSONValue = ["apiVersion": "test.kubesnap.io/v1", "kind": "Widget", "metadata": ["name": "w"], "spec": ["color": "red", "flavour": "x"]]
        let strict = try await client.post("/apis/test.kubesnap.io/v1/namespaces/default/widgets?fieldValidation=Strict", widget)
        #expect(strict.code == 400 && strict.body["message"].stringValue?.contains(#"unknown field "spec.flavour""#) == true, "\(strict)")
        let ignored = try await client.post("/apis/test.kubesnap.io/v1/namespaces/default/widgets?fieldValidation=Ignore", widget)
        #expect(ignored.code == 201 && ignored.body["spec"]["flavour"].isNull && ignored.body["spec"]["size"] == 1, "pruned and defaulted: \(ignored)")
        let path = try server.directory.write("unknown.yaml", KubectlTests.widget("u").replacingOccurrences(of: "  color: red", with: "  color: red\n  flavour: x"))
        let applied = try await kubectl(server, ["apply", "-f", path])
        #expect(!applied.succeeded && applied.stderr.contains(#"unknown field "spec.flavour""#), "\(applied)")
        let enumBad = try await client.post("/apis/test.kubesnap.io/v1/namespaces/default/widgets", ["apiVersion": "test.kubesnap.io/v1", "kind": "Widget", "metadata": ["name": "e"], "spec": ["color": "pink"]])
        #expect(enumBad.code == 422 && enumBad.body["details"]["causes"][0]["field"] == "spec.color", "\(enumBad)")
    }

    @Test func acknowledgedWritesSurviveWithoutShutdown() async throws {
        let first = try await TestAPIServer.start()
        defer { Task { await first.stop() } }
        let client = RawClient(server: first)
        var last = ""
        for i in 0..<5 {
            let r = try await client.post(Self.cms, configMap("cm-\(i)"))
            last = r.body.resourceVersion ?? ""
        }
        // A torn record at the end of the log (a write that was never acknowledged).
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: first.directory.appending("data/objects.log")))
        log.seekToEndOfFile()
        log.write(Data(#"{"e":"ADDED","k":"/configmaps","o":{"metadata":{"na"#.utf8))
        try log.close()
        // A second server on the same directory, as after a crash (the first never flushed on exit).
        let second = APIServerForTest(dataDirectory: first.directory.appending("data"))
        try await second.server.start()
        let list = try await kubectl(first, ["--server", "https://127.0.0.1:\(second.server.port)", "get", "--raw", "/api/v1/namespaces/default/configmaps"])
        await second.server.shutdown()
        let items = (try JSONValue.parse(list.stdout)["items"].arrayValue ?? []).compactMap(\.name)
        #expect(items == (0..<5).map { "cm-\($0)" }, "\(list)")
        let listRV = try JSONValue.parse(list.stdout)["metadata"]["resourceVersion"].stringValue ?? ""
        #expect((Int(listRV) ?? 0) >= (Int(last) ?? 0))
    }

    @Test func secretsTakeStringData() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let created = try await client.post("/api/v1/namespaces/default/secrets", ["metadata": ["name": "s"], "stringData": ["password": "hunter2"]])
        #expect(created.code == 201 && created.body["data"]["password"] == "aHVudGVyMg==" && created.body["stringData"].isNull && created.body["type"] == "Opaque", "\(created)")
        let bad = try await client.post("/api/v1/namespaces/default/secrets", ["metadata": ["name": "b"], "data": ["x": "not base64!"]])
        #expect(bad.code == 422 && !bad.text.contains("not base64"), "\(bad)")
    }

    @Test func auditLogRecordsRequests() async throws {
        let server = try await TestAPIServer.start { $0.auditLogPath = ($0.dataDirectory as NSString).deletingLastPathComponent + "/audit.log" }
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        #expect(try await client.post(Self.cms, ["metadata": ["name": "audited"], "data": ["secret": "hunter2"]]).code == 201)
        #expect(try await client.get(Self.cms + "/audited").code == 200)
        let text = try String(contentsOfFile: server.directory.appending("audit.log"), encoding: .utf8)
        let lines = text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        #expect(lines.contains { $0["verb"] == "create" && $0["resource"] == "configmaps" && $0["name"] == "audited" && $0["code"] == 201 }, "\(text)")
        #expect(lines.contains { $0["verb"] == "get" && $0["code"] == 200 })
        #expect(!text.contains("hunter2"))
    }
}

import KubeAPIServer

/// A bare APIServer on an existing data directory (port 0).
struct APIServerForTest {
    let server: APIServer
    init(dataDirectory: String) {
        var configuration = APIServerConfiguration(dataDirectory: dataDirectory)
        configuration.port = 0
        server = APIServer(configuration: configuration)
    }
}

@Suite("Events through both APIs")
struct EventTests {
    @Test func eventsV1AreCoreEvents() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let event: JSONValue = [
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["name": "e1"],
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "kubesnap.io/operator", "reportingInstance": "op-1",
            "action": "Backup", "reason": "Started", "type": "Normal", "note": "backup started",
            "regarding": ["apiVersion": "v1", "kind": "ConfigMap", "name": "target", "namespace": "default", "uid": "u-1"],
        ]
        let created = try await client.post("/apis/events.k8s.io/v1/namespaces/default/events", event)
        #expect(created.code == 201 && created.body["note"] == "backup started" && created.body["apiVersion"] == "events.k8s.io/v1", "\(created)")
        let core = try await client.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dtarget")
        let item = core.body["items"][0]
        #expect(item["message"] == "backup started" && item["involvedObject"]["kind"] == "ConfigMap" && item["apiVersion"] == "v1", "\(core)")
        let patched = try await client.patch("/apis/events.k8s.io/v1/namespaces/default/events/e1", ["note": "backup done"])
        #expect(patched.code == 200 && patched.body["note"] == "backup done", "\(patched)")
        #expect(try await client.get("/api/v1/namespaces/default/events/e1").body["message"] == "backup done")
    }
}
