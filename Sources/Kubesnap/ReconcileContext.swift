import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// What the three reconcilers share: the API client, the informer caches, the Event recorder
/// and this process's data-operation machinery.
struct ReconcileContext: Sendable {
    let client: KubeClient
    let configuration: OperatorConfiguration
    let repositories: Store
    let snapshots: Store
    let backupSessions: Store
    let secrets: Store
    /// nil when namespaces cannot be watched (then no namespace is taken for terminating).
    let namespaces: Store?
    let events: EventRecorder
    let access: RepositoryAccess
    let sourceRoot: PathConfinement
    let mover: DataMover
    let gate: RepositoryGate
    let batcher: PruneBatcher
    /// Shared `restic snapshots` listings: lookups by id or tag cost one listing per burst.
    let catalog: SnapshotCatalog
    let registry: ResticProcessRegistry
    /// Asks the Repository controller to re-read a Repository's backend (size, count, locks).
    let refreshRepository: @Sendable (ObjectKey) -> Void
    let logger: Logger

    /// Whether the namespaces cache is complete.
    let namespacesSynced: @Sendable () -> Bool
    /// When this operator process began: the backups of earlier processes ended before it (a
    /// killed leader's restic dies with it), so any repository listing made since sees them.
    let processStarted = ContinuousClock.now
    /// Live reads of Namespaces by deletions (see `namespaceIsTerminating`).
    let namespaceReads = FreshFetches<Bool>()
    /// When this process first saw each object's deletion (by UID).
    let deletionsSeen = DeletionsSeen()

    /// Whether `namespace` is being deleted (then every policy is Retain), for the deletion of
    /// the object `uid`. A "yes" from the cache is enough; a "no" is confirmed by a read of the
    /// Namespace begun after this process saw the object's deletion: the Namespace's own update
    /// can arrive after the deletions it causes (they come through other watches), and deleting
    /// data on a stale "no" loses it, but a namespace is marked terminating before any of its
    /// objects is deleted. A burst of deletions seen together shares one read. Throws while
    /// unsure (the cache is not complete, the read failed): when in doubt, keep data.
    func namespaceIsTerminating(_ namespace: String, deleting uid: String) async throws -> Bool {
        guard let namespaces else { return false }
        guard namespacesSynced() else {
            throw KubesnapError.deletionBlocked(reason: "CacheNotSynced", message: "namespaces are not known yet")
        }
        if let cached = namespaces.get(ObjectKey(namespace: nil, name: namespace)), Self.isTerminating(cached) {
            return true
        }
        let client = self.client
        do {
            return try await namespaceReads.value(for: namespace, startedAfter: deletionsSeen.firstSeen(uid)) {
                let object: JSONValue
                do {
                    object = try await client.get(.namespaces, namespace: nil, name: namespace)
                } catch {
                    if (error as? KubeError)?.isNotFound == true { return true }  // gone already: it was deleted
                    throw error
                }
                return Self.isTerminating(object)
            }.value
        } catch {
            throw KubesnapError.deletionBlocked(
                reason: "NamespaceUnknown", message: "cannot read namespace \(namespace) to rule out its deletion: \(error)")
        }
    }

    static func isTerminating(_ namespace: JSONValue) -> Bool {
        !namespace["metadata"]["deletionTimestamp"].isNull || namespace["status"]["phase"].stringValue == "Terminating"
    }

    static func now() -> String { Conditions.timestamp(Date()) }
}

/// A kubesnap status type (every member optional; `init()` is the empty status).
protocol KubesnapStatus: Codable, Sendable, Equatable {
    init()
}

extension SnapshotStatus: KubesnapStatus {}
extension RepositoryStatus: KubesnapStatus {}
extension BackupSessionStatus: KubesnapStatus {}

/// Typed status updates through `StatusWriter` (written only when they change something).
struct TypedStatusWriter<Status: KubesnapStatus>: Sendable {
    let writer: StatusWriter
    /// Status fields that follow from the object itself (a Snapshot's effective deletion
    /// policy), set on every write so they never lag behind.
    let derive: @Sendable (JSONValue, inout Status) -> Void

    init(
        client: KubeClient, resource: APIResource,
        derive: @escaping @Sendable (JSONValue, inout Status) -> Void = { _, _ in }
    ) {
        writer = StatusWriter(client: client, resource: resource)
        self.derive = derive
    }

    /// Applies `mutate` to the object's status and writes the difference; returns the updated
    /// object (nil if nothing changed or the object is gone).
    @discardableResult
    func update(_ object: JSONValue, _ mutate: (inout Status) -> Void) async throws -> JSONValue? {
        try await writer.update(object) { value in
            var status = (try? value.decode(Status.self)) ?? Status()
            let before = status
            mutate(&status)
            derive(object, &status)
            guard status != before else { return }
            value = try JSONValue(encoding: status)
        }
    }
}

extension Array where Element == Condition {
    /// Sets a condition (lastTransitionTime moves only when its status changes).
    mutating func set(_ type: String, _ status: Bool?, reason: String, message: String, generation: Int64?) {
        let text = status.map { $0 ? "True" : "False" } ?? "Unknown"
        Conditions.set(
            &self,
            Condition(
                type: type, status: text, observedGeneration: generation, lastTransitionTime: ReconcileContext.now(),
                reason: reason, message: message))
    }
}

extension Optional where Wrapped == [Condition] {
    mutating func set(_ type: String, _ status: Bool?, reason: String, message: String, generation: Int64?) {
        var conditions = self ?? []
        conditions.set(type, status, reason: reason, message: message, generation: generation)
        self = conditions
    }
}

/// How a restic failure shows on a resource: an API.md reason, a message, and whether a retry
/// may fix it by itself.
struct FailureSummary: Sendable, Equatable {
    var reason: String
    var message: String
    var transient: Bool

    init(reason: String, message: String, transient: Bool) {
        self.reason = reason
        self.message = message
        self.transient = transient
    }

    /// Reads any error of a data operation. `defaultReason` names what failed (`BackupFailed`).
    init(_ error: any Error, defaultReason: String) {
        if let error = error as? ResticError {
            let text = error.description
            switch error {
            case .commandFailed(let failure):
                switch failure.kind {
                case .backendUnreachable: self.init(reason: Kubesnap.Reason.backendUnreachable, message: text, transient: true)
                case .wrongPassword: self.init(reason: Kubesnap.Reason.authenticationFailed, message: text, transient: false)
                case .accessDenied: self.init(reason: Kubesnap.Reason.authenticationFailed, message: text, transient: false)
                case .locked: self.init(reason: "RepositoryLocked", message: text, transient: true)
                case .repositoryNotFound: self.init(reason: Kubesnap.Reason.backendUnreachable, message: text, transient: true)
                case .sourceNotFound: self.init(reason: Kubesnap.Reason.sourceNotFound, message: text, transient: false)
                case .snapshotNotFound: self.init(reason: Kubesnap.Reason.snapshotNotFound, message: text, transient: false)
                default: self.init(reason: defaultReason, message: text, transient: false)
                }
            case .executableNotFound: self.init(reason: "ResticNotFound", message: text, transient: true)
            case .invalidArgument: self.init(reason: Kubesnap.Reason.invalidSpec, message: text, transient: false)
            default: self.init(reason: defaultReason, message: text, transient: false)
            }
        } else if let failure = error as? AccessFailure {
            self.init(reason: failure.reason, message: failure.message, transient: failure.transient)
        } else {
            self.init(reason: defaultReason, message: "\(error)", transient: true)
        }
    }
}

/// When this process first saw each object's deletion (its `deletionTimestamp`), by UID: the
/// informers record it as events arrive, before the deletion waits in a work queue.
final class DeletionsSeen: Sendable {
    private let seen = Locked<[String: ContinuousClock.Instant]>([:])

    /// Records a deletion seen now, unless seen before; forgets an object that is gone.
    func observe(_ event: InformerEvent) {
        guard let uid = event.object.uid else { return }
        if case .deleted = event {
            seen.withLock { $0[uid] = nil }
        } else if !event.object["metadata"]["deletionTimestamp"].isNull {
            let now = ContinuousClock.now
            seen.withLock { if $0[uid] == nil { $0[uid] = now } }
        }
    }

    /// When the deletion of `uid` was first seen; now if it was not recorded.
    func firstSeen(_ uid: String) -> ContinuousClock.Instant {
        seen.withLock { $0[uid] } ?? .now
    }
}
