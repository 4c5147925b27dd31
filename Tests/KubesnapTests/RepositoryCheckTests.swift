import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Repository checks across restarts")
struct RepositoryCheckTests {
    @Test("a restarted operator keeps the recorded check (no second restic check), and checks again once it is due")
    func restartDoesNotRecheckUntilDue() async throws {
        let port = try freeTCPPort()
        try await withWrappedRestic(configure: {
            $0.serveHealthAndMetrics(on: port)
        }) { h, wrapper in
            let ns = "default"
            try await h.createSecret(ns, "pw", password: "check-pass")
            try await h.createRepository(ns, "repo", path: "checked", secret: "pw")
            let ready = try await h.waitForStatus(Harness.repositories, ns, "repo", "Ready and checked") {
                $0["status"]["phase"] == "Ready" && $0["status"]["verificationStatus"] == "OK"
            }
            let checks = { wrapper.runs().filter { $0.contains(" check") } }
            #expect(checks().count == 1, "runs: \(wrapper.runs())")
            // A repository the operator made itself is known empty: one listing (which found no
            // repository), the init and the check; its size is what its files take.
            #expect(wrapper.runs().filter { $0.contains(" snapshots") }.count == 1, "runs: \(wrapper.runs())")
            #expect(wrapper.runs().filter { $0.contains(" init") }.count == 1, "runs: \(wrapper.runs())")
            let bytes = try await h.bytesOnDisk(h.repositoryRoot + "/checked")
            #expect(ready["status"]["snapshotCount"].intValue == 0 && ready["status"]["sizeBytes"].intValue == bytes, "\(ready["status"]); find: \(bytes)")

            // Restart: the new operator reads the repository (snapshots) but does not check it again.
            var marker = wrapper.runs().count
            await h.restartOperator()
            try await waitForFirstRepositoryReconcile(port: port, wrapper: wrapper, after: marker)
            let afterRestart = Array(wrapper.runs().dropFirst(marker))
            #expect(!afterRestart.contains { $0.contains(" check") }, "restic runs after the restart: \(afterRestart)")
            let kept = try await h.get(Harness.repositories, ns, "repo")
            #expect(kept?["status"]["lastVerifiedTime"] == ready["status"]["lastVerifiedTime"])

            // A check recorded two days ago is due: the next operator runs it.
            let old = RFC3339.format(Date().addingTimeInterval(-2 * 86_400))
            _ = try await h.client.patch(
                Harness.repositories, namespace: ns, name: "repo", type: .merge,
                ["status": ["lastVerifiedTime": .string(old)]], subresource: "status")
            marker = wrapper.runs().count
            await h.restartOperator()
            try await waitForFirstRepositoryReconcile(port: port, wrapper: wrapper, after: marker)
            let afterDue = Array(wrapper.runs().dropFirst(marker))
            #expect(afterDue.filter { $0.contains(" check") }.count == 1, "restic runs after the second restart: \(afterDue)")
            let rechecked = try await h.get(Harness.repositories, ns, "repo")
            #expect(rechecked?["status"]["lastVerifiedTime"].stringValue != old)
        }
    }

    /// Waits until the operator listening on `port` (just started) has finished a reconcile of
    /// the Repository that read the backend (`snapshots` among the restic runs after `after`).
    private func waitForFirstRepositoryReconcile(port: Int, wrapper: ResticWrapper, after: Int) async throws {
        try await waitUntil("the restarted operator's first Repository reconcile", timeout: .seconds(60)) {
            let runs = Array(wrapper.runs().dropFirst(after))
            let reconciles = (try? await reconcileCount(metricsPort: port, controller: "repository")) ?? 0
            return (reconciles >= 1 && runs.contains { $0.contains(" snapshots") }, "reconciles \(reconciles); runs \(runs)")
        }
    }
}
