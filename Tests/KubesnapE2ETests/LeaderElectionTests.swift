import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// Two `kubesnap operator --leader-elect` processes: one leads, the other takes over when the
/// leader is killed, and a gracefully stopped leader releases the Lease.
@Suite struct LeaderElectionTests {
    @Test func standbyTakesOverAndAStoppedLeaderReleasesTheLease() async throws {
        let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-leader")
        defer {
            cluster.kill()
            cluster.directory.remove()
        }
        let source = try cluster.writeSmallSource("app")
        let kubectl = cluster.kubectl
        let leaseNamespace = "leader-election"
        try await kubectl.apply(
            """
            apiVersion: v1
            kind: Namespace
            metadata: {name: \(leaseNamespace)}
            """)
        let arguments = ["--leader-elect", "--leader-election-namespace", leaseNamespace]
        let a = try cluster.startOperator(name: "operator-a", extraArguments: arguments)
        defer { a.kill9() }
        let b = try cluster.startOperator(name: "operator-b", extraArguments: arguments)
        defer { b.kill9() }
        let operators = ["operator-a": a, "operator-b": b]

        /// The Lease's holder and which process it is (found by its identity in the logs).
        func holder() async throws -> (identity: String, name: String?) {
            try await cluster.leaseHolder(namespace: leaseNamespace, among: operators)
        }

        let (leaderIdentity, leaderName) = try await waitFor(
            "one operator to hold the Lease", timeout: .seconds(60), poll: .milliseconds(300)
        ) { () -> WaitProbe<(String, String)> in
            let (identity, name) = try await holder()
            if let name { return .done((identity, name)) }
            return .notYet("holderIdentity \"\(identity)\"; not (yet) in exactly one operator's log")
        }
        let standbyName = leaderName == "operator-a" ? "operator-b" : "operator-a"
        let leader = try #require(operators[leaderName]), standby = try #require(operators[standbyName])

        let ns = "leader"
        try await kubectl.apply(DemoManifests.namespaceSecretRepository(namespace: ns, path: "leader/app"))
        try await kubectl.apply(DemoManifests.snapshot(name: "first", namespace: ns, source: source))
        try await kubectl.waitForObject(
            "snap", "first", namespace: ns, "to be Ready", timeout: .seconds(120),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        #expect(
            !standby.log.contains("became leader"),
            "the standby \(standbyName) also became leader while \(leaderName) held the Lease:\n\(E2E.tail(standby.log))"
        )
        #expect(
            (try await holder()).identity == leaderIdentity,
            "the Lease changed hands while both operators ran")

        // Kill the leader (and its children): the standby takes over once the Lease expires.
        leader.kill9()
        let newIdentity = try await waitFor(
            "the standby \(standbyName) to take the Lease", timeout: .seconds(60), poll: .milliseconds(500)
        ) { () -> WaitProbe<String> in
            let (identity, name) = try await holder()
            return name == standbyName
                ? .done(identity) : .notYet("holderIdentity \"\(identity)\" (\(name ?? "unknown"))")
        }
        #expect(newIdentity != leaderIdentity)
        try await kubectl.apply(DemoManifests.snapshot(name: "second", namespace: ns, source: source))
        try await kubectl.waitForObject(
            "snap", "second", namespace: ns, "to be Ready under the new leader", timeout: .seconds(120),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }

        // SIGTERM: the new leader exits 0 within its grace period and releases the Lease.
        let clock = ContinuousClock()
        let stopped = clock.now
        let status = await standby.stop(signal: SIGTERM, timeout: .seconds(40))
        let took = clock.now - stopped
        #expect(
            status == 0,
            "\(standbyName) did not exit 0 on SIGTERM within 40 s (status \(String(describing: status))):\n\(E2E.tail(standby.log))"
        )
        #expect(took < .seconds(35), "\(standbyName) took \(took) to stop (grace period 30 s)")
        let lease = try #require(
            try await kubectl.get("lease", "kubesnap-operator", namespace: leaseNamespace))
        let released =
            (lease["spec"]["holderIdentity"].stringValue ?? "").isEmpty
            || (lease["spec"]["leaseDurationSeconds"].intValue ?? 15) <= 1
        #expect(released, "the stopped leader did not release the Lease: \(lease["spec"].serialized())")
    }
}
