import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeController

@Suite struct InformerTests {
    /// The cache equals the server's list (names and resourceVersions).
    static func matches(_ informer: Informer<ConfigMap>, _ client: KubeClient, namespace: String) async throws -> (
        Bool, String
    ) {
        let live = try await client.list(informer.resource, namespace: namespace).items
        let liveView = live.map { "\($0.name ?? "")@\($0.resourceVersion ?? "")" }.sorted()
        let cacheView = informer.store.list(namespace: namespace).map {
            "\($0.metadata.name ?? "")@\($0.metadata.resourceVersion ?? "")"
        }.sorted()
        return (liveView == cacheView, "cache \(cacheView) vs server \(liveView)")
    }

    @Test func pagedListThenWatchKeepsTheCacheCurrent() async throws {
        try await withCluster { cluster in
            for i in 0..<7 {
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "cm-\(i)"))
            }
            var options = InformerOptions(namespace: "default")
            options.pageSize = 2
            let informer = Informer<ConfigMap>(client: cluster.client, options: options)
            let events = Box<[String]>([])
            informer.subscribe { event in
                let name = event.object.metadata.name ?? ""
                switch event {
                case .added: events.update { $0.append("added \(name)") }
                case .updated: events.update { $0.append("updated \(name)") }
                case .deleted: events.update { $0.append("deleted \(name)") }
                case .resync: break
                }
            }
            try await whileRunning({ await informer.run() }) {
                await informer.waitForSync()
                #expect(informer.store.count == 7)
                #expect(
                    informer.store.list().allSatisfy { $0.metadata.uid != nil && $0.metadata.resourceVersion != nil }
                )
                #expect(
                    cluster.metrics.value("rest_client_requests_total", ["verb": "LIST", "code": "200"]) ?? 0
                        >= 4)
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "new"))
                _ = try await cluster.client.patch(
                    .configMaps, namespace: "default", name: "cm-1", type: .merge, ["data": ["k": "v"]])
                _ = try await cluster.client.delete(.configMaps, namespace: "default", name: "cm-2")
                try await waitUntil("the cache to follow the server") {
                    try await Self.matches(informer, cluster.client, namespace: "default")
                }
                try await waitUntil("events for each change") {
                    let seen = events.value
                    let ok =
                        seen.contains("added new") && seen.contains("updated cm-1")
                        && seen.contains("deleted cm-2")
                    return (ok, "\(seen)")
                }
                #expect(
                    informer.store.get(ObjectKey(namespace: "default", name: "cm-1"))?.data?["k"] == "v")
                #expect(informer.relistCount == 0)
            }
        }
    }

    /// A watch ended cleanly, and one cut mid-stream without the final chunk (a broken
    /// connection): both resume from the last resourceVersion.
    @Test(arguments: [false, true]) func catchesUpAfterADroppedWatch(abruptly: Bool) async throws {
        try await withCluster { cluster in
            let informer = Informer<ConfigMap>(
                client: cluster.client, options: InformerOptions(namespace: "default"))
            try await whileRunning({ await informer.run() }) {
                await informer.waitForSync()
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "before"))
                try await waitUntil("the first object") {
                    (informer.store.count == 1, "\(informer.store.keys)")
                }
                let restarts = informer.restartCount
                await cluster.api.server.faults.closeWatches(abruptly: abruptly)
                for i in 0..<5 {
                    _ = try await cluster.client.create(
                        .configMaps, namespace: "default", configMap("default", "after-\(i)"))
                }
                try await waitUntil("the cache to catch up after the dropped watch") {
                    try await Self.matches(informer, cluster.client, namespace: "default")
                }
                #expect(informer.restartCount > restarts)
                #expect(
                    informer.relistCount == 0,
                    "a dropped watch resumes from the last resourceVersion, no relist")
            }
        }
    }

    @Test func relistsAfter410GoneAndReportsWhatChangedMeanwhile() async throws {
        try await withCluster { cluster in
            _ = try await cluster.client.create(
                .configMaps, namespace: "default", configMap("default", "stays"))
            _ = try await cluster.client.create(
                .configMaps, namespace: "default", configMap("default", "goes"))
            let informer = Informer<ConfigMap>(
                client: cluster.client, options: InformerOptions(namespace: "default"))
            let deleted = Box<[String]>([])
            informer.subscribe { event in
                if case .deleted(let object) = event { deleted.update { $0.append(object.metadata.name ?? "") } }
            }
            try await whileRunning({ await informer.run() }) {
                await informer.waitForSync()
                cluster.api.server.faults.goneNextWatches(1)
                await cluster.api.server.faults.closeWatches()
                _ = try await cluster.client.delete(.configMaps, namespace: "default", name: "goes")
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "arrives"))
                try await waitUntil("a relist after 410 Gone") {
                    (informer.relistCount >= 1, "relists \(informer.relistCount)")
                }
                try await waitUntil("the cache to match the server after the relist") {
                    try await Self.matches(informer, cluster.client, namespace: "default")
                }
                try await waitUntil("the deletion to be reported") {
                    (deleted.value.contains("goes"), "\(deleted.value)")
                }
            }
        }
    }

    @Test func resyncRedeliversCachedObjectsWithoutAPICalls() async throws {
        try await withCluster { cluster in
            _ = try await cluster.client.create(.configMaps, namespace: "default", configMap("default", "a"))
            var options = InformerOptions(namespace: "default", resyncPeriod: .milliseconds(50))
            options.watchTimeoutSeconds = 3600
            let informer = Informer<ConfigMap>(client: cluster.client, options: options)
            let resyncs = Box(0)
            informer.subscribe { event in
                if case .resync = event { resyncs.update { $0 += 1 } }
            }
            try await whileRunning({ await informer.run() }) {
                await informer.waitForSync()
                let lists =
                    cluster.metrics.value("rest_client_requests_total", ["verb": "LIST", "code": "200"]) ?? 0
                try await waitUntil("three resyncs") { (resyncs.value >= 3, "\(resyncs.value) resyncs") }
                #expect(
                    cluster.metrics.value("rest_client_requests_total", ["verb": "LIST", "code": "200"])
                        == lists)
            }
        }
    }
}
