import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeController

/// Reconciles widgets with a finalizer and a status: the shape of kubesnap's reconcilers.
struct WidgetReconciler: Reconciler {
    static let finalizerName = "test.kubesnap.io/finalizer"
    let finalizer: Finalizer<Widget>
    let status: StatusWriter<Widget>
    let client: KubeClient
    let log: Box<[String]>

    init(client: KubeClient, log: Box<[String]>) {
        self.client = client
        self.log = log
        finalizer = Finalizer(name: Self.finalizerName, client: client, fieldManager: "widget-controller")
        status = StatusWriter(client: client, fieldManager: "widget-controller")
    }

    func reconcile(_ object: Widget) async throws -> ReconcileResult {
        guard let key = ObjectKey(object) else { return .done }
        return try await finalizer.reconcile(object) { event in
            switch event {
            case .apply(let object):
                let onServer = try await client.get(Widget.self, namespace: key.namespace, name: key.name)
                log.update {
                    $0.append(
                        "apply \(key.name) finalizer-on-server=\(Finalizer<Widget>.contains(onServer.metadata, Self.finalizerName))"
                    )
                }
                if object.spec?["size"].intValue == -1 {
                    throw TerminalError(reason: "InvalidSpec", message: "spec.size: must not be negative")
                }
                let generation = object.metadata.generation
                try await status.update(object) { status in
                    status["phase"] = "Ready"
                    status["observedGeneration"] = generation.map { .int($0) } ?? .null
                    Conditions.set(
                        &status.value, type: "Ready", status: "True", reason: "Reconciled",
                        message: "size \(object.spec?["size"] ?? .null)", observedGeneration: generation)
                }
                return .done
            case .cleanup(let object):
                let stillThere =
                    (try? await client.get(Cluster.widgets, namespace: key.namespace, name: key.name)) != nil
                log.update { $0.append("cleanup \(key.name) object-still-there=\(stillThere)") }
                _ = object
                return .done
            }
        }
    }
}

@Suite struct ControllerTests {
    @Test func finalizerIsAddedBeforeWorkAndRemovedOnlyAfterCleanup() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            let log = Box<[String]>([])
            let reconciler = WidgetReconciler(client: cluster.client, log: log)
            manager.controller(
                "widgets", for: Widget.self, reconciler: reconciler,
                options: ControllerOptions(workers: 2))
            try await whileRunning({ try? await manager.run() }) {
                _ = try await cluster.client.create(
                    Cluster.widgets, namespace: "default", widget("default", "w1"))
                try await waitUntil("w1 Ready with the finalizer") {
                    let live = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w1")
                    let ok =
                        live["status"]["phase"] == "Ready"
                        && (live["metadata"]["finalizers"].arrayValue ?? []).contains(.string(WidgetReconciler.finalizerName))
                    return (ok, "\(live)")
                }
                #expect(
                    log.value.allSatisfy {
                        !$0.hasPrefix("apply") || $0.hasSuffix("finalizer-on-server=true")
                    }, "\(log.value)")
                let live = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w1")
                #expect(Conditions.get(live["status"], type: "Ready")?.status == "True")

                _ = try await cluster.client.delete(Cluster.widgets, namespace: "default", name: "w1")
                try await waitUntil("w1 to be gone after cleanup") {
                    do {
                        let live = try await cluster.client.get(
                            Cluster.widgets, namespace: "default", name: "w1")
                        return (false, "still there: \(live["metadata"])")
                    } catch let error as KubeError where error.isNotFound {
                        return (true, "")
                    }
                }
                let cleanups = log.value.filter { $0.hasPrefix("cleanup w1") }
                #expect(!cleanups.isEmpty)
                #expect(cleanups.allSatisfy { $0.hasSuffix("object-still-there=true") }, "\(cleanups)")
            }
        }
    }

    @Test func aConcurrentWritersFinalizerChangeIsNotLost() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let finalizer = Finalizer<Widget>(
                name: WidgetReconciler.finalizerName, client: cluster.client, fieldManager: "widget-controller")
            let created = Widget(try await cluster.client.create(
                Cluster.widgets, namespace: "default", widget("default", "w")))
            // Someone else adds their finalizer after our (now stale) read.
            _ = try await cluster.client.patch(
                Cluster.widgets, namespace: "default", name: "w", type: .merge,
                ["metadata": ["finalizers": ["other.example/keep"]]])
            await #expect(throws: ControllerError.self) {
                _ = try await finalizer.reconcile(created) { _ in .done }
            }
            var live = try await cluster.client.get(Widget.self, namespace: "default", name: "w")
            #expect(live.metadata.finalizers == ["other.example/keep"])
            // On fresh state the add succeeds and keeps the other finalizer.
            _ = try await finalizer.reconcile(live) { _ in .done }
            live = try await cluster.client.get(Widget.self, namespace: "default", name: "w")
            #expect(live.metadata.finalizers == ["other.example/keep", WidgetReconciler.finalizerName])

            // Removal: delete, read, then the other writer removes its finalizer; our stale removal
            // must fail rather than write the other finalizer back.
            _ = try await cluster.client.delete(Cluster.widgets, namespace: "default", name: "w")
            let deleting = try await cluster.client.get(Widget.self, namespace: "default", name: "w")
            #expect(deleting.metadata.deletionTimestamp != nil)
            _ = try await cluster.client.patch(
                Cluster.widgets, namespace: "default", name: "w", type: .json,
                [
                    ["op": "test", "path": "/metadata/finalizers/0", "value": "other.example/keep"],
                    ["op": "remove", "path": "/metadata/finalizers/0"],
                ])
            let cleaned = Box(0)
            await #expect(throws: ControllerError.self) {
                _ = try await finalizer.reconcile(deleting) { _ in
                    cleaned.update { $0 += 1 }
                    return .done
                }
            }
            #expect(cleaned.value == 1)
            live = try await cluster.client.get(Widget.self, namespace: "default", name: "w")
            #expect(
                live.metadata.finalizers == [WidgetReconciler.finalizerName],
                "the other writer's removal is kept")
            // Retried on fresh state, our finalizer goes and the object with it.
            _ = try await finalizer.reconcile(live) { _ in .done }
            await #expect(throws: KubeError.self) {
                _ = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w")
            }
        }
    }

    @Test func noStatusWriteWhenNothingChanged() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            var informerOptions = InformerOptions()
            informerOptions.resyncPeriod = .milliseconds(100)
            let reconciler = WidgetReconciler(client: cluster.client, log: Box([]))
            manager.controller(
                "widgets", for: Widget.self, reconciler: reconciler, informerOptions: informerOptions)
            try await whileRunning({ try? await manager.run() }) {
                _ = try await cluster.client.create(
                    Cluster.widgets, namespace: "default", widget("default", "w"))
                try await waitUntil("w Ready") {
                    let live = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w")
                    return (live["status"]["phase"] == "Ready", "\(live)")
                }
                let statusWrites =
                    try await cluster.serverRequests(
                        verb: "patch", resource: "widgets", subresource: "status")
                    + cluster.serverRequests(verb: "update", resource: "widgets", subresource: "status")
                #expect(statusWrites >= 1)
                let reconciles = {
                    cluster.metrics.value(
                        "controller_runtime_reconcile_total", ["controller": "widgets", "result": "success"])
                        ?? 0
                }
                let before = reconciles()
                try await waitUntil("ten more reconciles from resyncs") {
                    (reconciles() >= before + 10, "\(reconciles())")
                }
                let after =
                    try await cluster.serverRequests(
                        verb: "patch", resource: "widgets", subresource: "status")
                    + cluster.serverRequests(verb: "update", resource: "widgets", subresource: "status")
                #expect(after == statusWrites, "resyncs must not write an unchanged status")

                // A spec change moves the generation: exactly the changed fields are written.
                _ = try await cluster.client.patch(
                    Cluster.widgets, namespace: "default", name: "w", type: .merge, ["spec": ["size": 2]])
                try await waitUntil("observedGeneration 2") {
                    let live = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w")
                    return (live["status"]["observedGeneration"] == 2, "\(live["status"])")
                }
                let live = try await cluster.client.get(Cluster.widgets, namespace: "default", name: "w")
                let ready = Conditions.get(live["status"], type: "Ready")
                #expect(ready?.message == "size 2")
                #expect(ready?.observedGeneration == 2)
            }
        }
    }

    @Test func terminalErrorsAreNotRetriedAndBecomeWarningEvents() async throws {
        try await withCluster { cluster in
            try await cluster.installWidgetCRD()
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            let reconciler = WidgetReconciler(client: cluster.client, log: Box([]))
            manager.controller("widgets", for: Widget.self, reconciler: reconciler)
            try await whileRunning({ try? await manager.run() }) {
                _ = try await cluster.client.create(
                    Cluster.widgets, namespace: "default", widget("default", "bad", size: -1))
                let event = try await waitFor("a Warning event on the widget") { () -> WaitProbe<JSONValue> in
                    let events = try await cluster.client.list(.events, namespace: "default").items
                    if let event = events.first(where: {
                        $0["involvedObject"]["name"] == "bad" && $0["reason"] == "InvalidSpec"
                    }) {
                        return .done(event)
                    }
                    return .notYet("\(events.map { $0["reason"] })")
                }
                #expect(event["type"] == "Warning")
                #expect(event["source"]["component"] == "controller")
                #expect(event["involvedObject"]["kind"] == "Widget")
                #expect(event["message"] == "spec.size: must not be negative")
                // One for the reconcile that added the finalizer and went on to the spec, and at
                // most one more for the watch event of that write; a retry would add more.
                let terminalErrors = cluster.metrics.value(
                    "controller_runtime_terminal_reconcile_errors_total", ["controller": "widgets"])
                #expect(terminalErrors == 1 || terminalErrors == 2, "\(String(describing: terminalErrors))")
                #expect(
                    manager.controllerQueueRetries("widgets", ObjectKey(namespace: "default", name: "bad"))
                        == 0)
            }
        }
    }

    @Test func failingReconcilesBackOffAndSucceedLater() async throws {
        try await withCluster { cluster in
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            let attempts = Box(0)
            let reconciler = ReconcileFunction<ConfigMap> { _ in
                let n = attempts.update {
                    $0 += 1; return $0
                }
                if n < 4 { throw TestFailure("attempt \(n) fails") }
                return .done
            }
            let controller = manager.controller("flaky", for: ConfigMap.self, reconciler: reconciler)
            try await whileRunning({ try? await manager.run() }) {
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "flaky"))
                try await waitUntil("the fourth attempt to succeed") {
                    let ok =
                        cluster.metrics.value(
                            "controller_runtime_reconcile_total",
                            ["controller": "flaky", "result": "success"]) == 1
                    return (ok, "attempts \(attempts.value)")
                }
                #expect(
                    cluster.metrics.value(
                        "controller_runtime_reconcile_errors_total", ["controller": "flaky"]) == 3)
                #expect(cluster.metrics.value("workqueue_retries_total", ["name": "flaky"]) == 3)
                #expect(
                    controller.queue.retries(ObjectKey(namespace: "default", name: "flaky")) == 0,
                    "success forgets the backoff")
            }
        }
    }
}

func testManagerOptions() -> ManagerOptions {
    var options = ManagerOptions()
    options.healthHost = "127.0.0.1"
    options.healthPort = 0
    return options
}

extension Manager {
    /// Test access to a controller's queue retries.
    func controllerQueueRetries(_ name: String, _ key: ObjectKey) -> Int? {
        controllers.first { $0.name == name }?.queue.retries(key)
    }
}
