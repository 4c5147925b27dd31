import Foundation
import KubeController
import KubeJSON
import KubeTestSupport
import Restic
import Testing

@testable import Kubesnap

@Suite("Prune batches")
struct PruneBatcherTests {
    @Test("Deletions within a batch share one forget --prune and one Repository refresh; the rest stays")
    func oneForgetAndOneRefreshPerBatch() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-batcher")
        defer { directory.remove() }
        let repository = try ResticRepository(
            backend: .local(path: directory.appending("repo")), password: "batch-pass",
            cacheDirectory: directory.appending("cache"))
        try await repository.initialize()
        let source = directory.appending("source")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var ids: [String] = []
        for index in 0..<4 {
            try "version \(index)\n".write(toFile: source + "/file.txt", atomically: true, encoding: .utf8)
            ids.append(try await repository.backup(path: source).snapshotID)
        }

        let refreshed = Locked<[ObjectKey]>([])
        let batcher = PruneBatcher(
            window: .seconds(10), quiet: .milliseconds(200), gate: RepositoryGate(), catalog: SnapshotCatalog(),
            refreshRepository: { key in refreshed.withLock { $0.append(key) } })
        let runner = Task { await batcher.run() }
        defer {
            batcher.finish()
            runner.cancel()
        }
        let repositoryKey = ObjectKey(namespace: "team", name: "repo")
        let snapshotKeys = (0..<3).map { ObjectKey(namespace: "team", name: "snap-\($0)") }
        for (index, key) in snapshotKeys.enumerated() {
            await batcher.submit(
                ids: [ids[index]], uid: "uid-\(index)", key: key, repositoryKey: repositoryKey, in: repository)
        }
        await batcher.submit(  // a repeated submission (a second reconcile) changes nothing
            ids: [ids[0]], uid: "uid-0", key: snapshotKeys[0], repositoryKey: repositoryKey, in: repository)

        let completed = Locked<[ObjectKey]>([])
        let listener = Task { for await key in batcher.completions { completed.withLock { $0.append(key) } } }
        defer { listener.cancel() }
        try await waitUntil("the batch's three completions", timeout: .seconds(60)) {
            let keys = completed.withLock { $0 }
            return (keys.count >= snapshotKeys.count, "completed so far: \(keys)")
        }
        #expect(Set(completed.withLock { $0 }) == Set(snapshotKeys))
        for index in 0..<3 {
            guard case .finished(.success) = await batcher.progress(uid: "uid-\(index)") else {
                Issue.record("uid-\(index) has no successful outcome")
                continue
            }
            guard case .none = await batcher.progress(uid: "uid-\(index)") else {
                Issue.record("uid-\(index)'s outcome was handed out twice")
                continue
            }
        }
        #expect(await batcher.forgetCalls == 1)
        #expect(refreshed.withLock { $0 } == [repositoryKey], "one refresh for the batch, not one per Snapshot")
        let left = try await repository.snapshots().map(\.id)
        #expect(left == [ids[3]], "only the batch's data is gone")
    }
}

@Suite("Prune batch pauses")
struct PruneBatchPauseTests {
    private let minimum = Duration.milliseconds(50), maximum = Duration.milliseconds(300)

    @Test("A deletecollection's burst runs its batch after the minimum pause")
    func burst() {
        // 1,000 deletions over a quarter of a second: a gap of 0.25 ms, 5 ms times 20.
        let pause = PruneBatcher.quietPeriod(
            submissions: 1000, spanning: .milliseconds(250), minimum: minimum, maximum: maximum)
        #expect(pause == minimum)
    }

    @Test("Deletions a few milliseconds apart (kubectl deleting one at a time) wait 20 of their gaps")
    func pace() {
        let pause = PruneBatcher.quietPeriod(
            submissions: 11, spanning: .milliseconds(80), minimum: minimum, maximum: maximum)
        #expect(pause == .milliseconds(160))
    }

    @Test("One kubectl delete per object, or a single deletion, waits the whole pause")
    func slowOrSingle() {
        #expect(
            PruneBatcher.quietPeriod(submissions: 3, spanning: .milliseconds(200), minimum: minimum, maximum: maximum)
                == maximum)
        #expect(PruneBatcher.quietPeriod(submissions: 1, spanning: .zero, minimum: minimum, maximum: maximum) == maximum)
    }
}

@Suite("Mass deletion through the operator")
struct MassDeletionTests {
    @Test("A deletecollection of adopted Snapshots shares a forget --prune, and its Repository refresh is one restic run")
    func deleteCollectionSharesAPrune() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default", count = 8
            try await h.readyRepository(ns, "repo", path: "mass", password: "mass-pass")
            let path = h.repositoryRoot + "/mass"
            let source = try h.makeSource("mass-source", files: ["file.txt": "v"])
            for index in 0..<count {
                try "version \(index)\n".write(
                    toFile: h.sourceRoot + "/" + source + "/file.txt", atomically: true, encoding: .utf8)
                let backup = try await h.restic(
                    ["-r", path, "backup", "--json", h.sourceRoot + "/" + source], password: "mass-pass")
                #expect(backup.succeeded, "\(backup)")
            }
            let ids = try await h.resticSnapshots(repository: path, password: "mass-pass").compactMap { $0["id"].stringValue }
            #expect(ids.count == count)
            for (index, id) in ids.enumerated() {
                try await h.createSnapshot(ns, "adopted-\(index)", repository: "repo", snapshotID: id, deletionPolicy: "Delete")
            }
            for index in 0..<count { try await h.waitForPhase(Harness.snapshots, ns, "adopted-\(index)", "Ready") }

            let marker = wrapper.runs().count
            _ = try await h.client.deleteCollection(Harness.snapshots, namespace: ns)
            for index in 0..<count { try await h.waitForGone(Harness.snapshots, ns, "adopted-\(index)") }
            #expect(try await h.resticSnapshots(repository: path, password: "mass-pass").isEmpty)

            // One batch (a loaded machine may split a burst; one forget per Snapshot would be 8),
            // then a refresh of the Repository that is one `restic snapshots` per batch (its size
            // comes from the backend's file listing).
            try await waitUntil("the Repository's refresh after the batch", timeout: .seconds(60)) {
                let runs = Array(wrapper.runs().dropFirst(marker))
                return (runs.contains { $0.contains(" snapshots") }, "runs \(runs)")
            }
            let runs = Array(wrapper.runs().dropFirst(marker))
            let forgets = runs.filter { $0.contains(" forget") }
            #expect(forgets.count >= 1 && forgets.count <= 3, "restic runs after the deletecollection: \(runs)")
            #expect(forgets.allSatisfy { $0.contains("--prune") }, "\(forgets)")
            let other = runs.filter { !$0.contains(" forget") && !$0.contains(" snapshots") }
            #expect(other.isEmpty, "a refresh is one snapshots run (no stats, no cat config, no list locks): \(runs)")
        }
    }
}
