import KubeController
import KubeJSON

/// Restic snapshot ids (`location#id`) claimed by an adoption in this process. A claim covers the
/// moment between an adoption's decision and its status reaching the informer's cache (from then
/// on the cache's index shows the holder); it is dropped when its holder is deleted, and taken
/// over when its holder is gone.
final class AdoptionClaims: Sendable {
    struct Holder: Sendable, Equatable {
        var uid: String
        var key: ObjectKey
    }

    private let claims = Locked<[String: Holder]>([:])

    /// Claims `id` for the Snapshot `uid` at `key`, or returns the other Snapshot that holds it
    /// (`isLive` says whether a holder still exists and is not being deleted). Called with the
    /// claims' lock held: `isLive` must not claim.
    func claim(_ id: String, uid: String, key: ObjectKey, isLive: (Holder) -> Bool) -> Holder? {
        claims.withLock { claims in
            if let holder = claims[id], holder.uid != uid, isLive(holder) { return holder }
            claims[id] = Holder(uid: uid, key: key)
            return nil
        }
    }

    /// Drops the claim on `id` if `uid` holds it.
    func release(_ id: String, uid: String) {
        claims.withLock { claims in
            if claims[id]?.uid == uid { claims[id] = nil }
        }
    }

    /// How many ids are claimed.
    var count: Int { claims.withLock { $0.count } }
}
