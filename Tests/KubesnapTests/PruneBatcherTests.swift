import Foundation
import KubeController
import KubeJSON
import KubeTestSupport
import Restic
import Testing

@testable import Kubesnap

@Suite("Prune batches")
struct PruneBatcherTests {
    /// A local repository with `count` snapshots of one small file (each its own pack).
    static func repository(in directory: TemporaryDirectory, count: Int) async throws -> (ResticRepository, [String]) {
        let repository = try ResticRepository(
            backend: .local(path: directory.appending("repo")), password: "batch-pass",
            cacheDirectory: directory.appending("cache"))
        try await repository.initialize()
        let source = directory.appending("source")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var ids: [String] = []
        for index in 0..<count {
            try "version \(index)\n".write(toFile: source + "/file.txt", atomically: true, encoding: .utf8)
            ids.append(try await repository.backup(path: source).snapshotID)
        }
        return (repository, ids)
    }

    /// A real restic holding a shared lock on the repository in `directory`, once its lock file exists.
    static func holdLock(in directory: TemporaryDirectory) async throws -> LockHoldingRestic {
        let holder = try LockHoldingRestic(
            repository: directory.appending("repo"), password: "batch-pass", cacheDirectory: directory.appending("cache2"),
            home: directory.path)
        do {
            _ = try await waitFor("the other restic's lock") {
                let locks = lockFiles(directory.appending("repo"))
                return locks.count == 1 ? .done(locks[0]) : .notYet("locks: \(locks)")
            }
        } catch {
            holder.interrupt()
            throw error
        }
        return holder
    }

    @Test("Deletions within a batch share one forget and one Repository refresh; one prune follows, written down until it ran")
    func oneForgetAndOneRefreshPerBatch() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-batcher")
        defer { directory.remove() }
        let (repository, ids) = try await Self.repository(in: directory, count: 4)
        let packsBefore = try FileManager.default.subpathsOfDirectory(atPath: directory.appending("repo/data")).count

        let refreshed = Locked<[ObjectKey]>([])
        let records = Locked<[PruneBatcher.PruneRecord]>([])
        let batcher = PruneBatcher(
            window: .seconds(10), quiet: .milliseconds(200), pruneDelay: .milliseconds(300), gate: RepositoryGate(),
            catalog: SnapshotCatalog(), refreshRepository: { key in refreshed.withLock { $0.append(key) } },
            recordPrune: { _, record in records.withLock { $0.append(record) } })
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
        // Forgotten before the finalizers go, and the owed prune written down before that.
        let left = try await repository.snapshots().map(\.id)
        #expect(left == [ids[3]], "only the batch's data is gone")
        let owed = records.withLock { $0 }
        guard case .owed(let token) = owed.first, owed.count <= 2 else {
            Issue.record("no owed prune recorded before the completions: \(owed)")
            return
        }

        // The prune follows, once; it is written down as paid with the same token.
        try await waitUntil("the prune after the batch", timeout: .seconds(60)) {
            let seen = records.withLock { $0 }
            return (seen.contains(.paid(token: token)), "records: \(seen)")
        }
        #expect(records.withLock { $0 } == [.owed(token: token), .paid(token: token)])
        #expect(await batcher.pruneCalls == 1)
        #expect(await !batcher.isPruneOwed(repository.location))
        #expect(refreshed.withLock { $0 } == [repositoryKey, repositoryKey], "one refresh for the batch, one for its prune")
        let packsAfter = try FileManager.default.subpathsOfDirectory(atPath: directory.appending("repo/data")).count
        #expect(packsAfter < packsBefore, "the prune reclaimed no pack (\(packsBefore) -> \(packsAfter))")
        #expect(try await repository.check(readData: true) == .ok)
    }

    @Test("With the master key held, a batch is forgotten at once and later ones join the prune already written down; after a forget that went to restic, batches wait for quiet again")
    func eagerWithTheKeyHeld() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-batcher")
        defer { directory.remove() }
        let (repository, ids) = try await Self.repository(in: directory, count: 4)
        #expect(await repository.prepareForgetWithoutRestic())
        let records = Locked<[PruneBatcher.PruneRecord]>([])
        // Ten minutes of quiet and window: a batch that waited for them would not end in this test.
        let batcher = PruneBatcher(
            window: .seconds(600), quiet: .seconds(600), pruneDelay: .seconds(600), gate: RepositoryGate(),
            catalog: SnapshotCatalog(), refreshRepository: { _ in },
            recordPrune: { _, record in records.withLock { $0.append(record) } })
        let runner = Task { await batcher.run() }
        defer {
            batcher.finish()
            runner.cancel()
        }
        let completed = Locked<[ObjectKey]>([])
        let listener = Task { for await key in batcher.completions { completed.withLock { $0.append(key) } } }
        defer { listener.cancel() }
        let repositoryKey = ObjectKey(namespace: "team", name: "repo")
        let keys = (0..<3).map { ObjectKey(namespace: "team", name: "snap-\($0)") }

        await batcher.submit(ids: [ids[0]], uid: "uid-0", key: keys[0], repositoryKey: repositoryKey, in: repository)
        try await waitUntil("the first deletion forgotten without waiting for quiet", timeout: .seconds(60)) {
            let done = completed.withLock { $0 }
            return (done == [keys[0]], "completed: \(done)")
        }
        for index in 1..<3 {
            await batcher.submit(
                ids: [ids[index]], uid: "uid-\(index)", key: keys[index], repositoryKey: repositoryKey, in: repository)
        }
        try await waitUntil("the later deletions forgotten", timeout: .seconds(60)) {
            let done = completed.withLock { $0 }
            return (Set(done) == Set(keys), "completed: \(done)")
        }
        #expect(await batcher.forgetCalls >= 2)
        #expect(try await repository.snapshots().map(\.id) == [ids[3]])
        // One record for all: the prune owed since the first batch covers the later ones.
        let written = records.withLock { $0 }
        #expect(written.count == 1, "records: \(written)")
        guard case .owed = written.first else {
            Issue.record("no owed prune recorded: \(written)")
            return
        }
        #expect(await batcher.isPruneOwed(repository.location))
        // Neither restic forget nor a lock is left: the repository is as restic wants it.
        #expect(lockFiles(directory.appending("repo")).isEmpty)
        #expect(await batcher.forgetsAtOnce(repository))

        // Another restic's lock sends a forget to restic (which fails on it): the batches that
        // follow wait for quiet again, rather than run restic once per deletion.
        let holder = try await Self.holdLock(in: directory)
        defer { holder.interrupt() }
        let blocked = ObjectKey(namespace: "team", name: "snap-3")
        await batcher.submit(ids: [ids[3]], uid: "uid-3", key: blocked, repositoryKey: repositoryKey, in: repository)
        try await waitUntil("the blocked deletion's outcome", timeout: .seconds(60)) {
            let done = completed.withLock { $0 }
            return (done.contains(blocked), "completed: \(done)")
        }
        guard case .finished(.failure) = await batcher.progress(uid: "uid-3") else {
            Issue.record("a forget under another restic's lock did not fail")
            return
        }
        #expect(await !batcher.forgetsAtOnce(repository))
    }

    @Test("A prune that fails is said, stays owed and is tried again")
    func failedPruneIsRetried() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-batcher")
        defer { directory.remove() }
        let (repository, ids) = try await Self.repository(in: directory, count: 2)
        let records = Locked<[PruneBatcher.PruneRecord]>([])
        let batcher = PruneBatcher(
            window: .seconds(10), quiet: .milliseconds(100), pruneDelay: .milliseconds(100),
            pruneRetry: .milliseconds(500), gate: RepositoryGate(), catalog: SnapshotCatalog(),
            refreshRepository: { _ in }, recordPrune: { _, record in records.withLock { $0.append(record) } })
        let runner = Task { await batcher.run() }
        defer {
            batcher.finish()
            runner.cancel()
        }
        // A live lock of another restic (a backup waiting for its input) makes restic prune fail.
        let holder = try await Self.holdLock(in: directory)
        defer { holder.interrupt() }
        let repositoryKey = ObjectKey(namespace: "team", name: "repo")
        await batcher.owePrune(repository, repositoryKey: repositoryKey, token: "earlier")

        let failure: String = try await waitFor("a failed prune said", timeout: .seconds(60)) {
            let seen = records.withLock { $0 }
            for record in seen { if case .failed(let message) = record { return .done(message) } }
            return .notYet("records: \(seen)")
        }
        #expect(failure.contains("locked"), "\(failure)")
        #expect(!failure.contains("batch-pass"))
        #expect(await batcher.isPruneOwed(repository.location))
        #expect(!records.withLock { $0 }.contains(.paid(token: "earlier")))

        // The other restic ends (removing its lock); the next try succeeds and pays what was owed.
        holder.interrupt()
        try await waitUntil("the retried prune", timeout: .seconds(60)) {
            let seen = records.withLock { $0 }
            return (seen.contains(.paid(token: "earlier")), "records: \(seen)")
        }
        #expect(await !batcher.isPruneOwed(repository.location))
        #expect(try await repository.snapshots().map(\.id) == ids)
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
    @Test("A deletecollection of adopted Snapshots is forgotten without restic, then shares one prune; the owed prune is on the Repository until it ran")
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

            // The forget ran without restic (a local repository); its batch's refresh is one
            // `restic snapshots` (the size comes from the backend's file listing).
            try await waitUntil("the Repository's refresh after the batch", timeout: .seconds(60)) {
                let runs = Array(wrapper.runs().dropFirst(marker))
                return (runs.contains { $0.contains(" snapshots") }, "runs \(runs)")
            }
            // Then one prune (a loaded machine may split a burst into two or three batches; they
            // share it when they come within the prune delay), and the annotation goes.
            try await waitUntil("a prune, and the Repository's prune-pending annotation gone", timeout: .seconds(60)) {
                let runs = Array(wrapper.runs().dropFirst(marker))
                let repository = try await h.client.get(Harness.repositories, namespace: ns, name: "repo")
                let pending = repository["metadata"]["annotations"]["kubesnap.io/prune-pending"]
                return (runs.contains { $0.contains(" prune") } && pending.isNull, "runs \(runs); annotation \(pending)")
            }
            let runs = Array(wrapper.runs().dropFirst(marker))
            #expect(!runs.contains { $0.contains(" forget") }, "restic runs after the deletecollection: \(runs)")
            let prunes = runs.filter { $0.contains(" prune") }
            #expect(prunes.count >= 1 && prunes.count <= 3, "restic runs after the deletecollection: \(runs)")
            // (The master key is read once, when the Repository was first Ready.)
            #expect(runs.filter { $0.contains(" cat masterkey") }.count <= 1, "\(runs)")
            let other = runs.filter { !$0.contains(" prune") && !$0.contains(" snapshots") && !$0.contains(" cat masterkey") }
            #expect(other.isEmpty, "a refresh is one snapshots run (no stats, no cat config, no list locks): \(runs)")
            let check = try await h.restic(["-r", path, "check", "--read-data"], password: "mass-pass")
            #expect(check.succeeded, "restic check --read-data after the prune: \(check)")
        }
    }
}

@Suite("Owed prunes")
struct OwedPruneTests {
    static let annotation = "kubesnap.io/prune-pending"

    /// Data no snapshot references any more: a backup of random bytes, forgotten without a prune
    /// (as kubesnap leaves a batch). Returns the repository's bytes on disk with it.
    static func unreferencedData(_ h: Harness, path: String, password: String) async throws -> Int64 {
        let random = (0..<300_000).map { _ in Character(UnicodeScalar(UInt8.random(in: 97...122))) }
        let source = try h.makeSource("unreferenced", files: ["random": String(random)])
        let made = try await h.restic(["-r", path, "backup", "--json", h.sourceRoot + "/" + source], password: password)
        #expect(made.succeeded, "\(made)")
        let ids = try await h.resticSnapshots(repository: path, password: password).compactMap { $0["id"].stringValue }
        let forgot = try await h.restic(["-r", path, "forget", "--"] + ids, password: password)
        #expect(forgot.succeeded, "\(forgot)")
        return try await h.bytesOnDisk(path)
    }

    static func annotate(_ h: Harness, _ ns: String, _ name: String, _ value: String) async throws {
        _ = try await h.client.patch(
            Harness.repositories, namespace: ns, name: name, type: .merge,
            ["metadata": ["annotations": [annotation: .string(value)]]])
    }

    @Test("A prune an earlier operator left owed (kubesnap.io/prune-pending) runs at start, and the annotation goes")
    func owedPruneRunsAfterARestart() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default", password = "owed-pass"
            let path = h.repositoryRoot + "/owed"
            try await h.readyRepository(ns, "repo", path: "owed", password: password)
            let withGarbage = try await Self.unreferencedData(h, path: path, password: password)
            // What an operator that stopped between a batch and its prune leaves behind.
            await h.runner.stop()
            try await Self.annotate(h, ns, "repo", "2026-11-23T10:00:00.000Z/earlier")
            let marker = wrapper.runs().count
            h.runner.start()

            try await waitUntil("the owed prune, and the annotation gone", timeout: .seconds(60)) {
                let runs = Array(wrapper.runs().dropFirst(marker))
                let repository = try await h.get(Harness.repositories, ns, "repo")
                let pending = repository?["metadata"]["annotations"][Self.annotation] ?? .null
                return (runs.contains { $0.contains(" prune") } && pending.isNull, "runs \(runs); annotation \(pending)")
            }
            let after = try await h.bytesOnDisk(path)
            #expect(after < withGarbage / 2, "the prune reclaimed \(withGarbage) -> \(after)")
            let check = try await h.restic(["-r", path, "check", "--read-data"], password: password)
            #expect(check.succeeded, "\(check)")
        }
    }

    @Test("A Repository deleted with Retain while a prune is owed reclaims that space first, and keeps the rest")
    func retainReclaimsOwedSpace() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default", password = "retain-pass"
            let path = h.repositoryRoot + "/kept"
            try await h.createSecret(ns, "pw", password: password)
            try await h.createRepository(ns, "repo", path: "kept", secret: "pw", deletionPolicy: "Retain")
            try await h.waitForPhase(Harness.repositories, ns, "repo", "Ready")
            _ = try await Self.unreferencedData(h, path: path, password: password)
            // One snapshot the Repository's Retain keeps.
            let source = try h.makeSource("kept-source", files: ["file.txt": "kept"])
            let kept = try await h.restic(["-r", path, "backup", h.sourceRoot + "/" + source], password: password)
            #expect(kept.succeeded, "\(kept)")
            let withGarbage = try await h.bytesOnDisk(path)
            try await Self.annotate(h, ns, "repo", "2026-11-23T10:00:00.000Z/owed")
            let marker = wrapper.runs().count

            _ = try await h.client.delete(Harness.repositories, namespace: ns, name: "repo")
            try await h.waitForGone(Harness.repositories, ns, "repo")
            let runs = Array(wrapper.runs().dropFirst(marker))
            #expect(runs.filter { $0.contains(" prune") }.count == 1, "restic runs: \(runs)")
            let after = try await h.bytesOnDisk(path)
            #expect(after < withGarbage / 2, "the prune reclaimed \(withGarbage) -> \(after)")
            // Retain: the repository and its one snapshot stay.
            #expect(try await h.resticSnapshots(repository: path, password: password).count == 1)
            let reasons = try await h.eventReasons(ns, about: "repo")
            #expect(!reasons.contains("PruneFailed"), "\(reasons)")
        }
    }
}
