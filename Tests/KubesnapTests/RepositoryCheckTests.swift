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

    /// The snapshot count is read at every refresh; the stored size (a bucket listing of every
    /// file, for S3) only when kubesnap changed the repository or at most every
    /// `repositorySizeInterval`.
    @Test("a periodic refresh reads the count and keeps the size; kubesnap's own backup reads both")
    func sizeIsReadWhenKubesnapChangedTheRepository() async throws {
        try await withWrappedRestic(configure: {
            $0.repositoryRefreshInterval = .milliseconds(300)
            $0.repositoryRefreshSpacing = .milliseconds(10)
            $0.repositorySizeInterval = .seconds(3600)
        }) { h, wrapper in
            let ns = "default"
            let password = "size-pass"
            let path = h.repositoryRoot + "/sized"
            try await h.readyRepository(ns, "repo", path: "sized", password: password)
            let first = try #require(try await h.get(Harness.repositories, ns, "repo"))
            let firstSize = try #require(first["status"]["sizeBytes"].intValue)

            // A backup made outside kubesnap: the next periodic refresh counts it, the size stays.
            let outside = try h.makeSource("outside", files: ["big": String(repeating: "x", count: 200_000)])
            let made = try await h.restic(["-r", path, "backup", h.sourceRoot + "/" + outside], password: password)
            #expect(made.succeeded, "\(made)")
            let counted = try await h.waitForStatus(Harness.repositories, ns, "repo", "snapshotCount 1") {
                $0["status"]["snapshotCount"].intValue == 1
            }
            #expect(counted["status"]["sizeBytes"].intValue == firstSize, "\(counted["status"])")
            #expect(try await h.bytesOnDisk(path) > firstSize)

            // kubesnap's own backup asks for a refresh that reads the size again.
            let source = try h.makeSource("inside", files: ["f": "inside"])
            try await h.createSnapshot(ns, "snap", repository: "repo", source: source)
            try await h.waitForPhase(Harness.snapshots, ns, "snap", "Ready")
            let resized = try await h.waitForStatus(Harness.repositories, ns, "repo", "snapshotCount 2 and a new size") {
                $0["status"]["snapshotCount"].intValue == 2 && ($0["status"]["sizeBytes"].intValue ?? 0) > firstSize
            }
            #expect((resized["status"]["sizeBytes"].intValue ?? 0) > firstSize + 1_000, "\(resized["status"])")
            #expect(!wrapper.runs().contains { $0.contains(" stats") }, "\(wrapper.runs())")
        }
    }

    /// Files a stopped restic left half-written (`*-tmp-*`) are removed with a read of the
    /// size once nobody wrote them for an hour; a fresh one is left alone.
    @Test("unfinished files a stopped restic left are removed once an hour old, with an Event")
    func unfinishedFilesAreRemoved() async throws {
        try await withWrappedRestic(configure: {
            $0.repositoryRefreshInterval = .milliseconds(300)
            $0.repositorySizeInterval = .milliseconds(300)
        }) { h, _ in
            let ns = "default"
            let path = h.repositoryRoot + "/unfinished"
            try await h.readyRepository(ns, "repo", path: "unfinished", password: "unfinished-pass")
            try FileManager.default.createDirectory(atPath: path + "/data/ab", withIntermediateDirectories: true)
            let name = String(repeating: "ab", count: 32)
            let old = path + "/data/ab/\(name)-tmp-111", fresh = path + "/data/ab/\(name)-tmp-222"
            for file in [old, fresh] {
                _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 7, count: 50_000))
            }
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: old)

            try await waitUntil("an UnfinishedFilesRemoved Event") {
                let reasons = try await h.eventReasons(ns, about: "repo")
                return (reasons.contains("UnfinishedFilesRemoved"), "\(reasons)")
            }
            #expect(!FileManager.default.fileExists(atPath: old))
            #expect(FileManager.default.fileExists(atPath: fresh), "one written less than an hour ago stays")
            let bytes = try await h.bytesOnDisk(path)
            try await h.waitForStatus(Harness.repositories, ns, "repo", "the size without the removed file") {
                $0["status"]["sizeBytes"].intValue == bytes
            }
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
