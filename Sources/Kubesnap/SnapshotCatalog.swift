import Foundation
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
actor SnapshotCatalog {
    let maxAge: Duration
    private let listings = FreshFetches<[SnapshotInfo]>()

    init(maxAge: Duration = .seconds(60)) {
        self.maxAge = maxAge
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
        let fresh = try await listings.value(for: location, startedAfter: asked) { try await repository.snapshots() }
        return try Self.match(id, in: fresh.value)
    }

    /// Snapshots carrying `tag`, oldest first, from a listing that started after `since` (by
    /// default: after this call began).
    func snapshots(
        tagged tag: String, in repository: ResticRepository, since: ContinuousClock.Instant = .now
    ) async throws -> [SnapshotInfo] {
        let fresh = try await listings.value(for: repository.location, startedAfter: since) {
            try await repository.snapshots()
        }
        return fresh.value.filter { $0.tags.contains(tag) }
    }

    /// Forgets what is known of `location` (after this process removed snapshots there).
    func invalidate(_ location: String) async {
        await listings.forget(location)
    }

    /// restic listings made, for tests and metrics.
    var listingCount: Int { get async { await listings.fetches } }

    private func recentHit(_ id: String, at location: String, asked: ContinuousClock.Instant) async throws -> SnapshotInfo? {
        guard let listing = await listings.newest(location), listing.started >= asked - maxAge else { return nil }
        return try Self.match(id, in: listing.value)
    }

    private static func match(_ id: String, in snapshots: [SnapshotInfo]) throws -> SnapshotInfo? {
        let matches = snapshots.filter { $0.id.hasPrefix(id) }
        if matches.count > 1 {
            throw ResticError.invalidArgument("snapshot id prefix \"\(id)\" matches more than one snapshot")
        }
        return matches.first
    }
}
