import Foundation
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
        let wrapper = try ResticWrapper()
        defer { wrapper.remove() }
        try await withOperator(configure: { $0.resticExecutable = wrapper.executable }) { h in
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
}
