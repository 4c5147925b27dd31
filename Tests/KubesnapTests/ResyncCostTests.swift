import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("A finished Snapshot costs nothing on resync")
struct ResyncCostTests {
    /// Writes (every verb but get, list and watch) to Snapshots and their status.
    static func snapshotWrites(_ api: TestAPIServer) async throws -> Int {
        var total = 0
        for verb in ["create", "update", "patch", "apply", "delete", "deletecollection"] {
            for subresource in ["", "status"] {
                total += try await api.requestCount(verb: verb, resource: "snapshots", subresource: subresource)
            }
        }
        return total
    }

    @Test("a Ready, verified Snapshot reconciled again by resyncs: no API write, no restic run")
    func finishedSnapshotCostsNothingOnResync() async throws {
        let port = try freeTCPPort()
        try await withWrappedRestic(configure: {
            $0.serveHealthAndMetrics(on: port)
            $0.resyncPeriod = .milliseconds(500)
            // The refresh a finished backup asks of its Repository happens at once, before the
            // window below opens.
            $0.repositoryRefreshSpacing = .milliseconds(10)
            // The Repository's own periodic refresh (snapshots, locks) is not a Snapshot resync: keep
            // it out of the window however slow a loaded machine makes this test.
            $0.repositoryRefreshInterval = .seconds(3600)
        }) { h, wrapper in
            let ns = "default"
            let source = try h.makeSource("resync", files: ["a": "a", "b": "b"])
            try await h.readyRepository(ns, "repo", path: "resync", password: "resync-pass")
            try await h.createSnapshot(ns, "snap", repository: "repo", source: source)
            try await h.waitForStatus(Harness.snapshots, ns, "snap", "Ready and verified") {
                $0["status"]["phase"] == "Ready" && $0["status"]["verificationStatus"] == "OK"
            }
            try await h.waitForStatus(Harness.repositories, ns, "repo", "snapshotCount 1") {
                $0["status"]["snapshotCount"].intValue == 1
            }
            // The Repository refresh that the first verification asks for runs `snapshots` after the
            // `dump`: wait for it, so that it is not taken for a resync's cost.
            try await wrapper.waitForRepositoryRefreshAfterVerification()
            #expect(!wrapper.runs().isEmpty, "the wrapper counts the operator's restic runs")
            let writesBefore = try await Self.snapshotWrites(h.api)
            let runsBefore = wrapper.runs()
            let reconcilesBefore = try await reconcileCount(metricsPort: port, controller: "snapshot")
            let before = try await h.get(Harness.snapshots, ns, "snap")

            // At least two resyncs reconcile the (only) Snapshot again.
            try await waitUntil("two more snapshot reconciles (resyncs every 500 ms)") {
                let count = try await reconcileCount(metricsPort: port, controller: "snapshot")
                return (count >= reconcilesBefore + 2, "reconciles: \(reconcilesBefore) before, \(count) now")
            }

            let runsAfter = wrapper.runs()
            #expect(runsAfter.count == runsBefore.count, "restic runs during resyncs: \(runsAfter.dropFirst(runsBefore.count)); all runs: \(runsAfter)")
            let writesAfter = try await Self.snapshotWrites(h.api)
            #expect(writesAfter == writesBefore, "Snapshot writes during resyncs: \(writesAfter - writesBefore)")
            let after = try await h.get(Harness.snapshots, ns, "snap")
            #expect(after?["metadata"]["resourceVersion"] == before?["metadata"]["resourceVersion"])

            // /metrics counts every restic run the wrapper saw, by subcommand and outcome.
            let counted = try await metricSum(metricsPort: port, "kubesnap_restic_runs_total")
            #expect(Int(counted) == runsAfter.count, "metric \(counted), wrapper runs \(runsAfter)")
            let backups = try await metricSum(
                metricsPort: port, "kubesnap_restic_runs_total", ["command=\"backup\"", "outcome=\"success\""])
            #expect(backups == 1)
            let timed = try await metricSum(
                metricsPort: port, "kubesnap_restic_run_duration_seconds_count", ["command=\"backup\""])
            #expect(timed == 1)
        }
    }
}
