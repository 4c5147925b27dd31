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
        snapshots: Store<Snapshot>, events: EventRecorder, dataPlane: DataPlane, deletionGuard: DeletionGuard,
        refreshRepository: @escaping @Sendable (ObjectKey) -> Void, logger: Logger
    ) {
        self.client = client
        self.repositories = repositories
        self.snapshots = snapshots
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

    /// The outcome of a step of `apply`: go on with a value, or end the reconcile with a result.
    enum Step<Value> {
        case proceed(Value)
        case stop(ReconcileResult)
    }

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
        return try await startBackup(snapshot, of: sourcePath, into: restic, key: key)
    }

    /// Step 1: what this process's data mover did or does for this Snapshot. A running operation
    /// ends the reconcile (its completion enqueues the key again; a cancelled session cancels its
    /// backup); a finished one is written into status, once.
    private func takeDataOperation(_ object: Snapshot, key: ObjectKey) async throws -> Step<Snapshot> {
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

    /// Step 3: the spec names exactly one of a source and a restic snapshot id, and the source
    /// (if any) exists inside the source root; its resolved path.
    private func checkSource(_ snapshot: Snapshot) async throws -> Step<String?> {
        let object = snapshot
        let hasSource = snapshot.spec.source != nil
        let hasID = !(snapshot.spec.snapshotID ?? "").isEmpty
        guard hasSource != hasID else {
            try await fail(
                object, reason: Kubesnap.Reason.invalidSpec,
                message: hasSource
                    ? "exactly one of spec.source and spec.snapshotID must be set; both are set"
                    : "exactly one of spec.source and spec.snapshotID must be set; neither is set")
            return .stop(.done)
        }
        var sourcePath: String?
        if let source = snapshot.spec.source {
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

    /// Step 4: the Repository exists, is Ready and opens.
    private func openRepository(of snapshot: Snapshot, key: ObjectKey) async throws -> Step<ResticRepository> {
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

    /// Step 6: a dynamic Snapshot found Running (the operator restarted) may have a copy already:
    /// look for it by its tag. A backup starts only after Running is recorded (step 7), so a
    /// Snapshot that is not Running has no data anywhere and goes straight to its backup. Such a
    /// copy was made by an earlier process, so any listing of this process's lifetime shows it
    /// (a backup of this process drops the older listings when it ends): the Snapshots left
    /// Running by a crash share one listing per repository, however few workers ask at a time,
    /// and none waits for one (the lookup's end reconciles the Snapshot again).
    private func resumeInterrupted(_ snapshot: Snapshot, restic: ResticRepository, key: ObjectKey) async throws
        -> ReconcileResult
    {
        let object = snapshot
        let uid = snapshot.metadata.uid ?? ""
        let tag = Self.uidTag(uid)
        let found: [SnapshotInfo]
        switch await catalog.lookUp(.tagged(tag, since: processStarted), in: restic, uid: uid, key: key) {
        case .pending:
            return .requeue(after: .seconds(60))
        case .failed(let error):
            return try await transientOrFail(object, error, defaultReason: Kubesnap.Reason.backupFailed, pendingWhileTransient: true)
        case .found(let tagged):
            found = tagged
        }
        if let existing = found.last {
            logger.info(
                "found the restic snapshot of a Snapshot by its tag; adopting it",
                metadata: ["snapshot": "\(key)", "id": "\(existing.shortID)"])
            let updated = try await markReady(
                object, holding: existing, in: restic.location, reason: "SnapshotFound",
                message: "restic snapshot \(existing.shortID) (tagged \(tag)) is in the repository")
            if updated != nil {  // said by the write that made it so (see adopt)
                events.normal(object, reason: "SnapshotFound", message: "found restic snapshot \(existing.shortID) made earlier for this Snapshot")
            }
            return try await verifyAfterCapture(updated ?? object)
        }
        try await fail(
            object, reason: Kubesnap.Reason.interrupted,
            message: "the backup was interrupted (the operator restarted while it ran) and left no snapshot; create a new Snapshot to take one")
        return .done
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
        let submitted = mover.submit(key: key, uid: uid, kind: .backup, sourceKey: sourceKey) {
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
        case .busy(let holder):
            try await pending(
                object, reason: "SourceBusy",
                message: "waiting for Snapshot \"\(holder.name)\" to finish its data operation on the same source and repository")
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

    /// The type and reason of the condition (and the reason of the Warning Event) saying that an
    /// immutable field of a Ready Snapshot was changed.
    static let immutableFieldChanged = "ImmutableFieldChanged"

    /// Immutable fields of a Ready Snapshot (`spec.repository`, `spec.source.path`,
    /// `spec.snapshotID`) that no longer describe the data it holds, one message per field.
    ///
    /// The CRD's validation rules reject such changes, but an API server with an older CRD (no
    /// rules) lets them through. kubesnap then keeps the data as taken (status.snapshotID and
    /// status.backendRepository are what it holds; deletion and verification go by them) and
    /// reports the change. It compares the spec with what status recorded, and `spec.source.path`
    /// with the path restic recorded in the snapshot: a repository listing (shared, see
    /// `SnapshotCatalog`), looked at only when the generation changed, never on a resync.
    private func immutableFieldChanges(_ snapshot: Snapshot, _ current: SnapshotStatus) async throws -> [String] {
        guard let id = current.snapshotID, !id.isEmpty else { return [] }
        let namespace = snapshot.metadata.namespace ?? ""
        let repository = repositories.get(ObjectKey(namespace: namespace, name: snapshot.spec.repository))
        let location = repository.flatMap { try? access.backend(of: $0).location() }
        if let recorded = current.backendRepository, let location, location != recorded {
            // The other fields cannot be compared through another repository.
            return [
                "spec.repository changed to \"\(snapshot.spec.repository)\" (\(location)) after the snapshot was taken; its data is in \(recorded)"
            ]
        }
        var changes: [String] = []
        if let wanted = snapshot.spec.snapshotID, !wanted.isEmpty, !id.hasPrefix(wanted) {
            changes.append("spec.snapshotID changed to \"\(wanted)\"; this Snapshot holds restic snapshot \(id.prefix(8))")
        }
        if let source = snapshot.spec.source, let repository {
            let wantedPath = try? sourceRoot.confine(source.path, field: "spec.source.path").resolvedPath
            let info: SnapshotInfo?
            do {
                info = try await catalog.find(id: id, in: access.open(repository))
            } catch {
                if Task.isCancelled { throw error }
                let summary = FailureSummary(error, defaultReason: Kubesnap.Reason.backendUnreachable)
                if summary.transient { throw KubesnapError.backendUnreachable(summary.message) }
                return changes  // the repository cannot say what was captured
            }
            if let info, wantedPath.map({ !info.paths.contains($0) }) ?? true {
                changes.append(
                    "spec.source.path changed to \"\(source.path)\"; restic snapshot \(info.shortID) holds \(info.paths.joined(separator: ", "))")
            }
        }
        return changes
    }

    /// Adopts an existing restic snapshot (`spec.snapshotID`).
    private func adopt(_ snapshot: Snapshot, id: String, restic: ResticRepository, key: ObjectKey) async throws
        -> ReconcileResult
    {
        let generation = snapshot.metadata.generation ?? 1
        let uid = snapshot.metadata.uid ?? ""
        let requested = snapshot.metadata.annotations?[Kubesnap.Annotation.verifyRequested] ?? ""
        let info: SnapshotInfo?
        // The lookup does not hold this worker: its end reconciles the Snapshot again.
        switch await catalog.lookUp(.id(id), in: restic, uid: uid, key: key) {
        case .pending:
            return .requeue(after: .seconds(60))
        case .failed(let error):
            return try await transientOrFail(snapshot, error, defaultReason: Kubesnap.Reason.snapshotNotFound, pendingWhileTransient: true)
        case .found(let found):
            info = found.first
        }
        guard let info else {
            try await fail(
                snapshot, reason: Kubesnap.Reason.snapshotNotFound,
                message: "spec.snapshotID \"\(id)\": Repository \"\(snapshot.spec.repository)\" (\(restic.location)) holds no such snapshot")
            return .done
        }
        let claimKey = SnapshotIndex.resticIDValue(location: restic.location, id: info.id)
        let holders = snapshots.byIndex(SnapshotIndex.byResticID, claimKey).filter { $0.metadata.uid != uid }
        if let holder = holders.first?.metadata {
            try await fail(
                snapshot, reason: Kubesnap.Reason.alreadyAdopted,
                message: "restic snapshot \(info.shortID) is already held by Snapshot \"\(holder.name ?? "")\" in namespace \"\(holder.namespace ?? "")\"")
            return .done
        }
        // Claimed only by a Snapshot that may hold it: one that failed because another holds it
        // must not stand in the way of the next adopter once that other is gone.
        let snapshots = self.snapshots
        let claimedBy = claims.claim(claimKey, uid: uid, key: key) { holder in
            guard let other = snapshots.get(holder.key) else { return false }
            return other.metadata.uid == holder.uid && other.metadata.deletionTimestamp == nil
        }
        if let claimedBy {
            try await fail(
                snapshot, reason: Kubesnap.Reason.alreadyAdopted,
                message: "restic snapshot \(info.shortID) is already held by Snapshot \"\(claimedBy.key.name)\" in namespace \"\(claimedBy.key.namespace)\"")
            return .done
        }
        let updated = try await markReady(
            snapshot, holding: info, in: restic.location, reason: "Adopted",
            message: "adopted restic snapshot \(info.shortID) from \(restic.location)"
        ) { status in
            if (status.verificationStatus ?? "").isEmpty, requested.isEmpty {
                status.conditions.set(
                    Kubesnap.ConditionType.verified, nil, reason: "NotRequested",
                    message: "an adopted snapshot is read back only on request: annotate it \(Kubesnap.Annotation.verifyRequested)=<any new value>",
                    generation: generation)
            }
        }
        // Said once, by the write that made it so: a reconcile of a cached version older than
        // that write (its own watch event not in yet) finds the status written and writes nothing.
        if updated != nil {
            events.normal(snapshot, reason: "Adopted", message: "adopted restic snapshot \(info.shortID)")
        }
        // Adopting registers data that is already there; reading it back is asked for apart (a
        // thousand adoptions must not mean a thousand full reads of the backend).
        guard !requested.isEmpty else { return .done }
        return try await verifyAfterCapture(updated ?? snapshot)
    }

    /// Records restic snapshot `info`, found in the repository at `location`, as the Snapshot's
    /// data: phase Ready, in one status write with whatever `more` adds. Returns the updated object.
    private func markReady(
        _ object: Snapshot, holding info: SnapshotInfo, in location: String, reason: String, message: String,
        more: (inout SnapshotStatus) -> Void = { _ in }
    ) async throws -> Snapshot? {
        let generation = object.metadata.generation ?? 1
        return try await status.update(object) { status in
            status.phase = .ready
            status.snapshotID = info.id
            status.snapshotTime = Conditions.timestamp(info.time)
            status.backendRepository = location
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.ready, true, reason: reason, message: message, generation: generation)
            more(&status)
        }
    }

    /// Writes a finished data operation into status. Returns the updated object.
    private func record(_ finished: DataMover.Finished, on object: Snapshot, key: ObjectKey) async throws -> Snapshot? {
        let generation = object.metadata.generation ?? 1
        let deleting = object.metadata.deletionTimestamp != nil
        let repositoryKey = ObjectKey(namespace: key.namespace, name: object.spec.repository)
        switch (finished.kind, finished.outcome) {
        case (.backup, .backedUp(let result)):
            // The Repository's size and count are re-read after the verification that follows,
            // not beside it (both would open the repository at once).
            let updated = try await status.update(object) { status in
                if !deleting { status.phase = .ready }
                status.snapshotID = result.snapshotID
                status.snapshotTime = Conditions.timestamp(result.time)
                status.sizeBytes = result.totalBytesProcessed
                status.fileCount = result.fileCount
                status.observedGeneration = generation
                let message =
                    result.isComplete
                    ? "restic snapshot \(result.shortID) holds \(result.fileCount) files"
                    : "restic snapshot \(result.shortID) is incomplete: \(result.warnings.count) files could not be read"
                status.conditions.set(
                    Kubesnap.ConditionType.ready, true, reason: result.isComplete ? "BackupCompleted" : "BackupIncomplete",
                    message: message, generation: generation)
            }
            if updated == nil {
                // Recorded already, by an earlier reconcile: nothing new to say.
            } else if result.isComplete {
                events.normal(
                    object, reason: "BackupCompleted",
                    message: "restic snapshot \(result.shortID): \(result.fileCount) files, \(ByteCount.human(result.totalBytesProcessed))")
            } else {
                events.warning(
                    object, reason: "BackupIncomplete",
                    message: "restic snapshot \(result.shortID) misses files: \(result.warnings.prefix(3).joined(separator: "; "))")
            }
            return updated
        case (.backup, .cancelled):
            if deleting { return nil }
            return try await failed(object, reason: Kubesnap.Reason.cancelled, message: "the backup was cancelled")
        case (.backup, .failed(let reason, let message, let transient)):
            if deleting { return nil }
            if transient {
                if reason == Self.repositoryLocked { refreshRepository(repositoryKey) }
                try await pending(object, reason: reason, message: "the backup failed and will be retried: \(message)")
                throw KubesnapError.backendUnreachable(message)
            }
            return try await failed(object, reason: reason, message: message)
        case (.verify, .verified(let verification)):
            refreshAfterFirstVerification(object, repositoryKey)
            let text = verification.error ?? "OK"
            let updated = try await status.update(object) { status in
                status.verificationStatus = text
                status.lastVerifiedTime = Conditions.timestamp(Date())
                status.lastVerifyRequest = finished.context.isEmpty ? status.lastVerifyRequest : finished.context
                status.conditions.set(
                    Kubesnap.ConditionType.verified, verification.isOK,
                    reason: verification.isOK ? "VerificationSucceeded" : "VerificationFailed",
                    message: verification.isOK
                        ? "restic read every file of the snapshot back from the repository; every byte checked"
                        : text,
                    generation: generation)
            }
            if updated == nil {
                // Recorded already, by an earlier reconcile: nothing new to say.
            } else if verification.isOK {
                events.normal(object, reason: "VerificationSucceeded", message: "every byte of the snapshot was read back and checked")
            } else {
                events.warning(object, reason: "VerificationFailed", message: text)
            }
            return updated
        case (.verify, .failed(let reason, let message, let transient)):
            if reason == Self.repositoryLocked {
                refreshRepository(repositoryKey)
            } else {
                refreshAfterFirstVerification(object, repositoryKey)
            }
            let updated = try await status.update(object) { status in
                if !transient {
                    status.verificationStatus = message
                    status.lastVerifiedTime = Conditions.timestamp(Date())
                    status.lastVerifyRequest = finished.context.isEmpty ? status.lastVerifyRequest : finished.context
                }
                status.conditions.set(
                    Kubesnap.ConditionType.verified, transient ? nil : false, reason: reason, message: message,
                    generation: generation)
            }
            events.warning(object, reason: "VerificationFailed", message: message)
            if transient { throw KubesnapError.backendUnreachable(message) }
            return updated
        default:
            return nil
        }
    }

    /// The reason of restic's "repository is already locked" (FailureSummary).
    static let repositoryLocked = "RepositoryLocked"

    /// A capture's first verification is when the Repository's size and count are re-read.
    private func refreshAfterFirstVerification(_ object: Snapshot, _ repositoryKey: ObjectKey) {
        if object.status?.lastVerifiedTime == nil { refreshRepository(repositoryKey) }
    }

    /// The verify-requested value to act on, if verification is due: a dynamic Snapshot is read
    /// back once after its capture; any Snapshot again for each new verify-requested value.
    private func verifyRequest(_ snapshot: Snapshot, _ status: SnapshotStatus) -> String? {
        let requested = snapshot.metadata.annotations?[Kubesnap.Annotation.verifyRequested] ?? ""
        if (status.verificationStatus ?? "").isEmpty, snapshot.spec.source != nil { return requested }
        if !requested.isEmpty, requested != status.lastVerifyRequest { return requested }
        return nil
    }

    private func verifyAfterCapture(_ object: Snapshot) async throws -> ReconcileResult {
        let snapshot = object
        let request = snapshot.metadata.annotations?[Kubesnap.Annotation.verifyRequested] ?? ""
        return try await startVerification(snapshot, request: request)
    }

    /// Starts reading back the snapshot (a data operation of the mover).
    private func startVerification(_ snapshot: Snapshot, request: String) async throws
        -> ReconcileResult
    {
        guard let id = snapshot.status?.snapshotID, let key = ObjectKey(snapshot) else { return .done }
        let repositoryKey = ObjectKey(namespace: key.namespace, name: snapshot.spec.repository)
        guard let repository = repositories.get(repositoryKey), repository.status?.phase == .ready,
            repository.metadata.deletionTimestamp == nil
        else {
            return .done  // the Repository's return to Ready enqueues this Snapshot again
        }
        let restic: ResticRepository
        do {
            restic = try access.open(repository)
        } catch {
            return .done
        }
        let gate = gate
        let submitted = mover.submit(key: key, uid: snapshot.metadata.uid ?? "", kind: .verify, context: request) {
            do {
                let verification = try await gate.withAccess(restic.location, exclusive: false) {
                    try await restic.verify(snapshotID: id)
                }
                return .verified(verification)
            } catch is CancellationError {
                return .cancelled
            } catch {
                if Task.isCancelled { return .cancelled }
                let summary = FailureSummary(error, defaultReason: "VerificationFailed")
                return .failed(reason: summary.reason, message: summary.message, transient: summary.transient)
            }
        }
        // In line for a slot: a freed slot re-enqueues it (and so does this, should that be lost).
        return submitted == .queued ? .requeue(after: .seconds(60)) : .done
    }

    // MARK: - cleanup

    private func cleanup(_ object: Snapshot, key: ObjectKey) async throws -> ReconcileResult {
        let uid = object.metadata.uid ?? ""
        // A Snapshot being deleted holds its restic snapshot through the index (its status), no
        // longer through a claim.
        if let location = object.status?.backendRepository, let id = object.status?.snapshotID {
            claims.release(SnapshotIndex.resticIDValue(location: location, id: id), uid: uid)
        }
        if mover.isRunning(uid: uid) {
            // A running capture (or verification) is cancelled first; its end enqueues the key.
            mover.cancel(uid: uid)
            try await status.update(object) { $0.phase = .deleting }
            return .requeue(after: .seconds(5))
        }
        var capturedID: String?
        if case .finished(let finished) = mover.status(uid: uid), case .backedUp(let result) = finished.outcome {
            capturedID = result.snapshotID
        }
        mover.clearFinished(uid: uid)
        await catalog.dropLookup(uid: uid)
        // Data queued for a batch (PruneBatcher) by an earlier reconcile: its completion
        // reconciles this key again, and its outcome is all there is left to act on (everything
        // below was checked when the data was queued).
        let repositoryKey = ObjectKey(namespace: key.namespace, name: object.spec.repository)
        switch await batcher.progress(uid: uid) {
        case .pending:
            return .requeue(after: .seconds(60))
        case .finished(.success):
            events.normal(
                object, reason: "DataDeleted", message: "deletionPolicy Delete: its restic snapshot was forgotten; the repository's next prune reclaims the space it held")
            return .done  // the batch asked for its Repository's refresh
        case .finished(.failure(let error)):
            if Task.isCancelled { throw error }
            let summary = FailureSummary(error, defaultReason: "DeletionFailed")
            // A lock left by a killed restic (a cancelled verification, say) is cleared by the
            // Repository's stale-lock check: ask for it now rather than at its next refresh.
            if summary.reason == Self.repositoryLocked { refreshRepository(repositoryKey) }
            return try await blocked(object, reason: summary.reason, message: "cannot delete the snapshot's data: \(summary.message)")
        case .none:
            break
        }
        let snapshot = object
        if try await deletionGuard.keepsData(of: object, what: "the snapshot's data") { return .done }
        let policy = snapshot.spec.effectiveDeletionPolicy
        switch policy {
        case .retain:
            events.normal(object, reason: "Retained", message: "deletionPolicy Retain: the snapshot's data stays in the repository")
            return .done
        case .unknown(let value):
            events.warning(
                object, reason: "UnknownDeletionPolicy",
                message: "deletionPolicy \"\(value)\" is not Delete or Retain: treated as Retain, the data stays")
            return .done
        case .delete:
            break
        }
        let current = snapshot.status ?? SnapshotStatus()
        let knownID = capturedID ?? current.snapshotID
        let mayHaveData =
            knownID != nil || current.phase == .running || current.phase == .deleting
            || (snapshot.spec.source != nil && current.phase == .ready)
        guard mayHaveData else { return .done }  // nothing was ever captured
        if snapshot.spec.source == nil && knownID == nil { return .done }

        guard let repository = repositories.get(repositoryKey) else {
            return try await blocked(
                object, reason: Kubesnap.Reason.repositoryNotFound,
                message: "cannot delete the snapshot's data: Repository \"\(snapshot.spec.repository)\" does not exist; set \(Kubesnap.Annotation.skipDataDeletion)=true to release it without deleting data")
        }
        if repository.metadata.deletionTimestamp != nil {
            // The Repository's own deletion decides about the whole backend.
            events.normal(
                object, reason: "Retained",
                message: "Repository \"\(snapshot.spec.repository)\" is being deleted: its deletion policy decides about the data")
            return .done
        }
        let restic: ResticRepository
        do {
            restic = try access.open(repository)
        } catch {
            return try await blocked(object, reason: error.reason, message: "cannot delete the snapshot's data: \(error.message)")
        }
        if let recorded = current.backendRepository, recorded != restic.location {
            // spec.repository was changed past an older CRD: deleting "its" data there would
            // report success and leave the real data behind.
            return try await blocked(
                object, reason: Self.immutableFieldChanged,
                message: "cannot delete the snapshot's data: it is in \(recorded), but spec.repository now names Repository \"\(snapshot.spec.repository)\" (\(restic.location)); restore spec.repository, or set \(Kubesnap.Annotation.skipDataDeletion)=true to release it without deleting data")
        }
        // The removal runs in a batch (PruneBatcher, see the top of cleanup); no status write on
        // this path: a mass deletion would otherwise cost a write per Snapshot before the
        // finalizer's own; phase Deleting marks deletions that are stuck (`blocked`) or wait for
        // a running capture to stop.
        do {
            var ids: [String] = knownID.map { [$0] } ?? []
            if snapshot.spec.source != nil {
                for info in try await catalog.snapshots(tagged: Self.uidTag(uid), in: restic) where !ids.contains(info.id) {
                    ids.append(info.id)
                }
            }
            // Never take data another Snapshot object holds.
            ids = ids.filter { id in
                snapshots.byIndex(
                    SnapshotIndex.byResticID, SnapshotIndex.resticIDValue(location: restic.location, id: id)
                ).allSatisfy { $0.metadata.uid == uid }
            }
            if !ids.isEmpty {
                // One Event per deletion (DataDeleted, when the batch is done), not one more here.
                await batcher.submit(ids: ids, uid: uid, key: key, repositoryKey: repositoryKey, in: restic)
                logger.debug(
                    "data deletion queued",
                    metadata: ["snapshot": "\(key)", "ids": "\(ids.map { String($0.prefix(8)) })"])
                return .requeue(after: .seconds(60))
            }
        } catch {
            if Task.isCancelled { throw error }
            let summary = FailureSummary(error, defaultReason: "DeletionFailed")
            return try await blocked(object, reason: summary.reason, message: "cannot delete the snapshot's data: \(summary.message)")
        }
        refreshRepository(repositoryKey)
        return .done
    }

    /// Keeps the finalizer: phase Deleting, a condition and a Warning Event, retried with backoff.
    private func blocked(_ object: Snapshot, reason: String, message: String) async throws -> ReconcileResult {
        let generation = object.metadata.generation
        try await status.update(object) { status in
            status.phase = .deleting
            status.conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
        }
        events.warning(object, reason: reason, message: message)
        throw KubesnapError.deletionBlocked(reason: reason, message: message)
    }

    // MARK: - status helpers

    private func reportUnknownPolicy(_ snapshot: Snapshot) {
        if case .unknown(let value) = snapshot.spec.effectiveDeletionPolicy,
            snapshot.status?.observedGeneration != snapshot.metadata.generation
        {
            events.warning(
                snapshot, reason: "UnknownDeletionPolicy",
                message: "deletionPolicy \"\(value)\" is not Delete or Retain: it is treated as Retain")
        }
    }

    private func pending(_ object: Snapshot, reason: String, message: String) async throws {
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

    private func fail(_ object: Snapshot, reason: String, message: String) async throws {
        _ = try await failed(object, reason: reason, message: message)
    }

    private func failed(_ object: Snapshot, reason: String, message: String) async throws -> Snapshot? {
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
    private func transientOrFail(
        _ object: Snapshot, _ error: any Error, defaultReason: String, pendingWhileTransient: Bool
    ) async throws -> ReconcileResult {
        if Task.isCancelled || error is CancellationError { throw error }
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
