import Foundation
import Restic

/// One `restic snapshots` listing per repository serves many lookups.
///
/// Every restic run pays for opening the repository (restic's scrypt key derivation, ~0.35 s of
/// CPU), so a burst of Snapshots (a thousand static Snapshots applied at once, a BackupSession
/// over many repositories, a mass deletion) must not cost one run each. Lookups share listings:
///
/// - `find(id:)` (adoption): a listing that started at most `maxAge` ago answers a *hit*; a miss
///   is only believed from a listing that started after the lookup did (a snapshot made a moment
///   ago is not missed).
/// - `snapshots(tagged:)` (has this Snapshot's data been made already? which ids are its data?)
///   is only answered from a listing that started after the call: it decides about copies and
///   deletions.
/// - At most one listing per repository runs at a time; callers that need a newer one than the
///   running one wait for it to end and share the next.
/// - This process's own removals (`invalidate`) drop the listing, so a forgotten id is not found
///   again. A snapshot removed by hand outside kubesnap can still be found for up to `maxAge`.
actor SnapshotCatalog {
    struct Listing: Sendable {
        let started: ContinuousClock.Instant
        let snapshots: [SnapshotInfo]
    }

    private struct Fetch {
        let started: ContinuousClock.Instant
        let task: Task<[SnapshotInfo], any Error>
    }

    let maxAge: Duration
    private var latest: [String: Listing] = [:]
    private var running: [String: Fetch] = [:]
    /// When this process last removed snapshots at a location: older listings are not kept.
    private var invalidated: [String: ContinuousClock.Instant] = [:]
    /// restic listings made, for tests and metrics.
    private(set) var listings = 0

    init(maxAge: Duration = .seconds(60)) {
        self.maxAge = maxAge
    }

    /// The snapshot with this full id or unique prefix; nil if the repository holds none.
    /// Throws `ResticError.invalidArgument` for a prefix that matches several.
    func find(id: String, in repository: ResticRepository) async throws -> SnapshotInfo? {
        let asked = ContinuousClock.now
        if let hit = try recentHit(id, at: repository.location, asked: asked) { return hit }
        // A listing already running answers hits too (one listing for a burst of adoptions).
        if let fetch = running[repository.location] {
            _ = try await finish(fetch, at: repository.location)
            if let hit = try recentHit(id, at: repository.location, asked: asked) { return hit }
        }
        let fresh = try await listing(startedAfter: asked, of: repository)
        return try Self.match(id, in: fresh.snapshots)
    }

    /// Snapshots carrying `tag`, oldest first, from a listing made after this call began.
    func snapshots(tagged tag: String, in repository: ResticRepository) async throws -> [SnapshotInfo] {
        let fresh = try await listing(startedAfter: ContinuousClock.now, of: repository)
        return fresh.snapshots.filter { $0.tags.contains(tag) }
    }

    /// Forgets what is known of `location` (after this process removed snapshots there).
    func invalidate(_ location: String) {
        latest[location] = nil
        invalidated[location] = ContinuousClock.now
    }

    private func listing(startedAfter asked: ContinuousClock.Instant, of repository: ResticRepository) async throws
        -> Listing
    {
        let location = repository.location
        while true {
            if let listing = latest[location], listing.started >= asked { return listing }
            if let fetch = running[location] {
                let listing = try await finish(fetch, at: location)
                if listing.started >= asked { return listing }
                continue  // that listing began before this call: wait for (or start) the next one
            }
            listings += 1
            let started = ContinuousClock.now
            running[location] = Fetch(started: started, task: Task { try await repository.snapshots() })
        }
    }

    /// Waits for a running listing and keeps its result.
    private func finish(_ fetch: Fetch, at location: String) async throws -> Listing {
        let snapshots: [SnapshotInfo]
        do {
            snapshots = try await fetch.task.value
        } catch {
            if running[location]?.started == fetch.started { running[location] = nil }
            throw error
        }
        if running[location]?.started == fetch.started { running[location] = nil }
        let listing = Listing(started: fetch.started, snapshots: snapshots)
        store(listing, for: location)
        return listing
    }

    private func recentHit(_ id: String, at location: String, asked: ContinuousClock.Instant) throws -> SnapshotInfo? {
        guard let listing = latest[location], listing.started >= asked - maxAge else { return nil }
        return try Self.match(id, in: listing.snapshots)
    }

    private func store(_ listing: Listing, for location: String) {
        if let current = latest[location], current.started >= listing.started { return }
        if let invalidated = invalidated[location], listing.started < invalidated { return }
        latest[location] = listing
    }

    private static func match(_ id: String, in snapshots: [SnapshotInfo]) throws -> SnapshotInfo? {
        let matches = snapshots.filter { $0.id.hasPrefix(id) }
        if matches.count > 1 {
            throw ResticError.invalidArgument("snapshot id prefix \"\(id)\" matches more than one snapshot")
        }
        return matches.first
    }
}
