import Foundation
import KubeController
import Restic

/// One `restic snapshots` listing per repository serves many lookups.
///
/// Every restic run pays for opening the repository (restic's scrypt key derivation, 0.15 to
/// 0.5 s of CPU depending on the key), so a burst of Snapshots (a thousand static Snapshots applied at once, a BackupSession
/// over many repositories, a mass deletion) must not cost one run each. Lookups share listings:
///
/// - `find(id:)` (adoption): a listing that started at most `maxAge` ago answers a *hit*; a miss
///   is only believed from a listing that started after the lookup did (a snapshot made a moment
///   ago is not missed).
/// - `snapshots(tagged:)` (has this Snapshot's data been made already? which ids are its data?)
///   is only answered from a listing that started after the call (or after `since`): it
///   decides about copies and deletions.
/// - At most one listing per repository runs at a time; callers that need a newer one than the
///   running one wait for it to end and share the next.
/// - This process's own removals (`invalidate`) drop the listing, so a forgotten id is not found
///   again. A snapshot removed by hand outside kubesnap can still be found for up to `maxAge`.
/// - `lookUp` asks `find` or `snapshots(tagged:)` for a reconcile that must not wait: a worker
///   waiting for one repository's listing held back every other repository's Snapshots (4
///   workers adopting into 10 repositories listed them in three waves, one after another).
actor SnapshotCatalog {
    /// A question `lookUp` answers.
    enum Question: Sendable {
        /// `find(id:in:)`: the snapshot with this full id or unique prefix.
        case id(String)
        /// `snapshots(tagged:in:since:)`: the snapshots carrying this tag.
        case tagged(String, since: ContinuousClock.Instant)
    }

    /// What `lookUp` can say now.
    enum Lookup: Sendable {
        /// The answer: for `.id` the snapshot, or none if the repository holds none; for
        /// `.tagged` the snapshots carrying the tag, oldest first.
        case found([SnapshotInfo])
        case failed(any Error)
        /// Being looked up; the caller's key is reported on `completions` when answered.
        case pending
    }

    private struct PendingLookup {
        /// Location and question asked: an answer to another question is not handed out.
        var question: String
        var answer: Result<[SnapshotInfo], any Error>?
        var answeredAt: ContinuousClock.Instant?
    }

    let maxAge: Duration
    /// Kept for `maxAge` (nothing is answered from an older listing; a large repository's
    /// listing is megabytes, and every Repository refresh makes one).
    private let listings: FreshFetches<SnapshotListing>
    private var lookups: [String: PendingLookup] = [:]
    /// Keys whose `lookUp` has an answer to take.
    nonisolated let completions: AsyncStream<ObjectKey>
    private let completionsContinuation: AsyncStream<ObjectKey>.Continuation

    init(maxAge: Duration = .seconds(60)) {
        self.maxAge = maxAge
        listings = FreshFetches(retention: maxAge)
        (completions, completionsContinuation) = AsyncStream.makeStream(of: ObjectKey.self)
    }

    /// `question` answered without waiting. A listing at hand answers at once (for `.id` a
    /// hit from a recent one, for `.tagged` one begun after `since`); otherwise the lookup runs
    /// in the background (sharing listings as `find` and `snapshots(tagged:)` do) and `key` is
    /// reported on `completions` when it is answered; asking the same again for `uid` then takes
    /// the answer (once, if it is not older than `maxAge`).
    func lookUp(_ question: Question, in repository: ResticRepository, uid: String, key: ObjectKey) async -> Lookup {
        let location = repository.location
        let asked: String
        switch question {
        case .id(let id): asked = "\(location) id \(id)"
        case .tagged(let tag, let since): asked = "\(location) tag \(tag) since \(since)"
        }
        if let pending = lookups[uid], pending.question == asked {
            guard let answer = pending.answer, let answeredAt = pending.answeredAt else { return .pending }
            lookups[uid] = nil
            // An answer not taken for long (the Snapshot waited for something else) is asked again.
            if answeredAt >= .now - maxAge {
                switch answer {
                case .success(let found): return .found(found)
                case .failure(let error): return .failed(error)
                }
            }
        }
        do {
            switch question {
            case .id(let id):
                if let hit = try await recentHit(id, at: location, asked: .now) { return .found([hit]) }
            case .tagged(let tag, let since):
                if let listing = await listings.newest(location), listing.started >= since {
                    return .found(listing.value.snapshots.filter { $0.tags.contains(tag) })
                }
            }
        } catch {
            return .failed(error)
        }
        lookups[uid] = PendingLookup(question: asked)
        Task {
            let answer: Result<[SnapshotInfo], any Error>
            do {
                switch question {
                case .id(let id): answer = .success(try await self.find(id: id, in: repository).map { [$0] } ?? [])
                case .tagged(let tag, let since): answer = .success(try await self.snapshots(tagged: tag, in: repository, since: since))
                }
            } catch {
                answer = .failure(error)
            }
            self.answered(uid: uid, question: asked, answer, key: key)
        }
        return .pending
    }

    /// Drops what `lookUp` holds for `uid` (its Snapshot is going away).
    func dropLookup(uid: String) {
        lookups[uid] = nil
    }

    /// Ends `completions`.
    nonisolated func finish() { completionsContinuation.finish() }

    private func answered(uid: String, question: String, _ answer: Result<[SnapshotInfo], any Error>, key: ObjectKey) {
        guard lookups[uid]?.question == question else { return }  // dropped or asked anew meanwhile
        lookups[uid]?.answer = answer
        lookups[uid]?.answeredAt = .now
        completionsContinuation.yield(key)
    }

    /// The snapshot with this full id or unique prefix; nil if the repository holds none.
    /// Throws `ResticError.invalidArgument` for a prefix that matches several.
    func find(id: String, in repository: ResticRepository) async throws -> SnapshotInfo? {
        let asked = ContinuousClock.now
        let location = repository.location
        if let hit = try await recentHit(id, at: location, asked: asked) { return hit }
        // A listing already running answers hits too (one listing for a burst of adoptions).
        try await listings.awaitRunning(location)
        if let hit = try await recentHit(id, at: location, asked: asked) { return hit }
        return try await fresh(repository, since: asked).match(id)
    }

    /// Snapshots carrying `tag`, oldest first, from a listing that started after `since` (by
    /// default: after this call began).
    func snapshots(
        tagged tag: String, in repository: ResticRepository, since: ContinuousClock.Instant = .now
    ) async throws -> [SnapshotInfo] {
        try await listing(of: repository, since: since).filter { $0.tags.contains(tag) }
    }

    /// Every snapshot of the repository, from a listing that started after `since` (by default:
    /// after this call began). The Repository's refresh counts its snapshots from this listing,
    /// so the adoptions that follow a refresh are answered from it without a restic run of
    /// their own.
    func listing(of repository: ResticRepository, since: ContinuousClock.Instant = .now) async throws -> [SnapshotInfo] {
        try await fresh(repository, since: since).snapshots
    }

    private func fresh(_ repository: ResticRepository, since: ContinuousClock.Instant) async throws -> SnapshotListing {
        try await listings.value(for: repository.location, startedAfter: since) {
            SnapshotListing(try await repository.snapshots())
        }.value
    }

    /// Forgets what is known of `location` (after this process removed snapshots there).
    func invalidate(_ location: String) async {
        await listings.forget(location)
    }

    /// restic listings made, for tests and metrics.
    var listingCount: Int { get async { await listings.fetches } }

    private func recentHit(_ id: String, at location: String, asked: ContinuousClock.Instant) async throws -> SnapshotInfo? {
        guard let listing = await listings.newest(location), listing.started >= asked - maxAge else { return nil }
        return try listing.value.match(id)
    }
}
