import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@Suite("Persistence, watch and faults")
struct PersistenceAndWatchTests {
    static let cms = "/api/v1/namespaces/default/configmaps"

    @Test func restartKeepsObjectsAndResourceVersionsIncrease() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        var client = RawClient(server: server)
        let a = try await client.post(Self.cms, configMap("a", data: ["x": "1"]))
        let b = try await client.post(Self.cms, configMap("b"))
        #expect(try await client.delete(Self.cms + "/b").code == 200)
        let rvBefore = Int(b.body.resourceVersion ?? "") ?? 0
        try await server.restart()
        client = RawClient(server: server)
        let got = try await client.get(Self.cms + "/a")
        #expect(got.code == 200 && got.body["data"]["x"] == "1" && got.body.uid == a.body.uid, "\(got)")
        #expect(try await client.get(Self.cms + "/b").code == 404)
        let c = try await client.post(Self.cms, configMap("c"))
        #expect(Int(c.body.resourceVersion ?? "") ?? 0 > rvBefore + 1, "\(c)")
        // A second restart (snapshot + empty log) keeps everything too.
        try await server.restart()
        let list = try await RawClient(server: server).get(Self.cms)
        #expect((list.body["items"].arrayValue ?? []).compactMap(\.name) == ["a", "c"], "\(list)")
        let kubectlGet = try await kubectl(server, ["get", "configmap", "a", "-o", "name"])
        #expect(kubectlGet.stdout.contains("configmap/a"), "kubeconfig rewritten for the new port: \(kubectlGet)")
    }

    @Test func namespaceDeletionResumesAfterRestart() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        var client = RawClient(server: server)
        #expect(try await client.post("/api/v1/namespaces", ["metadata": ["name": "going"]]).code == 201)
        var held = configMap("held", namespace: "going")
        held["metadata"]["finalizers"] = ["test/hold"]
        #expect(try await client.post("/api/v1/namespaces/going/configmaps", held).code == 201)
        #expect(try await client.delete("/api/v1/namespaces/going").code == 200)
        try await server.restart()
        client = RawClient(server: server)
        let ns = try await client.get("/api/v1/namespaces/going")
        #expect(ns.code == 200 && ns.body["status"]["phase"] == "Terminating", "\(ns)")
        #expect(try await client.patch("/api/v1/namespaces/going/configmaps/held", ["metadata": ["finalizers": nil]]).code == 200)
        let gone = try await client.get("/api/v1/namespaces/going")
        #expect(gone.code == 404, "\(gone)")
    }

    @Test func watchResumesAfterRestart() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        var client = RawClient(server: server)
        let a = try await client.post(Self.cms, configMap("a"))
        let from = a.body.resourceVersion ?? ""
        #expect(try await client.patch(Self.cms + "/a", ["data": ["k": "v"]]).code == 200)
        try await server.restart()
        client = RawClient(server: server)
        let watch = try client.stream(Self.cms + "?watch=true&resourceVersion=\(from)", in: server.directory, name: "resume")
        defer { watch.kill9() }
        #expect(try await client.post(Self.cms, configMap("b")).code == 201)
        try await waitUntil("the watch replays the change made before the restart and sees the new one") {
            let events = watchEvents(watch.log).map { "\($0["type"].stringValue ?? "") \($0["object"].name ?? "")" }
            return (events == ["MODIFIED a", "ADDED b"], "\(events)")
        }
    }

    /// The log keeps each write's new state only; a label-filtered watch resumed after a restart
    /// needs the state each write replaced (a label added is ADDED, removed is DELETED), which
    /// loading rebuilds from the records before it.
    @Test func filteredWatchResumesAfterRestartWithTheReplacedStates() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        var client = RawClient(server: server)
        let a = try await client.post(Self.cms, configMap("a"))
        let from = a.body.resourceVersion ?? ""
        #expect(try await client.patch(Self.cms + "/a", ["metadata": ["labels": ["app": "x"]]]).code == 200)
        #expect(try await client.patch(Self.cms + "/a", ["data": ["k": "v"]]).code == 200)
        #expect(try await client.patch(Self.cms + "/a", ["metadata": ["labels": ["app": nil]]]).code == 200)
        #expect(try await client.post(Self.cms, configMap("b", labels: ["app": "x"])).code == 201)
        #expect(try await client.delete(Self.cms + "/b").code == 200)
        try await server.restart()
        client = RawClient(server: server)
        let watch = try client.stream(Self.cms + "?watch=true&labelSelector=app%3Dx&resourceVersion=\(from)", in: server.directory, name: "filtered")
        defer { watch.kill9() }
        let expected = ["ADDED a", "MODIFIED a", "DELETED a", "ADDED b", "DELETED b"]
        try await waitUntil("the filtered watch replays the label changes made before the restart") {
            let events = watchEvents(watch.log).map { "\($0["type"].stringValue ?? "") \($0["object"].name ?? "")" }
            return (events == expected, "\(events)")
        }
    }

    @Test func tooOldResourceVersionIsGone() async throws {
        let server = try await TestAPIServer.start { $0.watchHistoryLimit = 4 }
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let first = try await client.post(Self.cms, configMap("first"))
        for i in 0..<6 { #expect(try await client.post(Self.cms, configMap("n\(i)")).code == 201) }
        let gone = try await client.get(Self.cms + "?watch=1&resourceVersion=\(first.body.resourceVersion ?? "")")
        let event = try JSONValue.parse(gone.text.split(separator: "\n").first.map(String.init) ?? "")
        #expect(event["type"] == "ERROR" && event["object"]["code"] == 410 && event["object"]["reason"] == "Expired", "\(gone)")
    }

    @Test func faultInjectionAndMetrics() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        #expect(try await client.post("/debug/faults", ["failNext": ["count": 2, "code": 429, "retryAfterSeconds": 3]]).code == 200)
        let first = try await client.get(Self.cms)
        #expect(first.code == 429 && first.body["reason"] == "TooManyRequests", "\(first)")
        #expect(try await client.get(Self.cms).code == 429)
        #expect(try await client.get(Self.cms).code == 200)
        server.server.faults.failNext(count: 1, code: 500)
        #expect(try await client.get(Self.cms).code == 500)

        #expect(try await client.post("/debug/faults", ["goneNextWatches": 1]).code == 200)
        let gone = try await client.get(Self.cms + "?watch=1")
        #expect(gone.text.contains("\"code\":410"), "\(gone)")

        let watch = try client.stream(Self.cms + "?watch=1", in: server.directory, name: "closed")
        defer { watch.kill9() }
        #expect(try await client.post(Self.cms, configMap("seen")).code == 201)
        try await waitUntil("the watch sees the object") { (watch.log.contains("seen"), watch.log) }
        #expect(try await client.post("/debug/faults", ["closeWatches": true]).code == 200)
        try await waitUntil("the watch stream ends") { (!watch.isRunning, watch.log) }

        let metrics = try await client.request("GET", "/metrics", text: nil)
        #expect(metrics.text.contains(#"apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="list"}"#), "\(metrics.text)")
        #expect(metrics.text.contains(#"code="429""#) && metrics.text.contains(#"verb="watch""#) && metrics.text.contains(#"verb="create""#))
    }

    @Test func slowWatcherIsClosed() async throws {
        let server = try await TestAPIServer.start { $0.watcherBacklogLimit = 5 }
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let watch = try client.stream(Self.cms + "?watch=1", in: server.directory, name: "slow")
        defer { watch.kill9() }
        #expect(try await client.post(Self.cms, configMap("hello")).code == 201)
        try await waitUntil("the watch is streaming") { (watch.log.contains("hello"), watch.log) }
        kill(watch.pid, SIGSTOP)  // the watcher stops reading
        let big = String(repeating: "x", count: 200_000)
        let total = 120
        for i in 0..<total {
            #expect(try await client.post(Self.cms, configMap("big-\(i)", data: ["blob": big])).code == 201)
        }
        kill(watch.pid, SIGCONT)
        try await waitUntil("the server closed the slow watch", timeout: .seconds(60)) { (!watch.isRunning, "still running") }
        let received = watchEvents(watch.log).count
        #expect(received < total + 1, "received \(received) of \(total + 1)")
    }
}
