import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeController

@Suite struct ManagerTests {
    static func get(_ port: Int, _ path: String) async throws -> (code: Int, body: String) {
        let result = try await runCommand(
            "/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.last ?? "") ?? 0
        return (code, lines.dropLast().joined(separator: "\n"))
    }

    @Test func healthReadinessAndMetricsEndpoints() async throws {
        try await withCluster { cluster in
            let manager = Manager(
                client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            manager.controller("cm", for: ConfigMap.self, reconciler: ReconcileFunction<ConfigMap>.keys { _ in .done })
            try await whileRunning({ try? await manager.run() }) {
                guard let port = await manager.waitForHealthServer() else {
                    Issue.record("no health server")
                    return
                }
                #expect(try await Self.get(port, "/healthz") == (200, "ok"))
                try await waitUntil("ready once caches synced") {
                    let (code, body) = try await Self.get(port, "/readyz")
                    return (code == 200, "\(code) \(body)")
                }
                for i in 0..<3 {
                    _ = try await cluster.client.create(
                        .configMaps, namespace: "default", configMap("default", "m\(i)"))
                }
                try await waitUntil("three reconciles counted on /metrics") {
                    let (_, body) = try await Self.get(port, "/metrics")
                    return (
                        body.contains(
                            "controller_runtime_reconcile_total{controller=\"cm\",result=\"success\"} 3\n"),
                        body
                    )
                }
                let (code, body) = try await Self.get(port, "/metrics")
                #expect(code == 200)
                #expect(body.contains("# TYPE controller_runtime_reconcile_time_seconds histogram"))
                #expect(
                    body.contains("controller_runtime_reconcile_time_seconds_count{controller=\"cm\"} 3\n"))
                #expect(body.contains("controller_runtime_reconcile_errors_total{controller=\"cm\"} 0\n"))
                #expect(body.contains("workqueue_adds_total{name=\"cm\"} 3\n"))
                #expect(body.contains("workqueue_depth{name=\"cm\"} 0\n"))
                #expect(body.contains("workqueue_queue_duration_seconds_count{name=\"cm\"} 3\n"))
                #expect(body.contains("workqueue_work_duration_seconds_count{name=\"cm\"} 3\n"))
                #expect(body.contains("rest_client_requests_total{verb=\"LIST\",code=\"200\"}"))
                #expect(body.contains("rest_client_requests_total{verb=\"CREATE\",code=\"201\"} 3\n"))
                #expect(try await Self.get(port, "/nothing").code == 404)
            }
        }
    }

    /// The Manager's recorder holds a reconcile's Event back while that reconcile runs.
    @Test func eventsWaitForReconcilesInFlight() async throws {
        try await withCluster { cluster in
            let manager = Manager(client: cluster.client, options: testManagerOptions(), metrics: cluster.metrics)
            let gate = Latch()
            let recorder = manager.events
            let cache = manager.informer(for: ConfigMap.self)
            manager.controller(
                "eventful", for: ConfigMap.self,
                reconciler: ReconcileFunction<ConfigMap>.keys { key in
                    if let object = cache.store.get(key) {
                        recorder.normal(object, reason: "Reconciled", message: "after the reconcile")
                    }
                    await gate.wait()
                    return .done
                })
            try await whileRunning({ try? await manager.run() }) {
                _ = try await cluster.client.create(.configMaps, namespace: "default", configMap("default", "e"))
                try await waitUntil("the Event to be held while its reconcile runs") {
                    (recorder.isGivingWay, "written \(recorder.writtenCount)")
                }
                let early = try await cluster.client.list(.events, namespace: "default").items
                #expect(!early.contains { $0["reason"] == "Reconciled" })
                gate.open()
                try await waitUntil("the Event to be written once the reconcile is done") {
                    let events = try await cluster.client.list(.events, namespace: "default").items
                    return (events.contains { $0["reason"] == "Reconciled" }, "\(events.count) events")
                }
            }
        }
    }

    @Test func gracefulShutdownLetsAReconcileInFlightFinish() async throws {
        try await withCluster { cluster in
            var options = testManagerOptions()
            options.gracePeriod = .seconds(60)
            let manager = Manager(client: cluster.client, options: options, metrics: cluster.metrics)
            let gate = Latch()
            let log = Box<[String]>([])
            manager.controller(
                "slow", for: ConfigMap.self,
                reconciler: ReconcileFunction<ConfigMap>.keys { key in
                    log.update { $0.append("start \(key.name)") }
                    await gate.wait()
                    log.update {
                        $0.append(Task.isCancelled ? "cancelled \(key.name)" : "finished \(key.name)")
                    }
                    return .done
                })
            let returned = Latch()
            try await whileRunning({
                try? await manager.run()
                returned.open()
            }) {
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "slow"))
                try await waitUntil("the reconcile to start") {
                    (log.value == ["start slow"], "\(log.value)")
                }
                manager.shutdown()
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "late"))
                #expect(!returned.isOpen, "run() waits for the reconcile in flight")
                gate.open()
                try await waitUntil("run() to return") { (returned.isOpen, "log \(log.value)") }
                #expect(
                    log.value == ["start slow", "finished slow"],
                    "no new work after shutdown; the one in flight finished")
            }
        }
    }

    @Test func gracefulShutdownCancelsReconcilesThatOutliveTheGracePeriod() async throws {
        try await withCluster { cluster in
            var options = testManagerOptions()
            options.gracePeriod = .milliseconds(300)
            let manager = Manager(client: cluster.client, options: options, metrics: cluster.metrics)
            let log = Box<[String]>([])
            manager.controller(
                "stuck", for: ConfigMap.self,
                reconciler: ReconcileFunction<ConfigMap>.keys { key in
                    log.update { $0.append("start") }
                    await Latch().wait()  // never opens: only cancellation ends it
                    log.update { $0.append(Task.isCancelled ? "cancelled" : "finished") }
                    return .done
                })
            let returned = Latch()
            try await whileRunning({
                try? await manager.run()
                returned.open()
            }) {
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "stuck"))
                try await waitUntil("the reconcile to start") { (log.value == ["start"], "\(log.value)") }
                let requested = ContinuousClock.now
                manager.shutdown()
                try await waitUntil("run() to return after the grace period", timeout: .seconds(60)) {
                    (returned.isOpen, "log \(log.value)")
                }
                #expect(ContinuousClock.now - requested >= .milliseconds(300))
                #expect(log.value == ["start", "cancelled"])
            }
        }
    }

    @Test func sigtermRequestsAGracefulShutdown() async throws {
        try await withCluster { cluster in
            var options = testManagerOptions()
            options.handleSignals = true
            let manager = Manager(client: cluster.client, options: options, metrics: cluster.metrics)
            manager.controller("signalled", for: ConfigMap.self, reconciler: ReconcileFunction<ConfigMap>.keys { _ in .done })
            let returned = Latch()
            try await whileRunning({
                try? await manager.run()
                returned.open()
            }) {
                await manager.signalHandlersInstalled.wait()
                try await waitUntil("ready") { (manager.isReady, "not synced") }
                kill(getpid(), SIGTERM)
                try await waitUntil("run() to return after SIGTERM") { (returned.isOpen, "still running") }
            }
        }
    }

    static func electedManager(
        _ cluster: Cluster, identity: String, leaseDuration: Duration, reconciler: some Reconciler<ConfigMap>
    ) throws -> Manager {
        var options = testManagerOptions()
        var election = LeaderElectionConfiguration(
            namespace: "default", leaseName: "controller-test", identity: identity)
        election.leaseDuration = leaseDuration
        election.renewDeadline = .seconds(2)
        election.retryPeriod = .milliseconds(200)
        options.leaderElection = election
        options.gracePeriod = .seconds(5)
        let manager = Manager(client: try cluster.newClient(), options: options)
        manager.controller("cm", for: ConfigMap.self, reconciler: reconciler)
        return manager
    }

    /// Two replicas: only the leader reconciles; when it shuts down it releases the lease and
    /// the standby takes over at once (the lease is 300 s: only a release explains a quick takeover).
    @Test func twoManagersNeverReconcileAtOnceAndTheStandbyTakesOver() async throws {
        try await withCluster { cluster in
            struct Activity: Sendable {
                var active: [String: Int] = [:]
                var overlaps = 0
                var reconciled: [String: [String]] = [:]
            }
            let activity = Box(Activity())
            func reconciler(_ id: String) -> ReconcileFunction<ConfigMap> {
                ReconcileFunction<ConfigMap>.keys { key in
                    activity.update { a in
                        a.active[id, default: 0] += 1
                        if a.active.filter({ $0.value > 0 }).count > 1 { a.overlaps += 1 }
                        a.reconciled[id, default: []].append(key.name)
                    }
                    await Task.yield()
                    activity.update { $0.active[id, default: 0] -= 1 }
                    return .done
                }
            }
            let first = try Self.electedManager(
                cluster, identity: "first", leaseDuration: .seconds(300), reconciler: reconciler("first"))
            let second = try Self.electedManager(
                cluster, identity: "second", leaseDuration: .seconds(300), reconciler: reconciler("second"))
            let firstReturned = Latch()
            try await whileRunning({
                try? await first.run()
                firstReturned.open()
            }) {
                try await waitUntil("first to lead") { (first.isLeader, "not yet") }
                try await whileRunning({ try? await second.run() }) {
                    try await waitUntil("the standby to be ready") { (second.isReady, "not synced") }
                    for i in 0..<5 {
                        _ = try await cluster.client.create(
                            .configMaps, namespace: "default", configMap("default", "a\(i)"))
                    }
                    try await waitUntil("the leader to reconcile all five") {
                        let names = Set(activity.value.reconciled["first"] ?? [])
                        return (
                            names.isSuperset(of: (0..<5).map { "a\($0)" }), "\(activity.value.reconciled)"
                        )
                    }
                    #expect(second.isLeader == false)
                    #expect(activity.value.reconciled["second"] == nil, "the standby must not reconcile")

                    first.shutdown()
                    try await waitUntil("the leader to stop") { (firstReturned.isOpen, "still running") }
                    try await waitUntil(
                        "the standby to take over well before the 300 s lease expires", timeout: .seconds(90)
                    ) {
                        (second.isLeader, "not leader")
                    }
                    _ = try await cluster.client.create(
                        .configMaps, namespace: "default", configMap("default", "b"))
                    try await waitUntil("the new leader to reconcile") {
                        (
                            (activity.value.reconciled["second"] ?? []).contains("b"),
                            "\(activity.value.reconciled)"
                        )
                    }
                    let lease = try await cluster.client.get(
                        .leases, namespace: "default", name: "controller-test")
                    #expect(lease["spec"]["holderIdentity"] == "second")
                    #expect(!(activity.value.reconciled["first"] ?? []).contains("b"))
                    #expect(activity.value.overlaps == 0)
                }
            }
        }
    }

    @Test func cancellingTheLeadersTaskReleasesTheLease() async throws {
        try await withCluster { cluster in
            let manager = try Self.electedManager(
                cluster, identity: "cancelled", leaseDuration: .seconds(60),
                reconciler: ReconcileFunction<ConfigMap>.keys { _ in .done })
            try await whileRunning({ try? await manager.run() }) {
                try await waitUntil("leading") { (manager.isLeader, "not yet") }
            }
            let lease = try await cluster.client.get(.leases, namespace: "default", name: "controller-test")
            #expect(lease["spec"]["holderIdentity"] == "")
            #expect(lease["spec"]["leaseDurationSeconds"] == 1)
        }
    }

    /// A leader that cannot renew before its deadline stops reconciling at once.
    @Test func aLeaderThatCannotRenewStopsReconcilingAtOnce() async throws {
        try await withCluster { cluster in
            let log = Box<[String]>([])
            let reconciler = ReconcileFunction<ConfigMap>.keys { key in
                log.update { $0.append("start \(key.name)") }
                await Latch().wait()
                log.update { $0.append(Task.isCancelled ? "cancelled \(key.name)" : "finished \(key.name)") }
                return .done
            }
            let manager = try Self.electedManager(
                cluster, identity: "only", leaseDuration: .seconds(4), reconciler: reconciler)
            try await whileRunning({ try? await manager.run() }) {
                try await waitUntil("leading") { (manager.isLeader, "not yet") }
                _ = try await cluster.client.create(
                    .configMaps, namespace: "default", configMap("default", "busy"))
                try await waitUntil("the reconcile to start") {
                    (log.value.contains("start busy"), "\(log.value)")
                }
                // Every request fails from now on: renewals too.
                cluster.api.server.faults.failNext(count: 1_000_000, code: 500, retryAfterSeconds: 0)
                // The renew deadline is 2 s; the wait allows for a machine loaded by other suites
                // (CI once needed more than 15 s while the fault suite's operators ran).
                try await waitUntil("the reconcile in flight cancelled", timeout: .seconds(60)) {
                    (log.value.contains("cancelled busy"), "leader \(manager.isLeader), \(log.value)")
                }
                // The flag drops once every controller has wound down (longer on a loaded machine).
                try await waitUntil("leadership reported lost", timeout: .seconds(45)) {
                    (!manager.isLeader, "leader \(manager.isLeader), \(log.value)")
                }
                cluster.api.server.faults.reset()
                try await waitUntil("leading again once the API answers") { (manager.isLeader, "not yet") }
                try await waitUntil("the interrupted key to be reconciled again") {
                    (log.value.filter { $0 == "start busy" }.count >= 2, "\(log.value)")
                }
            }
        }
    }
}
