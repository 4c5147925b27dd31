import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI

/// The checks every kind's deletion makes before its data is touched, whatever its deletion
/// policy: `kubesnap.io/skip-data-deletion` releases the object without touching backend data,
/// and a namespace being deleted keeps every object's data (API.md: namespace deletion is Retain).
struct DeletionGuard: Sendable {
    let client: KubeClient
    /// nil when namespaces cannot be watched (then no namespace is taken for terminating).
    let namespaces: Store<Namespace>?
    /// Whether the namespaces cache is complete.
    let namespacesSynced: @Sendable () -> Bool
    let events: EventRecorder
    /// Live reads of Namespaces by deletions (see `namespaceIsTerminating`).
    let namespaceReads = FreshFetches<Bool>()
    /// When this process first saw each object's deletion (by UID); the controllers feed it.
    let deletionsSeen = DeletionsSeen()

    /// Whether `object`'s data (`what`: "the snapshot's data") must be kept whatever its
    /// policy; says why in an Event when so. Throws while unsure (see `namespaceIsTerminating`).
    func keepsData<Object: KubeResource>(of object: Object, what: String) async throws -> Bool {
        if object.metadata.annotations?[Kubesnap.Annotation.skipDataDeletion] == "true" {
            events.warning(
                object, reason: "DataDeletionSkipped",
                message: "\(Kubesnap.Annotation.skipDataDeletion) is \"true\": released without touching backend data")
            return true
        }
        let namespace = object.metadata.namespace ?? ""
        if try await namespaceIsTerminating(namespace, deleting: object.metadata.uid ?? "") {
            events.normal(
                object, reason: "Retained",
                message: "namespace \(namespace) is being deleted: \(what) is kept whatever the deletion policy")
            return true
        }
        return false
    }

    /// Whether the namespaces cache says `namespace` is being deleted (a "yes" is certain: a
    /// namespace never stops terminating; a "no" may be stale, so data decisions use
    /// `namespaceIsTerminating`).
    func namespaceTerminatingInCache(_ namespace: String) -> Bool {
        namespaces?.get(ObjectKey(namespace: nil, name: namespace))?.isTerminating == true
    }

    /// Whether `namespace` is being deleted (then every policy is Retain), for the deletion of
    /// the object `uid`. A "yes" from the cache is enough; a "no" is confirmed by a read of the
    /// Namespace begun after this process saw the object's deletion: the Namespace's own update
    /// can arrive after the deletions it causes (they come through other watches), and deleting
    /// data on a stale "no" loses it, but a namespace is marked terminating before any of its
    /// objects is deleted. A burst of deletions seen together shares one read. Throws while
    /// unsure (the cache is not complete, the read failed): when in doubt, keep data.
    func namespaceIsTerminating(_ namespace: String, deleting uid: String) async throws -> Bool {
        guard namespaces != nil else { return false }
        guard namespacesSynced() else {
            throw KubesnapError.deletionBlocked(reason: "CacheNotSynced", message: "namespaces are not known yet")
        }
        if namespaceTerminatingInCache(namespace) { return true }
        let client = self.client
        do {
            return try await namespaceReads.value(for: namespace, startedAfter: deletionsSeen.firstSeen(uid)) {
                do {
                    return try await client.get(Namespace.self, name: namespace).isTerminating
                } catch {
                    if (error as? KubeError)?.isNotFound == true { return true }  // gone already: it was deleted
                    throw error
                }
            }.value
        } catch {
            throw KubesnapError.deletionBlocked(
                reason: "NamespaceUnknown", message: "cannot read namespace \(namespace) to rule out its deletion: \(error)")
        }
    }
}

/// A status that can say its object's deletion is held back: phase Deleting, Ready=False with
/// the reason.
protocol DeletionBlockingStatus: ObjectStatus {
    mutating func markDeletionBlocked(reason: String, message: String, generation: Int64?)
}

extension RepositoryStatus: DeletionBlockingStatus {
    mutating func markDeletionBlocked(reason: String, message: String, generation: Int64?) {
        phase = .deleting
        conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
    }
}

extension SnapshotStatus: DeletionBlockingStatus {
    mutating func markDeletionBlocked(reason: String, message: String, generation: Int64?) {
        phase = .deleting
        conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
    }
}

extension DeletionGuard {
    /// Starts timing the deletions of `informer`'s objects as they arrive (see
    /// `namespaceIsTerminating`).
    func watchDeletions<Object: KubeResource>(of informer: Informer<Object>) {
        informer.subscribe { deletionsSeen.observe($0) }
    }

    /// Whether `policy` keeps `object`'s data (`what`: "the snapshot's data"): Retain, or an
    /// unknown policy (treated as Retain, API.md); says so in an Event.
    func policyKeepsData<Object: KubeResource>(_ object: Object, policy: DeletionPolicy, what: String) -> Bool {
        switch policy {
        case .retain:
            events.normal(object, reason: "Retained", message: "deletionPolicy Retain: \(what) stays")
            return true
        case .unknown(let value):
            events.warning(
                object, reason: "UnknownDeletionPolicy",
                message: "deletionPolicy \"\(value)\" is not Delete or Retain: treated as Retain, \(what) stays")
            return true
        case .delete:
            return false
        }
    }

    /// Keeps the finalizer (and the data): the status and a Warning Event say why, and the
    /// deletion is retried with backoff (the thrown `deletionBlocked`).
    func block<Object: HasStatus>(
        _ object: Object, with status: StatusWriter<Object>, reason: String, message: String
    ) async throws -> ReconcileResult where Object.Status: DeletionBlockingStatus {
        let generation = object.metadata.generation
        try await status.update(object) { $0.markDeletionBlocked(reason: reason, message: message, generation: generation) }
        events.warning(object, reason: reason, message: message)
        throw KubesnapError.deletionBlocked(reason: reason, message: message)
    }
}

/// When this process first saw each object's deletion (its `deletionTimestamp`), by UID: the
/// informers record it as events arrive, before the deletion waits in a work queue.
final class DeletionsSeen: Sendable {
    private let seen = Locked<[String: ContinuousClock.Instant]>([:])

    /// Records a deletion seen now, unless seen before; forgets an object that is gone.
    func observe<Object: KubeResource>(_ event: InformerEvent<Object>) {
        guard let uid = event.object.metadata.uid else { return }
        if case .deleted = event {
            seen.withLock { $0[uid] = nil }
        } else if event.object.metadata.deletionTimestamp != nil {
            let now = ContinuousClock.now
            seen.withLock { if $0[uid] == nil { $0[uid] = now } }
        }
    }

    /// When the deletion of `uid` was first seen; now if it was not recorded.
    func firstSeen(_ uid: String) -> ContinuousClock.Instant {
        seen.withLock { $0[uid] } ?? .now
    }
}
