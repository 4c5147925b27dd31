import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeController

/// Pure helpers: no server.
@Suite struct HelperTests {
    @Test func conditionsMoveLastTransitionTimeOnlyWhenStatusChanges() {
        var status: JSONValue = .null
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let t1 = t0.addingTimeInterval(60)
        #expect(
            Conditions.set(
                &status, type: "Ready", status: "False", reason: "Pending", message: "waiting",
                observedGeneration: 1, now: t0))
        #expect(
            !Conditions.set(
                &status, type: "Ready", status: "False", reason: "Pending", message: "waiting",
                observedGeneration: 1, now: t1))
        #expect(
            Conditions.set(
                &status, type: "Ready", status: "False", reason: "Pending", message: "still waiting",
                observedGeneration: 2, now: t1))
        #expect(Conditions.get(status, type: "Ready")?.lastTransitionTime == "2023-11-14T22:13:20Z")
        #expect(Conditions.get(status, type: "Ready")?.observedGeneration == 2)
        #expect(
            Conditions.set(&status, type: "Ready", status: "True", reason: "Done", message: "ok", now: t1))
        #expect(Conditions.get(status, type: "Ready")?.lastTransitionTime == "2023-11-14T22:14:20Z")
        Conditions.set(&status, type: "Verified", status: "Unknown", reason: "NotYet", message: "", now: t1)
        #expect(status["conditions"].arrayValue?.count == 2)
        #expect(Conditions.remove(&status, type: "Verified"))
        #expect(status["conditions"].arrayValue?.count == 1)

        var typed: [Condition] = []
        #expect(
            Conditions.set(
                &typed,
                Condition(type: "Ready", status: "True", lastTransitionTime: "a", reason: "R", message: "m")))
        #expect(
            !Conditions.set(
                &typed,
                Condition(type: "Ready", status: "True", lastTransitionTime: "b", reason: "R", message: "m")))
        #expect(typed[0].lastTransitionTime == "a")
    }

    @Test func finalizerPatchesCarryATestOp() {
        let absent: JSONValue = ["metadata": ["name": "x", "resourceVersion": "7"]]
        let empty: JSONValue = ["metadata": ["name": "x", "resourceVersion": "7", "finalizers": []]]
        let other: JSONValue = ["metadata": ["name": "x", "resourceVersion": "7", "finalizers": ["a/b"]]]
        let ours: JSONValue = [
            "metadata": ["name": "x", "resourceVersion": "7", "finalizers": ["a/b", "k/f"]]
        ]
        func meta(_ object: JSONValue) -> ObjectMeta { (try? object["metadata"].decode(ObjectMeta.self)) ?? ObjectMeta() }
        typealias F = Finalizer<Widget>
        for object in [absent, empty] {
            #expect(
                F.addPatch(meta(object), "k/f") == [
                    ["op": "test", "path": "/metadata/resourceVersion", "value": "7"],
                    ["op": "add", "path": "/metadata/finalizers", "value": ["k/f"]],
                ])
            #expect(F.removePatch(meta(object), "k/f") == nil)
        }
        #expect(
            F.addPatch(meta(other), "k/f") == [
                ["op": "test", "path": "/metadata/finalizers", "value": ["a/b"]],
                ["op": "add", "path": "/metadata/finalizers/-", "value": "k/f"],
            ])
        #expect(F.addPatch(meta(ours), "k/f") == nil)
        #expect(
            F.removePatch(meta(ours), "k/f") == [
                ["op": "test", "path": "/metadata/finalizers", "value": ["a/b", "k/f"]],
                ["op": "replace", "path": "/metadata/finalizers", "value": ["a/b"]],
            ])
    }

    @Test func mergePatchHoldsOnlyTheDifference() {
        let old: JSONValue = ["phase": "Pending", "size": 1, "nested": ["a": 1, "b": 2], "gone": "x"]
        let new: JSONValue = ["phase": "Ready", "size": 1, "nested": ["a": 1, "b": 3], "added": true]
        #expect(
            StatusWriter<Widget>.mergePatch(from: old, to: new) == [
                "phase": "Ready", "nested": ["b": 3], "gone": nil, "added": true,
            ])
        #expect(StatusWriter<Widget>.mergePatch(from: .null, to: ["phase": "Ready"]) == ["phase": "Ready"])
    }

    @Test func timestampsAreKubernetesFormatted() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        #expect(RFC3339.format(date) == "2023-11-14T22:13:20Z")
        #expect(RFC3339.format(date, fractionalSeconds: true).hasPrefix("2023-11-14T22:13:20.123"))
        #expect(RFC3339.format(date, fractionalSeconds: true).count == "2023-11-14T22:13:20.123456Z".count)
        #expect(RFC3339.parse("2023-11-14T22:13:20Z") == Date(timeIntervalSince1970: 1_700_000_000))
    }
}

/// Events, status conflicts and secondary watches against the API server.
@Suite struct RuntimeHelperServerTests {
    @Test func repeatedEventsAreAggregatedIntoOneObject() async throws {
        try await withCluster { cluster in
            let recorder = EventRecorder(client: cluster.client)
            let object = try await cluster.client.create(
                .configMaps, namespace: "default", configMap("default", "subject")
            ).decode(ConfigMap.self)
            try await whileRunning({ await recorder.run() }) {
                recorder.warning(
                    object, reason: "BackendUnreachable", message: "dial tcp 10.0.0.1:9000: refused")
                recorder.warning(
                    object, reason: "BackendUnreachable", message: "dial tcp 10.0.0.1:9000: refused")
                recorder.warning(
                    object, reason: "BackendUnreachable", message: "dial tcp 10.0.0.1:9000: refused")
                recorder.normal(object, reason: "Ready", message: "repository ready")
                try await waitUntil("four events written") {
                    (recorder.writtenCount == 4, "\(recorder.writtenCount)")
                }
                let events = try await cluster.client.list(.events, namespace: "default").items
                    .filter { $0["involvedObject"]["name"] == "subject" }
                #expect(events.count == 2)
                let warning = events.first { $0["reason"] == "BackendUnreachable" }
                #expect(warning?["count"] == 3)
                #expect(warning?["type"] == "Warning")
                #expect(warning?["involvedObject"]["uid"] == object.metadata.uid.map { .string($0) })
                #expect(warning?["reportingComponent"] == "controller")
                #expect(events.first { $0["reason"] == "Ready" }?["count"] == 1)
                #expect(try await cluster.serverRequests(verb: "create", resource: "events") == 2)
                #expect(try await cluster.serverRequests(verb: "patch", resource: "events") == 2)
            }
        }
    }

    /// A full aggregation cache forgets its least recently seen quarter (here one of four): a
    /// repeat of a forgotten Event makes a new object, a repeat of a remembered one still counts.
    @Test func aFullAggregationCacheForgetsTheLeastRecentlySeen() async throws {
        try await withCluster { cluster in
            var options = EventRecorder.Options()
            options.aggregationCacheSize = 4
            let recorder = EventRecorder(client: cluster.client, options: options)
            let object = try await cluster.client.create(
                .configMaps, namespace: "default", configMap("default", "cache-subject")
            ).decode(ConfigMap.self)
            try await whileRunning({ await recorder.run() }) {
                // One at a time, so that "least recently seen" follows this order.
                for (index, reason) in ["A", "B", "C", "D", "E", "E", "A", "C"].enumerated() {
                    recorder.normal(object, reason: reason, message: "m")
                    try await waitUntil("event \(index + 1) (\(reason)) written") {
                        (recorder.writtenCount == index + 1, "writtenCount \(recorder.writtenCount)")
                    }
                }
            }
            let events = try await cluster.client.list(.events, namespace: "default").items
                .filter { $0["involvedObject"]["name"] == "cache-subject" }
            func counts(_ reason: String) -> [Int] {
                events.filter { $0["reason"].stringValue == reason }.compactMap { $0["count"].intValue.map(Int.init) }.sorted()
            }
            // E found A, the oldest, gone; the second E counted; A came back as a new object and
            // pushed B out; C, remembered throughout, counted.
            #expect(counts("A") == [1, 1], "\(events)")
            #expect(counts("E") == [2])
            #expect(counts("C") == [2])
            #expect(counts("B") == [1] && counts("D") == [1])
            #expect(try await cluster.serverRequests(verb: "create", resource: "events") == 6)
            #expect(try await cluster.serverRequests(verb: "patch", resource: "events") == 2)
        }
    }

    @Test func recordingNeverBlocksAndDropsWhenTheBufferIsFull() async throws {
        try await withCluster { cluster in
            var options = EventRecorder.Options()
            options.bufferSize = 3
            let metrics = MetricsRegistry()
            let recorder = EventRecorder(client: cluster.client, options: options, metrics: metrics)
            let object = try configMap("default", "x").decode(ConfigMap.self)
            // Nobody writes (run() not started): the fourth and fifth events are dropped, at once.
            for i in 0..<5 { recorder.normal(object, reason: "R\(i)", message: "m") }
            #expect(recorder.droppedCount == 2)
            #expect(metrics.value("controller_runtime_events_dropped_total") == 2)
        }
    }

    /// While the probe reports busy work, an Event waits (and is written, with the time it was
    /// recorded, once the work is done); it never waits past `yieldLimit`, once the buffer is half
    /// full, or when the recorder is closed.
    @Test func eventsGiveWayToBusyWork() async throws {
        try await withCluster { cluster in
            let object = try await cluster.client.create(
                .configMaps, namespace: "default", configMap("default", "busy-subject")
            ).decode(ConfigMap.self)
            func events() async throws -> [JSONValue] {
                try await cluster.client.list(.events, namespace: "default").items
                    .filter { $0["involvedObject"]["name"] == "busy-subject" }
            }
            var options = EventRecorder.Options()
            options.yieldLimit = .seconds(600)
            options.bufferSize = 6
            let recorder = EventRecorder(client: cluster.client, options: options)
            let busy = Box(true)
            recorder.giveWay { busy.value }
            try await whileRunning({ await recorder.run() }) {
                let recordedAt = Date()
                recorder.normal(object, reason: "Held", message: "written after the work")
                try await waitUntil("the recorder to hold the Event back") {
                    (recorder.isGivingWay, "writtenCount \(recorder.writtenCount)")
                }
                #expect(try await events().isEmpty, "an Event was written while the work was busy")
                #expect(recorder.writtenCount == 0)
                busy.update { $0 = false }
                try await waitUntil("the held Event to be written once the work is done") {
                    (recorder.writtenCount == 1, "writtenCount \(recorder.writtenCount)")
                }
                let held = try #require(try await events().first)
                let stamp = try #require(held["firstTimestamp"].stringValue.flatMap(RFC3339.parse))
                #expect(abs(stamp.timeIntervalSince(recordedAt)) < 5, "kept its recording time: \(stamp)")

                // Busy again: a buffer half full (3 of 6) is written down to less than half (one
                // Event) without waiting; the other two wait for the work.
                busy.update { $0 = true }
                for i in 0..<3 { recorder.normal(object, reason: "Burst\(i)", message: "m") }
                try await waitUntil("a half-full buffer to be written down to less than half") {
                    (recorder.writtenCount == 2 && recorder.isGivingWay, "writtenCount \(recorder.writtenCount)")
                }
                busy.update { $0 = false }
                try await waitUntil("the rest to be written once the work is done") {
                    (recorder.writtenCount == 4, "writtenCount \(recorder.writtenCount)")
                }
            }
            // A short yieldLimit: written while still busy.
            options.yieldLimit = .milliseconds(200)
            let limited = EventRecorder(client: cluster.client, options: options)
            limited.giveWay { true }
            try await whileRunning({ await limited.run() }) {
                limited.normal(object, reason: "Limited", message: "written after yieldLimit")
                try await waitUntil("an Event held past yieldLimit to be written") {
                    (limited.writtenCount == 1, "writtenCount \(limited.writtenCount)")
                }
            }
            // close() writes what is held, busy or not, and run() returns.
            options.yieldLimit = .seconds(600)
            let closing = EventRecorder(client: cluster.client, options: options)
            closing.giveWay { true }
            closing.normal(object, reason: "Closing", message: "written at close")
            let finished = Latch()
            try await whileRunning({
                await closing.run()
                finished.open()
            }) {
                try await waitUntil("the recorder to hold the Event back") { (closing.isGivingWay, "") }
                closing.close()
                await finished.wait()
                #expect(closing.writtenCount == 1)
            }
            let reasons = try await events().compactMap { $0["reason"].stringValue }
            #expect(Set(reasons) == ["Held", "Burst0", "Burst1", "Burst2", "Limited", "Closing"])
        }
    }

    @Test func statusWriterRetriesOnFreshStateAfterAConflict() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let writer = StatusWriter<Widget>(client: cluster.client, fieldManager: "widget-controller")
            let stale = Widget(try await cluster.client.create(
                Cluster.widgets, namespace: "default", widget("default", "w")))
            // Another writer sets a status field after our read.
            _ = try await cluster.client.patch(
                Cluster.widgets, namespace: "default", name: "w", type: .merge, ["status": ["other": "kept"]],
                subresource: "status")
            let seen = Box<[FreeStatus]>([])
            let updated = try await writer.update(stale) { status in
                seen.update { $0.append(status) }
                status["phase"] = "Ready"
            }
            #expect(updated?.status?["phase"] == "Ready")
            #expect(updated?.status?["other"] == "kept")
            #expect(seen.value.count == 2, "the status was recomputed on the fresh object: \(seen.value)")
            // Unchanged: no write at all.
            let fresh = try await cluster.client.get(Widget.self, namespace: "default", name: "w")
            let before = try await cluster.serverRequests(
                verb: "patch", resource: "widgets", subresource: "status")
            #expect(try await writer.update(fresh) { $0["phase"] = "Ready" } == nil)
            #expect(
                try await cluster.serverRequests(verb: "patch", resource: "widgets", subresource: "status")
                    == before)
        }
    }

    /// A change of a "repository" (ConfigMap) enqueues the widgets that reference it, through an index.
    @Test func secondaryWatchesMapEventsToPrimaryKeysThroughAnIndex() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            let widgets = manager.informer(for: Widget.self)
            widgets.addIndex("repository") { object in
                object.spec?["repository"].stringValue.map { ["\(object.metadata.namespace ?? "")/\($0)"] } ?? []
            }
            let repositories = manager.informer(for: ConfigMap.self)
            let reconciled = Box<[String]>([])
            let controller = manager.controller(
                "widgets", for: Widget.self,
                reconciler: ReconcileFunction<Widget> { object in
                    reconciled.update { $0.append(object.metadata.name ?? "") }
                    return .done
                })
            controller.watches(repositories) { repository in
                widgets.store.keys(
                    index: "repository",
                    value: "\(repository.metadata.namespace ?? "")/\(repository.metadata.name ?? "")")
            }
            var w1 = widget("default", "w1")
            w1["spec"]["repository"] = "repo-a"
            var w2 = widget("default", "w2")
            w2["spec"]["repository"] = "repo-b"
            _ = try await cluster.client.create(Cluster.widgets, namespace: "default", w1)
            _ = try await cluster.client.create(Cluster.widgets, namespace: "default", w2)
            try await whileRunning({ try? await manager.run() }) {
                try await waitUntil("both widgets reconciled") {
                    (Set(reconciled.value) == ["w1", "w2"], "\(reconciled.value)")
                }
                reconciled.update { $0 = [] }
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "repo-a"))
                try await waitUntil("the repository change to enqueue w1") {
                    (reconciled.value.contains("w1"), "\(reconciled.value)")
                }
                #expect(!reconciled.value.contains("w2"))
            }
        }
    }
}
