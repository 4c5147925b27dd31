import Foundation
import KubeController
import KubeJSON
import Logging
import Restic

/// Batches the data removal of deleted Snapshots per repository: deletions that arrive together
/// share one forget of all their ids, and the space they held is reclaimed by one `restic prune`
/// a while later (`pruneDelay`), shared by every forget of that time (API.md: a prune "may be
/// batched per repository").
///
/// The forget is done without restic where it can be (`ResticRepository.forgetWithoutRestic`:
/// a local repository whose master key this process holds), in milliseconds: then a batch is
/// forgotten as soon as the previous one is done, and the deletions that arrived meanwhile make
/// the next, so that early finalizers go while later deletions still arrive. A forget through
/// restic costs about half a second of its key derivation and lock wait, so there a batch waits
/// until its burst of deletions is over: until nothing joined it for a few times the burst's own
/// pace (`quietPeriod`), between `minimumQuiet` and `quiet`, and at most `window`. A
/// deletecollection arrives a Snapshot every fraction of a millisecond and its batch runs 50 ms
/// after the last; `kubectl delete` run once per object arrives every 100 ms or more and waits
/// the full `quiet`, so that such a loop still shares a forget. One batch of a repository runs
/// at a time.
///
/// Either way the Snapshots' finalizers go once their snapshots are forgotten; the prune
/// (minutes of backend reads on a large repository) does not hold them Terminating. The owed
/// prune is written down before any of them goes: the annotation `kubesnap.io/prune-pending`
/// on each Repository of the batch, whose value names the first batch it covers. A prune that
/// succeeds removes it; an operator that stops first finds it on its next start (the Repository
/// reconciler hands it back through `owePrune`), so that the data of a deleted Snapshot never
/// outlives it for good.
///
/// A submission does not hold the reconcile worker that made it: the deletion's reconcile
/// returns at once (keeping its finalizer), and when the batch is done the Snapshot's key is
/// reported on `completions`, so that its next reconcile takes the outcome and releases the
/// finalizer. A batch can so gather every deletion of the window, however few workers there are.
actor PruneBatcher {
    /// Where a Snapshot's data removal stands.
    enum Progress: Sendable {
        /// Nothing submitted for it (or its outcome was taken already).
        case none
        /// Waiting for its batch.
        case pending
        /// Its batch ran; the outcome is handed out once.
        case finished(Result<Void, any Error>)
    }

    /// What `recordPrune` writes down on a Repository.
    enum PruneRecord: Sendable, Equatable {
        /// Snapshots were forgotten (first by the batch this token names); their space is still
        /// to be reclaimed.
        case owed(token: String)
        /// The prune that covers the batches since the one with this token succeeded.
        case paid(token: String)
        /// A prune failed (it is retried; the annotation stays): for a Warning Event.
        case failed(message: String)
    }

    private struct Batch {
        var repository: ResticRepository
        var opened = ContinuousClock.now
        var lastSubmission = ContinuousClock.now
        /// Submissions that joined (Snapshots), for the burst's pace.
        var submissions = 0
        var ids: [String] = []
        /// Snapshot UID → key, to report on `completions`.
        var snapshots: [String: ObjectKey] = [:]
        /// The Repository objects whose data the batch removes: each is re-read once after it.
        var repositories: Set<ObjectKey> = []
    }

    /// A prune a repository is owed.
    private struct OwedPrune {
        var repository: ResticRepository
        var repositories: Set<ObjectKey>
        /// What the annotation says.
        var token: String
        var due: ContinuousClock.Instant
        /// Waiting for the repository or pruning: every forget done before it has the repository
        /// is covered by it.
        var running = false
        var failures = 0
    }

    private let window: Duration
    /// A batch forgotten through restic runs at the latest once no deletion joined it for this
    /// long (or at `window`) ...
    private let quiet: Duration
    /// ... and at the earliest once none joined it for this long.
    private let minimumQuiet: Duration
    /// A prune runs once no batch of its repository was forgotten for this long.
    private let pruneDelay: Duration
    /// A failed prune is tried again after this, doubling, at most 20 times as long.
    private let pruneRetry: Duration
    private let gate: RepositoryGate
    private let catalog: SnapshotCatalog
    private let refreshRepository: @Sendable (ObjectKey) -> Void
    private let recordPrune: @Sendable (ObjectKey, PruneRecord) async throws -> Void
    private let logger = Logger(label: "kubesnap.prune")
    private var batches: [String: Batch] = [:]
    private var pending: Set<String> = []
    private var outcomes: [String: Result<Void, any Error>] = [:]
    private var owed: [String: OwedPrune] = [:]
    /// Locations with a task that forgets their batches, one after another.
    private var forgetting: Set<String> = []
    /// Locations with a task that runs their owed prune.
    private var pruning: Set<String> = []
    /// Tokens of prunes this process ran (the latest few).
    private var paidTokens: [String] = []
    /// Locations whose last forget had to go to restic (another lock stood): their batches wait
    /// for quiet again, so that a long-held lock does not cost a restic run per deletion.
    private var forgottenByRestic: Set<String> = []
    private let work: AsyncStream<Work>
    private let workContinuation: AsyncStream<Work>.Continuation
    /// Keys of Snapshots whose batch finished.
    nonisolated let completions: AsyncStream<ObjectKey>
    private let completionsContinuation: AsyncStream<ObjectKey>.Continuation
    /// Batches forgotten, for tests and metrics.
    private(set) var forgetCalls = 0
    /// Prunes run (successful or not), for tests and metrics.
    private(set) var pruneCalls = 0

    private enum Work: Sendable {
        case forget(String)
        case prune(String)
    }

    /// `refreshRepository` is called once per batch and Repository, after the batch ran, and
    /// again after its prune. `recordPrune` writes the owed prune down (see above); a Repository
    /// that is gone needs no record and must not fail it.
    init(
        window: Duration, quiet: Duration = .milliseconds(300), minimumQuiet: Duration = .milliseconds(50),
        pruneDelay: Duration = .seconds(10), pruneRetry: Duration = .seconds(30),
        gate: RepositoryGate, catalog: SnapshotCatalog, refreshRepository: @escaping @Sendable (ObjectKey) -> Void,
        recordPrune: @escaping @Sendable (ObjectKey, PruneRecord) async throws -> Void
    ) {
        self.window = window
        self.quiet = min(quiet, window)
        self.minimumQuiet = min(minimumQuiet, self.quiet)
        self.pruneDelay = pruneDelay
        self.pruneRetry = pruneRetry
        self.gate = gate
        self.catalog = catalog
        self.refreshRepository = refreshRepository
        self.recordPrune = recordPrune
        (work, workContinuation) = AsyncStream.makeStream(of: Work.self)
        (completions, completionsContinuation) = AsyncStream.makeStream(of: ObjectKey.self)
    }

    /// The progress of Snapshot `uid`'s data removal; a finished outcome is taken (returned once).
    func progress(uid: String) -> Progress {
        if let outcome = outcomes.removeValue(forKey: uid) { return .finished(outcome) }
        return pending.contains(uid) ? .pending : .none
    }

    /// Queues `ids` (the data of Snapshot `uid`, `key`) for the next batch of `repository`, the
    /// backend of Repository object `repositoryKey`.
    func submit(ids: [String], uid: String, key: ObjectKey, repositoryKey: ObjectKey, in repository: ResticRepository) {
        guard !pending.contains(uid) else { return }
        pending.insert(uid)
        let location = repository.location
        var batch = batches.removeValue(forKey: location) ?? Batch(repository: repository)
        for id in ids where !batch.ids.contains(id) { batch.ids.append(id) }
        batch.snapshots[uid] = key
        batch.repositories.insert(repositoryKey)
        batch.submissions += 1
        batch.lastSubmission = ContinuousClock.now
        batches[location] = batch
        if forgetting.insert(location).inserted { workContinuation.yield(.forget(location)) }
    }

    /// Owes `repository` (of Repository object `repositoryKey`) a prune, `pruneDelay` from now,
    /// whose record says `token`. The Repository reconciler calls it for a
    /// `kubesnap.io/prune-pending` annotation it finds (left by an earlier process); a prune
    /// already owed here only gains the key.
    func owePrune(_ repository: ResticRepository, repositoryKey: ObjectKey, token: String) {
        // A cached Repository can still show the annotation a prune of this process removed.
        guard !paidTokens.contains(token) else { return }
        owePrune(repository, repositoryKeys: [repositoryKey], token: token)
    }

    private func owePrune(_ repository: ResticRepository, repositoryKeys: Set<ObjectKey>, token: String) {
        let location = repository.location
        if var entry = owed[location] {
            entry.repositories.formUnion(repositoryKeys)
            owed[location] = entry
        } else {
            owed[location] = OwedPrune(
                repository: repository, repositories: repositoryKeys, token: token, due: ContinuousClock.now + pruneDelay)
        }
        if pruning.insert(location).inserted { workContinuation.yield(.prune(location)) }
    }

    /// Whether this process ran the prune the record `token` names (its annotation is then
    /// owed nothing and may go).
    func hasPaid(_ token: String) -> Bool { paidTokens.contains(token) }

    /// Runs `repository`'s prune now (a Repository released with Retain, whose owed prune nobody
    /// would run later): what this process owed there is paid by it.
    func pruneNow(_ repository: ResticRepository) async throws {
        let location = repository.location
        try await gate.withAccess(location, exclusive: true) { try await repository.prune() }
        if let entry = owed[location], !entry.running {
            owed.removeValue(forKey: location)
            paidTokens.append(entry.token)
        }
    }

    /// Whether a prune is owed to the repository at `location` (for tests).
    func isPruneOwed(_ location: String) -> Bool { owed[location] != nil }

    /// Forgets each repository's batches and runs each owed prune when due, until cancelled. A
    /// child of the operator's task.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await item in work {
                switch item {
                case .forget(let location):
                    group.addTask {
                        while true {
                            switch await self.nextBatch(location) {
                            case .wait(let duration):
                                // Collecting more deletions; cancelled: the batch stays unforgotten
                                // (its Snapshots keep their finalizers).
                                do { try await Task.sleep(for: duration) } catch { return }
                            case .forget(let batch):
                                await self.forget(batch, at: location)
                            case .done:
                                return
                            }
                        }
                    }
                case .prune(let location):
                    group.addTask {
                        repeat {
                            while let wait = await self.timeUntilPruneDue(location) {
                                do { try await Task.sleep(for: wait) } catch { return }
                            }
                        } while await self.prune(location)
                    }
                }
            }
        }
    }

    private enum Next {
        case wait(Duration)
        case forget(Batch)
        case done
    }

    /// What the forgetting task of `location` does next: the batch is taken once it is due (at
    /// once where the forget needs no restic); with none left, the task ends.
    private func nextBatch(_ location: String) -> Next {
        guard let batch = batches[location] else {
            forgetting.remove(location)
            return .done
        }
        if !forgetsAtOnce(batch.repository) {
            let now = ContinuousClock.now
            let pause = Self.quietPeriod(
                submissions: batch.submissions, spanning: batch.lastSubmission - batch.opened,
                minimum: minimumQuiet, maximum: quiet)
            let due = min(batch.lastSubmission + pause, batch.opened + window)
            if due > now { return .wait(due - now) }
        }
        batches.removeValue(forKey: location)
        return .forget(batch)
    }

    /// Whether batches of `repository` are forgotten as soon as they can be (see above).
    func forgetsAtOnce(_ repository: ResticRepository) -> Bool {
        repository.holdsMasterKey && !forgottenByRestic.contains(repository.location)
    }

    /// How long the prune owed to `location` should still wait; nil when due or not owed.
    private func timeUntilPruneDue(_ location: String) -> Duration? {
        guard let entry = owed[location] else { return nil }
        let now = ContinuousClock.now
        return entry.due > now ? entry.due - now : nil
    }

    /// How long a batch waits after its last submission for more: 20 times the mean gap between
    /// its `submissions` (which arrived over `span`), within `minimum`...`maximum`, so that a
    /// client deleting one object at a time can stall for a while without splitting its batch.
    /// A single submission has no pace yet and waits `maximum`.
    static func quietPeriod(submissions: Int, spanning span: Duration, minimum: Duration, maximum: Duration) -> Duration {
        guard submissions >= 2 else { return maximum }
        let pace = span / (submissions - 1)
        return min(maximum, max(minimum, pace * 20))
    }

    /// Ends `run()` (no more batches or prunes start).
    nonisolated func finish() {
        workContinuation.finish()
        completionsContinuation.finish()
    }

    private func forget(_ batch: Batch, at location: String) async {
        forgetCalls += 1
        let ids = batch.ids
        var result: Result<Void, any Error>
        do {
            _ = try await gate.withAccess(location, exclusive: true) {
                let repository = batch.repository
                let forget = {
                    if try await repository.forgetWithoutRestic(ids: ids) == nil {
                        await self.noteForget(at: location, byRestic: true)
                        try await repository.forget(ids: ids)
                    } else {
                        await self.noteForget(at: location, byRestic: false)
                    }
                }
                do {
                    try await forget()
                } catch where FailureSummary(error, defaultReason: "").reason == FailureSummary.repositoryLocked {
                    // A lock left by a restic that died (a killed operator's, say) is cleared
                    // now, when its holder is provably gone (its PID is not running on this
                    // host, or it is older than restic's stale time): this process holds the
                    // repository exclusively, so no lock of its own can be among them. Then
                    // the forget is tried once more; a live lock keeps the deletion waiting.
                    guard case .removed = try await repository.removeStaleLocks() else { throw error }
                    try await forget()
                }
            }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        if case .success = result {
            // Written down before any finalizer goes (a crash before that submits them again).
            let (token, unrecorded) = owePrune(after: batch)
            do { try await Self.record(unrecorded, .owed(token: token), with: recordPrune) } catch {
                result = .failure(error)
            }
        }
        await catalog.invalidate(location)
        // The count changes once per batch, however many finalizers follow (a refresh per
        // released Snapshot cost a restic run every few seconds while they went).
        for repositoryKey in batch.repositories { refreshRepository(repositoryKey) }
        for (uid, key) in batch.snapshots {
            pending.remove(uid)
            outcomes[uid] = result
            completionsContinuation.yield(key)
        }
    }

    /// Makes a prune owed after `batch`: the one already owed covers it (it has not had the
    /// repository yet, and moves on to `pruneDelay` from now unless it is running), else a new
    /// one. Returns its token and the Repositories not yet recorded under it.
    private func owePrune(after batch: Batch) -> (token: String, unrecorded: Set<ObjectKey>) {
        let location = batch.repository.location
        if var entry = owed[location] {
            let unrecorded = batch.repositories.subtracting(entry.repositories)
            entry.repositories.formUnion(batch.repositories)
            if !entry.running { entry.due = max(entry.due, ContinuousClock.now + pruneDelay) }
            owed[location] = entry
            return (entry.token, unrecorded)
        }
        // Unique across batches and processes; its time says since when.
        let token = RFC3339.format(Date(), fractionalSeconds: true) + "/" + UUID().uuidString.prefix(8).lowercased()
        owePrune(batch.repository, repositoryKeys: batch.repositories, token: token)
        return (token, batch.repositories)
    }

    private func noteForget(at location: String, byRestic: Bool) {
        if byRestic { forgottenByRestic.insert(location) } else { forgottenByRestic.remove(location) }
    }

    private static func record(
        _ keys: Set<ObjectKey>, _ record: PruneRecord,
        with recordPrune: @Sendable (ObjectKey, PruneRecord) async throws -> Void
    ) async throws {
        for key in keys { try await recordPrune(key, record) }
    }

    /// Runs the prune owed to `location`. True when one is still owed afterwards (it failed and
    /// waits to be tried again); false ends its task.
    private func prune(_ location: String) async -> Bool {
        guard var entry = owed[location] else {
            pruning.remove(location)
            return false
        }
        entry.running = true
        owed[location] = entry
        pruneCalls += 1
        do {
            let repository = entry.repository
            try await gate.withAccess(location, exclusive: true) { try await repository.prune() }
            // Every forget before it is covered; one after it makes a new record.
            let covered = owed.removeValue(forKey: location) ?? entry
            paidTokens.append(covered.token)
            if paidTokens.count > 64 { paidTokens.removeFirst() }
            // A failed removal (the API server's 503, say) is not dropped: the refresh asked for
            // next reconciles each Repository, which finds the annotation naming a paid token
            // and removes it, retried with backoff until it is gone (RepositoryReconciler).
            do {
                try await Self.record(covered.repositories, .paid(token: covered.token), with: recordPrune)
            } catch {
                logger.info(
                    "the prune-pending annotation is removed by the Repository's next reconcile",
                    metadata: ["location": "\(location)", "error": "\(error)"])
            }
            for repositoryKey in covered.repositories { refreshRepository(repositoryKey) }
        } catch {
            if Task.isCancelled {
                pruning.remove(location)
                return false
            }
            // Tried again after `pruneRetry`, doubling; the annotation stays meanwhile.
            let message = "restic prune of \(location) failed (retried later): \(FailureSummary(error, defaultReason: "PruneFailed").message)"
            // A failure's record is a Warning Event, which cannot fail here (the recorder queues it).
            try? await Self.record(entry.repositories, .failed(message: message), with: recordPrune)
            if var current = owed[location] {
                current.running = false
                current.failures = entry.failures + 1
                let backoff = min(pruneRetry * 20, pruneRetry * (1 << min(current.failures - 1, 5)))
                current.due = max(current.due, ContinuousClock.now + backoff)
                owed[location] = current
            }
        }
        if owed[location] == nil { pruning.remove(location) }
        return owed[location] != nil
    }
}
