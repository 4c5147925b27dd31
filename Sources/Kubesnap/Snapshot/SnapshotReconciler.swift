import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Drives a Snapshot through Pending → Running → Ready (or Failed), verifies it, and applies its
/// deletion policy through the `kubesnap.io/finalizer` finalizer.
///
/// - The restic snapshot of a dynamic Snapshot is tagged `kubesnap-uid=<uid>`. Before any backup
///   the repository is searched for that tag, so a restarted operator adopts a copy it already
///   made instead of making a second one.
/// - A Snapshot found Running with no backup in progress in this process (the operator was
///   restarted mid-backup) adopts the tagged restic snapshot if there is one, and otherwise ends
///   Failed with reason `Interrupted`: a point-in-time copy taken later than asked would be a
///   different snapshot than the one requested, so kubesnap does not silently retake it (make a
///   new Snapshot, or let the next BackupSession do it).
/// - A finished Snapshot (Ready or Failed, generation observed, verification request handled)
///   costs no restic run and no API write on reconcile.
public struct SnapshotReconciler: Reconciler {
    let client: KubeClient
    let repositories: Store<Repository>
    let snapshots: Store<Snapshot>
    /// The restores that hold a Snapshot's deletion (`RestoreSessionIndex`).
    let restoreSessions: Store<RestoreSession>
    let events: EventRecorder
    let access: RepositoryAccess
    let sourceRoot: PathConfinement
    let mover: DataMover
    let gate: RepositoryGate
    let batcher: PruneBatcher
    let catalog: SnapshotCatalog
    let deletionGuard: DeletionGuard
    /// Asks the Repository controller to re-read a Repository's backend (size, count, locks).
    let refreshRepository: @Sendable (ObjectKey) -> Void
    let missingRepositoryTimeout: Duration
    /// When this operator process began: the backups of earlier processes ended before it (a
    /// killed leader's restic dies with it), so any repository listing made since sees them.
    let processStarted: ContinuousClock.Instant
    let logger: Logger
    let finalizer: Finalizer<Snapshot>
    let status: StatusWriter<Snapshot>
    /// Restic snapshot ids claimed by an adoption in this process, so two Snapshots adopting the
    /// same id at once cannot both win.
    let claims = AdoptionClaims()

    init(
        client: KubeClient, configuration: OperatorConfiguration, repositories: Store<Repository>,
        snapshots: Store<Snapshot>, restoreSessions: Store<RestoreSession>, events: EventRecorder, dataPlane: DataPlane, deletionGuard: DeletionGuard,
        refreshRepository: @escaping @Sendable (ObjectKey) -> Void, logger: Logger
    ) {
        self.client = client
        self.repositories = repositories
        self.snapshots = snapshots
        self.restoreSessions = restoreSessions
        self.events = events
        access = dataPlane.access
        sourceRoot = dataPlane.sourceRoot
        mover = dataPlane.mover
        gate = dataPlane.gate
        batcher = dataPlane.batcher
        catalog = dataPlane.catalog
        self.deletionGuard = deletionGuard
        self.refreshRepository = refreshRepository
        missingRepositoryTimeout = configuration.missingRepositoryTimeout
        processStarted = dataPlane.processStarted
        self.logger = logger
        finalizer = Finalizer(name: Kubesnap.finalizer, client: client, fieldManager: configuration.component)
        status = StatusWriter(client: client, fieldManager: configuration.component) { snapshot, status in
            // The console's Deletion Policy column shows the policy in force, defaults included.
            let policy = snapshot.spec.effectiveDeletionPolicy
            status.deletionPolicy = policy.isKnown ? policy.rawValue : "Retain"
        }
    }

    /// The restic tag that marks the data of the Snapshot with this UID.
    public static func uidTag(_ uid: String) -> String { "kubesnap-uid=\(uid)" }

    public func reconcile(_ object: Snapshot) async throws -> ReconcileResult {
        guard let key = ObjectKey(object) else { return .done }
        return try await finalizer.reconcile(object) { event in
            switch event {
            case .apply(let object): return try await apply(object, key: key)
            case .cleanup(let object): return try await cleanup(object, key: key)
            }
        }
    }

    // MARK: - apply

    /// Brings a live Snapshot forward, one named step after another; each step decides from the
    /// object and the caches, then acts (a status write, an Event, a data operation) and says
    /// whether the reconcile goes on.
    private func apply(_ object: Snapshot, key: ObjectKey) async throws -> ReconcileResult {
        guard case .proceed(let snapshot) = try await takeDataOperation(object, key: key) else { return .done }
        let current = snapshot.status ?? SnapshotStatus()
        let phase = current.phase ?? .pending
        if phase == .ready { return try await keepReady(snapshot, current) }
        if phase == .failed { return try await keepFailed(snapshot, current) }
        if snapshot.metadata.annotations?[BackupSessionReconciler.cancelRequestedAnnotation] != nil {
            try await fail(snapshot, reason: Kubesnap.Reason.cancelled, message: "cancelled: its BackupSession was deleted before it finished")
            return .done
        }
        reportUnknownPolicy(snapshot)
        guard case .proceed(let sourcePath) = try await checkSource(snapshot) else { return .done }
        let restic: ResticRepository
        switch try await openRepository(of: snapshot, key: key) {
        case .stop(let result): return result
        case .proceed(let opened): restic = opened
        }
        if let id = snapshot.spec.snapshotID, !id.isEmpty {
            return try await adopt(snapshot, id: id, restic: restic, key: key)
        }
        guard let sourcePath else { return .done }
        if phase == .running { return try await resumeInterrupted(snapshot, restic: restic, key: key) }
        warnIfSourceEmpty(snapshot, sourcePath: sourcePath, key: key)
        return try await startBackup(snapshot, of: sourcePath, into: restic, key: key)
    }

    /// Step 1: what this process's data mover did or does for this Snapshot. A running operation
    /// ends the reconcile (its completion enqueues the key again; a cancelled session cancels its
    /// backup); a finished one is written into status, once.
    private func takeDataOperation(_ object: Snapshot, key: ObjectKey) async throws -> ReconcileStep<Snapshot> {
        let uid = object.metadata.uid ?? ""
        switch mover.status(uid: uid) {
        case .running(let kind):
            if object.metadata.annotations?[BackupSessionReconciler.cancelRequestedAnnotation] != nil && kind == .backup {
                mover.cancel(uid: uid)
            }
            return .stop(.done)
        case .finished(let finished):
            // Taken once: a backup's result is also findable by its tag, a verification is redone.
            mover.clearFinished(uid: uid)
            return .proceed(try await record(finished, on: object, key: key) ?? object)
        case nil:
            return .proceed(object)
        }
    }

    /// Step 2a: a Ready Snapshot reads nothing from the backend unless verification is asked for
    /// or the spec changed (then immutable fields are compared with the data held).
    private func keepReady(_ snapshot: Snapshot, _ current: SnapshotStatus) async throws -> ReconcileResult {
        let object = snapshot
        let generation = snapshot.metadata.generation ?? 1
        if current.observedGeneration != generation {
            reportUnknownPolicy(snapshot)
            let changes = try await immutableFieldChanges(snapshot, current)
            let hadChanges = Conditions.get(object.status?.conditions, type: Self.immutableFieldChanged)?.status == "True"
            let updated = try await status.update(object) { status in
                status.observedGeneration = generation
                if !changes.isEmpty {
                    status.conditions.set(
                        Self.immutableFieldChanged, true, reason: Self.immutableFieldChanged,
                        message: changes.joined(separator: "; ") + "; the change is ignored and the data is kept as taken: restore the field, or create a new Snapshot",
                        generation: generation)
                } else if hadChanges {
                    status.conditions.set(
                        Self.immutableFieldChanged, false, reason: "SpecMatchesData",
                        message: "spec.repository, spec.source and spec.snapshotID describe the data held again",
                        generation: generation)
                }
            }
            if !changes.isEmpty {
                if updated != nil {
                    events.warning(
                        object, reason: Self.immutableFieldChanged,
                        message: changes.joined(separator: "; ") + "; the change is ignored, the data is kept")
                }
                return .done  // nothing is read or verified through a spec that does not describe the data
            }
        }
        if let request = verifyRequest(snapshot, current) {
            return try await startVerification(snapshot, request: request)
        }
        return .done
    }

    /// Step 2b: a Failed Snapshot stays Failed; only a new generation is noted.
    private func keepFailed(_ snapshot: Snapshot, _ current: SnapshotStatus) async throws -> ReconcileResult {
        let generation = snapshot.metadata.generation ?? 1
        if current.observedGeneration != generation {
            try await status.update(snapshot) { $0.observedGeneration = generation }
        }
        return .done
    }

    /// Step 3: the spec is valid (`invalidSpecErrors`: exactly one of a source and a restic
    /// snapshot id, ...), and the source (if any) exists inside the source root; its resolved path.
    private func checkSource(_ snapshot: Snapshot) async throws -> ReconcileStep<String?> {
        let object = snapshot
        let errors = snapshot.spec.invalidSpecErrors()
        guard errors.isEmpty else {
            try await fail(object, reason: Kubesnap.Reason.invalidSpec, message: errors.joined(separator: "; "))
            return .stop(.done)
        }
        var sourcePath: String?
        if let source = snapshot.spec.source {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sourceRoot.root, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                // Not created, nor read as an empty source: its volume is probably not mounted.
                try await fail(
                    object, reason: Kubesnap.Reason.sourceNotFound,
                    message: "the source root \(sourceRoot.root) does not exist (is its volume mounted?)")
                return .stop(.done)
            }
            let confined: ConfinedPath
            do {
                confined = try sourceRoot.confine(source.path, field: "spec.source.path")
            } catch {
                try await fail(object, reason: Kubesnap.Reason.invalidSpec, message: error.message)
                return .stop(.done)
            }
            guard confined.exists else {
                try await fail(
                    object, reason: Kubesnap.Reason.sourceNotFound,
                    message: "spec.source.path \"\(source.path)\" does not exist (resolved to \(confined.resolvedPath))")
                return .stop(.done)
            }
            sourcePath = confined.resolvedPath
        }
        return .proceed(sourcePath)
    }

    /// A backup of an empty directory where the previous Snapshot of the same source had files
    /// goes ahead (the directory may truly be empty now), but says so in a Warning Event: an
    /// unmounted volume looks exactly like this.
    private func warnIfSourceEmpty(_ snapshot: Snapshot, sourcePath: String, key: ObjectKey) {
        guard let path = snapshot.spec.source?.path,
            // (An unreadable source is no empty one: the backup that follows reports it.)
            let entries = try? FileManager.default.contentsOfDirectory(atPath: sourcePath), entries.isEmpty
        else { return }
        let previous = snapshots.list(namespace: key.namespace)
            .filter {
                $0.metadata.uid != snapshot.metadata.uid && $0.spec.source?.path == path && $0.status?.phase == .ready
                    && $0.status?.snapshotTime != nil
            }
            .max { ($0.status?.snapshotTime ?? "") < ($1.status?.snapshotTime ?? "") }
        guard let previous, let files = previous.status?.fileCount, files > 0 else { return }
        events.warning(
            snapshot, reason: Kubesnap.Reason.sourceEmpty,
            message: "the source \(sourcePath) is empty, where the previous Snapshot of it, \"\(previous.metadata.name ?? "")\", had \(files) files (is its volume mounted?); backing it up anyway")
    }

    /// Step 4: the Repository exists, is Ready and opens.
    private func openRepository(of snapshot: Snapshot, key: ObjectKey) async throws -> ReconcileStep<ResticRepository> {
        let object = snapshot
        let namespace = key.namespace
        let repositoryKey = ObjectKey(namespace: namespace, name: snapshot.spec.repository)
        guard let repository = repositories.get(repositoryKey) else {
            let age = Self.age(of: snapshot)
            let timeout = missingRepositoryTimeout
            if age >= timeout {
                try await fail(
                    object, reason: Kubesnap.Reason.repositoryNotFound,
                    message: "Repository \"\(snapshot.spec.repository)\" (spec.repository) does not exist in namespace \"\(namespace)\"")
                return .stop(.done)
            }
            try await pending(
                object, reason: Kubesnap.Reason.repositoryNotFound,
                message: "waiting for Repository \"\(snapshot.spec.repository)\" (spec.repository) to exist in namespace \"\(namespace)\"")
            return .stop(.requeue(after: timeout - age + .milliseconds(100)))
        }
        if repository.metadata.deletionTimestamp != nil {
            try await pending(
                object, reason: "RepositoryNotReady",
                message: "Repository \"\(snapshot.spec.repository)\" is being deleted")
            return .stop(.done)
        }
        guard repository.status?.phase == .ready else {
            let ready = repository.status?.conditions?.first { $0.type == Kubesnap.ConditionType.ready }
            let detail = ready.map { " (\($0.reason): \($0.message))" } ?? ""
            try await pending(
                object, reason: "RepositoryNotReady",
                message: "waiting for Repository \"\(snapshot.spec.repository)\" to be Ready; it is \(repository.status?.phase?.rawValue ?? "Pending")\(detail)")
            return .stop(.done)
        }
        let restic: ResticRepository
        do {
            restic = try access.open(repository)
        } catch {
            try await pending(object, reason: error.reason, message: error.message)
            if error.transient { throw KubesnapError.backendUnreachable(error.message) }
            return .stop(.done)
        }
        return .proceed(restic)
    }

    /// Step 7: starts the backup (one data operation per source at a time). restic waits until
    /// Running is recorded: the record is what tells a restarted operator to look for a copy.
    private func startBackup(_ snapshot: Snapshot, of sourcePath: String, into restic: ResticRepository, key: ObjectKey)
        async throws -> ReconcileResult
    {
        let object = snapshot
        let uid = snapshot.metadata.uid ?? ""
        let generation = snapshot.metadata.generation ?? 1
        let tag = Self.uidTag(uid)
        let namespace = key.namespace
        let sourceKey = "\(restic.location)|\(sourcePath)"
        let gate = gate
        let location = restic.location
        let tags = [tag, "kubesnap-snapshot=\(namespace)/\(key.name)"]
        let recorded = Latch()
        let abandoned = Locked(false)
        let sourceField = snapshot.spec.source?.path ?? ""
        let catalog = catalog
        let submitted = mover.submit(key: key, uid: uid, kind: .backup, sourceKey: sourceKey, pathKey: sourcePath) {
            await recorded.wait()
            if abandoned.withLock({ $0 }) { return .notStarted }
            do {
                let result = try await gate.withAccess(location, exclusive: false) {
                    try await restic.backup(path: sourcePath, tags: tags)
                }
                // Listings made before this copy existed must not answer a lookup of its tag
                // (step 6 takes any listing of this process's lifetime).
                await catalog.invalidate(location)
                return .backedUp(result)
            } catch is CancellationError {
                return .cancelled
            } catch {
                if Task.isCancelled { return .cancelled }
                // The source existed when the backup started; gone now, it is the cause (and
                // permanent: a copy taken after it comes back would not be the one asked for).
                if !FileManager.default.fileExists(atPath: sourcePath) {
                    return .failed(
                        reason: Kubesnap.Reason.sourceNotFound,
                        message: "spec.source.path \"\(sourceField)\" vanished while the backup ran: restic found nothing to read at \(sourcePath)",
                        transient: false)
                }
                let summary = FailureSummary(error, defaultReason: Kubesnap.Reason.backupFailed)
                return .failed(reason: summary.reason, message: summary.message, transient: summary.transient)
            }
        }
        switch submitted {
        case .alreadyRunning:
            return .done
        case .busy(let holder, let kind):
            let what = kind == .restore ? "its restore into this source" : "its data operation on the same source"
            try await pending(
                object, reason: "SourceBusy", message: "waiting for \(kind.holder(holder)) to finish \(what)")
            return .done
        case .queued:
            try await pending(
                object, reason: Self.queued,
                message: "waiting for a free slot: \(mover.maxRunning) data operations run at once, the operator's limit")
            return .requeue(after: .seconds(60))  // in case a wake-up is lost
        case .started:
            let written: Snapshot?
            do {
                written = try await status.update(object) { status in
                    status.phase = .running
                    status.backendRepository = location
                    status.observedGeneration = generation
                    status.conditions.set(
                        Kubesnap.ConditionType.ready, false, reason: "BackupRunning",
                        message: "restic is copying \(sourcePath) into \(location)", generation: generation)
                }
            } catch {
                abandoned.withLock { $0 = true }
                recorded.open()
                throw error
            }
            recorded.open()
            // Events are said by the write that made them so (a reconcile of an older cached
            // version finds the status written and writes nothing), as with Adopted.
            if written != nil {
                events.normal(object, reason: "BackupStarted", message: "backing up \(sourcePath) into \(location)")
            }
            return .done
        }
    }

    /// The reason of a Pending Snapshot waiting for a data-operation slot.
    static let queued = "Queued"

    // MARK: - status helpers

    func reportUnknownPolicy(_ snapshot: Snapshot) {
        if case .unknown(let value) = snapshot.spec.effectiveDeletionPolicy,
            snapshot.status?.observedGeneration != snapshot.metadata.generation
        {
            events.warning(
                snapshot, reason: "UnknownDeletionPolicy",
                message: "deletionPolicy \"\(value)\" is not Delete or Retain: it is treated as Retain")
        }
    }

    func pending(_ object: Snapshot, reason: String, message: String) async throws {
        let generation = object.metadata.generation ?? 1
        let changed = try await status.update(object) { status in
            status.phase = .pending
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
        }
        if changed != nil, reason != "SourceBusy", reason != "RepositoryNotReady", reason != Self.queued {
            events.normal(object, reason: reason, message: message)
        }
    }

    func fail(_ object: Snapshot, reason: String, message: String) async throws {
        _ = try await failed(object, reason: reason, message: message)
    }

    func failed(_ object: Snapshot, reason: String, message: String) async throws -> Snapshot? {
        let generation = object.metadata.generation ?? 1
        let updated = try await status.update(object) { status in
            status.phase = .failed
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil { events.warning(object, reason: reason, message: message) }
        return updated
    }

    /// A failed restic call outside the mover: transient ones keep the Snapshot Pending and are
    /// retried with backoff; others fail it.
    func transientOrFail(
        _ object: Snapshot, _ error: any Error, defaultReason: String, pendingWhileTransient: Bool
    ) async throws -> ReconcileResult {
        if Task.isCancelled || error is CancellationError || FailureSummary.isAPIFailure(error) { throw error }
        let summary = FailureSummary(error, defaultReason: defaultReason)
        if summary.transient {
            try await pending(object, reason: summary.reason, message: summary.message)
            throw KubesnapError.backendUnreachable(summary.message)
        }
        try await fail(object, reason: summary.reason, message: summary.message)
        return .done
    }

    /// How long ago the Snapshot was created.
    static func age(of snapshot: Snapshot) -> Duration {
        guard let text = snapshot.metadata.creationTimestamp, let created = RFC3339.parse(text)
        else { return .zero }
        return .seconds(max(0, Date().timeIntervalSince(created)))
    }
}
