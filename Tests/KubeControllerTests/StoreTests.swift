import KubeClient
import KubeJSON
import Testing

@testable import KubeController

@Suite struct StoreTests {
    static func snapshot(_ namespace: String, _ name: String, repository: String, rv: String = "1")
        -> Widget
    {
        var metadata = ObjectMeta(name: name, namespace: namespace)
        metadata.resourceVersion = rv
        return Widget(metadata: metadata, spec: ["repository": .string(repository)])
    }

    @Test func indexesFollowUpdatesAndDeletes() throws {
        let store = Store<Widget>()
        store.addIndex("repository") { object in
            object.spec?["repository"].stringValue.map { ["\(object.metadata.namespace ?? "")/\($0)"] } ?? []
        }
        store.upsert(Self.snapshot("a", "s1", repository: "r1"))
        store.upsert(Self.snapshot("a", "s2", repository: "r1"))
        store.upsert(Self.snapshot("b", "s3", repository: "r1"))
        #expect(store.keys(index: "repository", value: "a/r1").map(\.description) == ["a/s1", "a/s2"])
        #expect(store.list(namespace: "b").compactMap(\.metadata.name) == ["s3"])
        #expect(store.count == 3)

        store.upsert(Self.snapshot("a", "s2", repository: "r2", rv: "2"))
        #expect(store.keys(index: "repository", value: "a/r1").map(\.description) == ["a/s1"])
        #expect(store.keys(index: "repository", value: "a/r2").map(\.description) == ["a/s2"])

        store.delete(ObjectKey(namespace: "a", name: "s1"))
        #expect(store.keys(index: "repository", value: "a/r1").isEmpty)
        #expect(store.get(ObjectKey(namespace: "a", name: "s1")) == nil)
        #expect(store.get(ObjectKey(namespace: "a", name: "s2"))?.spec?["repository"] == "r2")
    }

    @Test func anIndexDeclaredLaterCoversCachedObjects() {
        let store = Store<Widget>()
        store.upsert(Self.snapshot("a", "s1", repository: "r1"))
        store.addIndex("repository") { [$0.spec?["repository"].stringValue ?? ""] }
        #expect(store.byIndex("repository", "r1").compactMap(\.metadata.name) == ["s1"])
    }

    @Test func replaceReportsWhatChanged() {
        let store = Store<Widget>()
        store.upsert(Self.snapshot("a", "kept", repository: "r"))
        store.upsert(Self.snapshot("a", "changed", repository: "r"))
        store.upsert(Self.snapshot("a", "gone", repository: "r"))
        let events = store.replace(with: [
            Self.snapshot("a", "kept", repository: "r"),
            Self.snapshot("a", "changed", repository: "r", rv: "5"),
            Self.snapshot("a", "new", repository: "r"),
        ])
        var summary: [String] = []
        for event in events {
            switch event {
            case .added(let o): summary.append("added \(o.metadata.name ?? "")")
            case .updated(_, let o): summary.append("updated \(o.metadata.name ?? "")")
            case .deleted(let o): summary.append("deleted \(o.metadata.name ?? "")")
            case .resync(let o): summary.append("resync \(o.metadata.name ?? "")")
            }
        }
        #expect(summary.sorted() == ["added new", "deleted gone", "updated changed"])
        #expect(store.keys.map(\.name) == ["changed", "kept", "new"])
    }
}

/// The hot set: the objects written or read last are kept parsed, within `hotCapacity`, and
/// every object reads back as written whether hot or cold.
@Suite struct StoreHotSetTests {
    @Test func theHotSetStaysWithinItsCapacityAndObjectsReadBackAsWritten() {
        let store = Store<Widget>()
        store.addIndex("repository") { [$0.spec?["repository"].stringValue ?? ""] }
        let count = Store<Widget>.hotCapacity * 3
        let objects = (0..<count).map { StoreTests.snapshot("ns", "s\($0)", repository: "r\($0 % 3)") }
        for object in objects { store.upsert(object) }
        #expect(store.hotCount == Store<Widget>.hotCapacity)
        #expect(!store.isHot(ObjectKey(namespace: "ns", name: "s0")))
        #expect(store.isHot(ObjectKey(namespace: "ns", name: "s\(count - 1)")))
        for (index, object) in objects.enumerated() {
            #expect(store.get(ObjectKey(namespace: "ns", name: "s\(index)")) == object)
        }
        #expect(store.hotCount == Store<Widget>.hotCapacity, "reads make objects hot, cooling others")
        #expect(store.byIndex("repository", "r1").count == count / 3)

        // One object written again and again: the order of the hot set does not grow.
        for version in 0..<(Store<Widget>.hotCapacity * 10) {
            store.upsert(StoreTests.snapshot("ns", "s0", repository: "r0", rv: "\(version + 2)"))
        }
        #expect(store.hotSlotCount <= 4 * Store<Widget>.hotCapacity + 1, "\(store.hotSlotCount) slots")
        #expect(store.get(ObjectKey(namespace: "ns", name: "s0"))?.metadata.resourceVersion == "\(Store<Widget>.hotCapacity * 10 + 1)")
        #expect(store.hotCount <= Store<Widget>.hotCapacity)

        // Removing a hot object frees its place; a cold one reads back after the rest cooled.
        let before = store.hotCount
        #expect(store.isHot(ObjectKey(namespace: "ns", name: "s0")))
        store.delete(ObjectKey(namespace: "ns", name: "s0"))
        #expect(store.hotCount == before - 1)
        #expect(store.get(ObjectKey(namespace: "ns", name: "s0")) == nil)
        #expect(store.count == count - 1)
        var seen = 0
        store.forEach { _ in seen += 1 }
        #expect(seen == count - 1)
    }
}

@Suite struct EventFilterTests {
    @Test func statusOnlyAndResourceVersionOnlyUpdatesAreSkipped() {
        var old = StoreTests.snapshot("a", "s", repository: "r")
        old.metadata.generation = 1
        var statusOnly = old
        statusOnly.status = FreeStatus(["phase": "Ready"])
        statusOnly.metadata.resourceVersion = "2"
        var rvOnly = old
        rvOnly.metadata.resourceVersion = "3"
        var specChange = old
        specChange.metadata.generation = 2
        var finalizer = old
        finalizer.metadata.finalizers = ["example.com/finalizer"]
        var annotation = old
        annotation.metadata.annotations = ["example.com/verify-requested": "1"]
        var deleting = old
        deleting.metadata.deletionTimestamp = "2026-11-22T00:00:00Z"

        let filter = EventFilter<Widget>.specOrMetadataChanged
        #expect(!filter.accepts(.updated(old: old, new: statusOnly)))
        #expect(!filter.accepts(.updated(old: old, new: rvOnly)))
        #expect(filter.accepts(.updated(old: old, new: specChange)))
        #expect(filter.accepts(.updated(old: old, new: finalizer)))
        #expect(filter.accepts(.updated(old: old, new: annotation)))
        #expect(filter.accepts(.updated(old: old, new: deleting)))
        #expect(filter.accepts(.resync(old)))
        #expect(filter.accepts(.added(old)))

        #expect(EventFilter<Widget>.contentChanged.accepts(.updated(old: old, new: statusOnly)))
        #expect(!EventFilter<Widget>.contentChanged.accepts(.updated(old: old, new: rvOnly)))
    }
}

@Suite struct MetricsTests {
    @Test func expositionIsPrometheusText() {
        let registry = MetricsRegistry()
        let total = registry.counter("demo_total", help: "Demo counter.", labels: ["controller", "result"])
        total.increment("snap", "success")
        total.increment("snap", "success")
        total.increment("snap", "error")
        registry.gauge("demo_depth", help: "Depth.", labels: ["name"]).set(3, "q\"1")
        let histogram = registry.histogram(
            "demo_seconds", help: "Time.", labels: ["controller"], buckets: [0.1, 1])
        histogram.observe(0.05, "snap")
        histogram.observe(0.5, "snap")
        histogram.observe(5, "snap")
        let text = registry.exposition()
        #expect(text.contains("# TYPE demo_total counter\n"))
        #expect(text.contains("demo_total{controller=\"snap\",result=\"success\"} 2\n"))
        #expect(text.contains("demo_total{controller=\"snap\",result=\"error\"} 1\n"))
        #expect(text.contains("demo_depth{name=\"q\\\"1\"} 3\n"))
        #expect(text.contains("demo_seconds_bucket{controller=\"snap\",le=\"0.1\"} 1\n"))
        #expect(text.contains("demo_seconds_bucket{controller=\"snap\",le=\"1\"} 2\n"))
        #expect(text.contains("demo_seconds_bucket{controller=\"snap\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("demo_seconds_sum{controller=\"snap\"} 5.55\n"))
        #expect(text.contains("demo_seconds_count{controller=\"snap\"} 3\n"))
        #expect(registry.value("demo_total", ["controller": "snap", "result": "success"]) == 2)
        // Asking again for a family returns the same one.
        registry.counter("demo_total", help: "again", labels: ["controller", "result"]).increment(
            "snap", "error")
        #expect(registry.value("demo_total", ["controller": "snap", "result": "error"]) == 2)
    }
}

/// The packed form of an entry's index values gives back exactly what was packed.
@Suite struct IndexValuesTests {
    @Test(arguments: [
        [[String]](), [["demo"]], [[""]], [[], ["a", "b"], [""]], [["ns/repo"], [], ["x", "", "y"]], [["a"], [""], []],
    ])
    func packedValuesUnpackAsTheyWere(_ lists: [[String]]) {
        let unpacked = IndexValues(lists).unpacked()
        // No index at all packs as one index without values.
        #expect(unpacked == (lists.isEmpty ? [[]] : lists), "\(lists) came back as \(unpacked)")
    }

    @Test func replacingOneIndexKeepsTheOthers() {
        let values = IndexValues([["demo"], ["r1"]]).replacing(2, with: ["s"], count: 3)
        #expect(values.unpacked() == [["demo"], ["r1"], ["s"]])
        #expect(values.replacing(0, with: [], count: 3).unpacked() == [[], ["r1"], ["s"]])
    }
}
