import Foundation
import KubeController
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

/// Never two data operations on one source at a time: a second Snapshot of a source (into the
/// same repository) whose backup is still running waits Pending, reason `SourceBusy`, and starts
/// only when the first is done. `ResticWrapper` holds the first backup for as long as the test
/// wants (a source named `hold*`), so nothing here depends on timing.
@Suite("One data operation per source")
struct SourceExclusionTests {
    @Test("a second Snapshot of a source being backed up waits (SourceBusy), then runs")
    func secondSnapshotOfABusySourceWaits() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default"
            try await h.readyRepository(ns, "repo", path: "exclusive", password: "exclusive-pass")
            let source = try h.makeSource("hold-shared", files: ["f": "shared data"])

            try await h.createSnapshot(ns, "first", repository: "repo", source: source)
            try await h.waitForPhase(Harness.snapshots, ns, "first", "Running")
            try await waitUntil("the first backup to reach the (holding) restic wrapper") {
                (wrapper.runs().contains { $0.contains(" backup ") }, "\(wrapper.runs())")
            }
            try await h.createSnapshot(ns, "second", repository: "repo", source: source)
            let waiting = try await h.waitForReason(Harness.snapshots, ns, "second", phase: "Pending", reason: "SourceBusy")
            #expect(Harness.readyMessage(waiting).contains("first"), "\(Harness.readyMessage(waiting))")
            #expect(
                wrapper.runs().filter { $0.contains(" backup ") }.count == 1,
                "a second backup of the busy source started: \(wrapper.runs())")

            try wrapper.release()
            let first = try await h.waitForPhase(Harness.snapshots, ns, "first", "Ready")
            let second = try await h.waitForPhase(Harness.snapshots, ns, "second", "Ready")
            #expect(first["status"]["snapshotID"] != second["status"]["snapshotID"])
            #expect(wrapper.runs().filter { $0.contains(" backup ") }.count == 2)
        }
    }

    @Test("with every data-operation slot taken, another Snapshot waits Pending (Queued), then runs")
    func snapshotsBeyondTheSlotsWaitInLine() async throws {
        let port = try freeTCPPort()
        try await withWrappedRestic(configure: {
            $0.maxConcurrentOperations = 2
            $0.serveHealthAndMetrics(on: port)
        }) { h, wrapper in
            let ns = "default"
            try await h.readyRepository(ns, "repo", path: "slots", password: "slots-pass")
            for name in ["hold-a", "hold-b", "hold-c"] {
                let source = try h.makeSource(name, files: ["f": name])
                try await h.createSnapshot(ns, name, repository: "repo", source: source)
            }
            let backups = { wrapper.runs().filter { $0.contains(" backup ") } }
            try await waitUntil("two backups to reach the (holding) restic wrapper") {
                (backups().count == 2, "\(wrapper.runs())")
            }
            // Exactly one of the three waits in line, Pending with reason Queued, and no restic.
            var queued: [String] = []
            try await waitUntil("the third Snapshot to wait in line") {
                queued = []
                for name in ["hold-a", "hold-b", "hold-c"] {
                    let object = try await h.get(Harness.snapshots, ns, name)
                    if object?["status"]["phase"] == "Pending",
                        Conditions.get(object?["status"] ?? .null, type: "Ready")?.reason == "Queued"
                    {
                        queued.append(name)
                    }
                }
                return (queued.count == 1, "queued: \(queued)")
            }
            #expect(backups().count == 2, "a third backup started: \(wrapper.runs())")
            // /metrics shows the same: two running, one in line.
            #expect(try await metricSum(metricsPort: port, "kubesnap_data_operations", ["state=\"running\""]) == 2)
            #expect(try await metricSum(metricsPort: port, "kubesnap_data_operations", ["state=\"queued\""]) == 1)
            #expect(!backups().contains { $0.hasSuffix("/" + queued[0]) }, "\(wrapper.runs())")

            try wrapper.release()
            for name in ["hold-a", "hold-b", "hold-c"] {
                try await h.waitForPhase(Harness.snapshots, ns, name, "Ready")
            }
            #expect(backups().count == 3)
            try await waitUntil("no data operation running or in line") {
                let running = try await metricSum(metricsPort: port, "kubesnap_data_operations", ["state=\"running\""])
                let queued = try await metricSum(metricsPort: port, "kubesnap_data_operations", ["state=\"queued\""])
                return (running == 0 && queued == 0, "running \(running), queued \(queued)")
            }
        }
    }
}
