import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Drives a RestoreSession: Pending (waiting for its Snapshot, Repository or target) → Running
/// (the pre-restore Snapshot, then the restore by swap, `DirectoryRestore`) → Succeeded or
/// Failed. A finished session is a record and is never run again.
///
/// - The condition `Completed` carries the step: reason `PreRestoreSnapshotRunning` while the
///   safety Snapshot is taken (the target is untouched), `Restoring` while restic writes the
///   staging directory. A session found `Restoring` with no restore in this process (the operator
///   was restarted) has the target made whole (`DirectoryRestore.recover`) and ends Failed,
///   reason `Interrupted`: it is never run a second time.
/// - Deleting a Running session cancels restic; the staging directory is removed and the target
///   keeps its old content. The pre-restore Snapshot stays.
public struct RestoreSessionReconciler: Reconciler {
    let client: KubeClient
    let snapshots: Store<Snapshot>
    let repositories: Store<Repository>
    let events: EventRecorder
    let access: RepositoryAccess
    let sourceRoot: PathConfinement
    let mover: DataMover
    let gate: RepositoryGate
    let catalog: SnapshotCatalog
    let pausePoints: PausePoints
    let finalizer: Finalizer<RestoreSession>
    let status: StatusWriter<RestoreSession>

    static let preRestoreRunning = "PreRestoreSnapshotRunning"
    static let restoring = "Restoring"

    init(
        client: KubeClient, fieldManager: String, snapshots: Store<Snapshot>, repositories: Store<Repository>,
        events: EventRecorder, dataPlane: DataPlane
    ) {
        self.client = client
        self.snapshots = snapshots
        self.repositories = repositories
        self.events = events
        access = dataPlane.access
        sourceRoot = dataPlane.sourceRoot
        mover = dataPlane.mover
        gate = dataPlane.gate
        catalog = dataPlane.catalog
        pausePoints = dataPlane.pausePoints
        finalizer = Finalizer(name: Kubesnap.finalizer, client: client, fieldManager: fieldManager)
        status = StatusWriter(client: client, fieldManager: fieldManager) { _, status in
            if let start = status.startTime.flatMap(RFC3339.parse), let end = status.completionTime.flatMap(RFC3339.parse) {
                status.duration = BackupSessionStatus.formatDuration(seconds: Int64(end.timeIntervalSince(start)))
            }
        }
    }

    public func reconcile(_ object: RestoreSession) async throws -> ReconcileResult {
        guard let key = ObjectKey(object) else { return .done }
        return try await finalizer.reconcile(object) { event in
            switch event {
            case .apply(let object): return try await apply(object, key: key)
            case .cleanup(let object): return try await cleanup(object)
            }
        }
    }

    // MARK: - apply

    private func apply(_ object: RestoreSession, key: ObjectKey) async throws -> ReconcileResult {
        let current = object.status ?? RestoreSessionStatus()
        let phase = current.phase ?? .pending
        if phase.isFinished { return .done }
        let uid = object.metadata.uid ?? ""
        switch mover.status(uid: uid) {
        case .running: return .done
        case .finished(let finished):
            try await record(finished, on: object)
            mover.clearFinished(uid: uid)
            return .done
        case nil: break
        }
        if phase == .running, Self.step(of: object) == Self.restoring {
            return try await interrupted(object)
        }
        guard case .proceed(let plan) = try await decide(object, key: key) else { return .done }
        guard case .proceed = try await preRestoreSnapshot(object, plan: plan, key: key) else { return .done }
        return try await startRestore(object, plan: plan, key: key)
    }

    /// What a session restores, from where, into where.
    struct Plan: Sendable {
        var snapshot: Snapshot
        var snapshotID: String
        var repository: Repository
        var restic: ResticRepository
        /// As the user gave it (the pre-restore Snapshot's source).
        var targetField: String
        var target: String
        /// A directory with something in it.
        var targetHasData: Bool
    }

    /// Step 1: the spec, the Snapshot, its verification, the Repository and the target.
    private func decide(_ object: RestoreSession, key: ObjectKey) async throws -> ReconcileStep<Plan> {
        let errors = object.spec.invalidSpecErrors()
        guard errors.isEmpty else {
            try await fail(object, reason: Kubesnap.Reason.invalidSpec, message: errors.joined(separator: "; "))
            return .stop(.done)
        }
        guard let snapshot = snapshots.get(ObjectKey(namespace: key.namespace, name: object.spec.snapshot)) else {
            try await fail(
                object, reason: Kubesnap.Reason.snapshotNotFound,
                message: "spec.snapshot: Snapshot \"\(object.spec.snapshot)\" does not exist in namespace \"\(key.namespace)\"")
            return .stop(.done)
        }
        let snapshotPhase = snapshot.status?.phase ?? .pending
        let deleting = snapshot.metadata.deletionTimestamp != nil
        // A Snapshot being deleted keeps its data while this session is unfinished (its
        // deletion waits: phase Deleting, reason RestoreInProgress), provided the session was
        // accepted (has a phase) and the Snapshot holds data: a session made after the deletion
        // began does not hold it back, and one waiting for a capture that is deleted fails.
        let heldForRestore =
            deleting && object.status?.phase != nil && snapshot.status?.snapshotID != nil
            && (snapshotPhase == .ready || snapshotPhase == .deleting)
        if snapshotPhase == .failed || (deleting && !heldForRestore) {
            try await fail(
                object, reason: Kubesnap.Reason.snapshotNotReady,
                message: "spec.snapshot: Snapshot \"\(object.spec.snapshot)\" is \(deleting ? "being deleted" : "Failed")")
            return .stop(.done)
        }
        guard snapshotPhase == .ready || heldForRestore, let snapshotID = snapshot.status?.snapshotID else {
            try await pending(
                object, reason: Kubesnap.Reason.snapshotNotReady,
                message: "waiting for Snapshot \"\(object.spec.snapshot)\" to be Ready; it is \(snapshotPhase.rawValue)")
            return .stop(.done)
        }
        let verification = snapshot.status?.verificationStatus ?? ""
        if verification != "OK" {
            if object.metadata.annotations?[Kubesnap.Annotation.restoreUnverified] != "true" {
                let verified = snapshot.status?.conditions?.first { $0.type == Kubesnap.ConditionType.verified }
                if verification.isEmpty && verified?.reason == Kubesnap.Reason.verificationNotRequested {
                    // An adopted Snapshot is read back only on request: waiting would be forever.
                    try await fail(
                        object, reason: Kubesnap.Reason.snapshotNotVerified,
                        message: "Snapshot \"\(object.spec.snapshot)\" was adopted and never read back; annotate it kubesnap.io/verify-requested=<any new value> and make a new RestoreSession once it is verified OK, or set the annotation \(Kubesnap.Annotation.restoreUnverified): \"true\" on this one to restore it anyway")
                } else if verification.isEmpty {
                    try await pending(
                        object, reason: Kubesnap.Reason.snapshotNotReady,
                        message: "waiting for Snapshot \"\(object.spec.snapshot)\" to be verified")
                } else {
                    try await fail(
                        object, reason: Kubesnap.Reason.snapshotNotVerified,
                        message: "Snapshot \"\(object.spec.snapshot)\" failed verification (\(verification)); set the annotation \(Kubesnap.Annotation.restoreUnverified): \"true\" to restore it anyway")
                }
                return .stop(.done)
            }
        }
        let targetField: String
        let fieldName: String
        if let path = object.spec.target?.path {
            targetField = path
            fieldName = "spec.target.path"
        } else if let source = snapshot.spec.source?.path {
            targetField = source
            fieldName = "spec.target"
        } else {
            try await fail(
                object, reason: Kubesnap.Reason.invalidSpec,
                message: "spec.target: Required value: Snapshot \"\(object.spec.snapshot)\" adopted a restic snapshot and names no source to restore into")
            return .stop(.done)
        }
        let confined: ConfinedPath
        do {
            confined = try sourceRoot.confine(targetField, field: fieldName)
        } catch {
            try await fail(object, reason: Kubesnap.Reason.invalidSpec, message: error.message)
            return .stop(.done)
        }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: confined.resolvedPath, isDirectory: &isDirectory)
        if exists, !isDirectory.boolValue {
            try await fail(
                object, reason: Kubesnap.Reason.invalidSpec,
                message: "\(fieldName): Invalid value: \"\(targetField)\": \(confined.resolvedPath) is a file, not a directory")
            return .stop(.done)
        }
        // A target that cannot be listed counts as holding data (when in doubt, keep data): its
        // pre-restore Snapshot is taken, or fails and stops the restore, before anything moves.
        let hasData = exists && !((try? FileManager.default.contentsOfDirectory(atPath: confined.resolvedPath))?.isEmpty ?? false)
        guard let repository = repositories.get(ObjectKey(namespace: key.namespace, name: snapshot.spec.repository)),
            repository.status?.phase == .ready, repository.metadata.deletionTimestamp == nil
        else {
            try await pending(
                object, reason: "RepositoryNotReady",
                message: "waiting for Repository \"\(snapshot.spec.repository)\" to be Ready")
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
        return .proceed(
            Plan(
                snapshot: snapshot, snapshotID: snapshotID, repository: repository, restic: restic, targetField: targetField,
                target: confined.resolvedPath, targetHasData: hasData))
    }

    /// Step 2: the pre-restore Snapshot of the target, Ready and verified, unless turned off or
    /// the target is empty or missing.
    private func preRestoreSnapshot(_ object: RestoreSession, plan: Plan, key: ObjectKey) async throws -> ReconcileStep<Void> {
        guard object.spec.takesPreRestoreSnapshot else { return .proceed(()) }
        let name = RestoreSession.preRestoreSnapshotName(restore: key.name)
        guard let existing = snapshots.get(ObjectKey(namespace: key.namespace, name: name)) else {
            if object.status?.preRestoreSnapshot != nil { return .stop(.done) }  // made; the cache has not seen it yet
            guard plan.targetHasData else { return .proceed(()) }
            let snapshot = Snapshot(
                metadata: ObjectMeta(
                    name: name, namespace: key.namespace,
                    labels: [
                        Kubesnap.Label.repository: plan.snapshot.spec.repository,
                        Kubesnap.Label.invokerKind: RestoreSession.kind,
                        Kubesnap.Label.invokerName: key.name,
                        Kubesnap.Label.preRestoreOf: key.name,
                    ]),
                spec: SnapshotSpec(
                    repository: plan.snapshot.spec.repository, source: SnapshotSource(path: plan.targetField),
                    deletionPolicy: .delete, description: "the target of RestoreSession \(key.name) before the restore",
                    invoker: Invoker(kind: RestoreSession.kind, name: key.name)))
            do {
                _ = try await client.create(snapshot)
            } catch {
                if !error.isAlreadyExists {
                    throw KubesnapError.api(operation: "create Snapshot \(key.namespace)/\(name)", underlying: error)
                }
            }
            try await running(
                object, reason: Self.preRestoreRunning, message: "taking the pre-restore Snapshot \(name) of \(plan.target)"
            ) {
                $0.preRestoreSnapshot = name
                $0.target = plan.target
            }
            return .stop(.done)
        }
        if existing.spec.invoker != Invoker(kind: RestoreSession.kind, name: key.name) {
            try await fail(
                object, reason: Kubesnap.Reason.preRestoreSnapshotFailed,
                message: "Snapshot \"\(name)\" exists and was not made by this RestoreSession")
            return .stop(.done)
        }
        switch existing.status?.phase ?? .pending {
        case .failed:
            let ready = existing.status?.conditions?.first { $0.type == Kubesnap.ConditionType.ready }
            // A pre-restore Snapshot interrupted by an operator restart interrupted this session.
            try await fail(
                object,
                reason: ready?.reason == Kubesnap.Reason.interrupted ? Kubesnap.Reason.interrupted : Kubesnap.Reason.preRestoreSnapshotFailed,
                message: "the pre-restore Snapshot \(name) failed (\(ready?.reason ?? ""): \(ready?.message ?? "")); the target is untouched")
            return .stop(.done)
        case .ready:
            let verification = existing.status?.verificationStatus ?? ""
            if verification == "OK" {
                if object.status?.preRestoreSnapshot == nil || Self.step(of: object) == Self.preRestoreRunning {
                    events.normal(
                        object, reason: "PreRestoreSnapshotTaken",
                        message: "Snapshot \(name) holds \(plan.target) as it was before the restore")
                }
                return .proceed(())
            }
            if !verification.isEmpty {
                try await fail(
                    object, reason: Kubesnap.Reason.preRestoreSnapshotFailed,
                    message: "the pre-restore Snapshot \(name) failed verification (\(verification)); the target is untouched")
                return .stop(.done)
            }
            fallthrough
        default:
            try await running(
                object, reason: Self.preRestoreRunning, message: "taking the pre-restore Snapshot \(name) of \(plan.target)"
            ) {
                $0.preRestoreSnapshot = name
                $0.target = plan.target
            }
            return .stop(.done)
        }
    }

    /// Step 3: the restore, by swap, as a data operation holding the target's path.
    private func startRestore(_ object: RestoreSession, plan: Plan, key: ObjectKey) async throws -> ReconcileResult {
        let uid = object.metadata.uid ?? ""
        let restore = DirectoryRestore(target: plan.target, uid: uid)
        let restic = plan.restic
        let snapshotID = plan.snapshotID
        let gate = gate
        let pausePoints = pausePoints
        let recorded = Latch()
        let abandoned = Locked(false)
        let snapshotPath: String
        do {
            // From the shared listing (a Repository refresh makes one): no restic run of its own
            // when a recent listing holds the id; a miss is only believed from a new listing.
            guard let info = try await catalog.find(id: snapshotID, in: restic), let path = info.paths.first else {
                try await fail(
                    object, reason: Kubesnap.Reason.snapshotNotFound,
                    message: "the repository holds no restic snapshot \(snapshotID) (Snapshot \"\(object.spec.snapshot)\")")
                return .done
            }
            snapshotPath = path
        } catch {
            if Task.isCancelled || error is CancellationError || FailureSummary.isAPIFailure(error) { throw error }
            let summary = FailureSummary(error, defaultReason: Kubesnap.Reason.restoreFailed)
            try await pending(object, reason: summary.reason, message: summary.message)
            throw KubesnapError.backendUnreachable(summary.message)
        }
        let submitted = mover.submit(key: key, uid: uid, kind: .restore, pathKey: plan.target) {
            await recorded.wait()
            if abandoned.withLock({ $0 }) { return .notStarted }
            do {
                let tree = try await gate.withAccess(restic.location, exclusive: false) {
                    try await restore.run(
                        restic: restic, snapshotID: snapshotID, snapshotPath: snapshotPath,
                        pausePoints: pausePoints)
                }
                return .restored(tree)
            } catch is CancellationError {
                return .cancelled
            } catch let error as DirectoryRestoreError {
                return .failed(reason: Kubesnap.Reason.verificationFailed, message: error.description, transient: false)
            } catch {
                if Task.isCancelled { return .cancelled }
                let summary = FailureSummary(error, defaultReason: Kubesnap.Reason.restoreFailed)
                let message = DirectoryRestore.describe(fileError: error) ?? summary.message
                return .failed(reason: Kubesnap.Reason.restoreFailed, message: message, transient: false)
            }
        }
        switch submitted {
        case .alreadyRunning: return .done
        case .busy(let holder, let kind):
            try await pending(
                object, reason: Kubesnap.Reason.targetBusy,
                message: "waiting for \(kind.holder(holder)) to finish its data operation on \(plan.target)")
            return .done
        case .queued:
            try await pending(object, reason: "Queued", message: "waiting for a free data-operation slot")
            return .requeue(after: .seconds(60))
        case .started:
            do {
                try await running(
                    object, reason: Self.restoring, message: "restic restores \(snapshotID.prefix(8)) beside \(plan.target)"
                ) { status in
                    status.snapshotID = snapshotID
                    status.target = plan.target
                }
            } catch {
                abandoned.withLock { $0 = true }
                recorded.open()
                throw error
            }
            recorded.open()
            let verification = plan.snapshot.status?.verificationStatus ?? ""
            if verification != "OK" {
                // Once: the restore has started (a Pending session does not repeat it).
                events.warning(
                    object, reason: Kubesnap.Reason.snapshotNotVerified,
                    message: "restoring Snapshot \"\(object.spec.snapshot)\" although its verification is \(verification.isEmpty ? "not done" : "not OK (\(verification))"), because \(Kubesnap.Annotation.restoreUnverified) is \"true\"")
            }
            return .done
        }
    }

    // MARK: - outcomes

    private func record(_ finished: DataMover.Finished, on object: RestoreSession) async throws {
        switch finished.outcome {
        case .restored(let tree):
            let generation = object.metadata.generation ?? 1
            let safety =
                if !object.spec.takesPreRestoreSnapshot {
                    "no pre-restore Snapshot: spec.preRestoreSnapshot is false"
                } else if let name = object.status?.preRestoreSnapshot {
                    "pre-restore Snapshot \(name) holds the old content"
                } else {
                    "no pre-restore Snapshot: the target was empty or missing"
                }
            let message =
                "restored \(tree.files) files (\(tree.bytes) bytes) into \(object.status?.target ?? "the target"); \(safety)"
            let updated = try await status.update(object) { status in
                status.phase = .succeeded
                status.restoredFiles = tree.files
                status.restoredBytes = tree.bytes
                status.verificationStatus = tree.verification
                status.completionTime = Conditions.timestamp(Date())
                status.observedGeneration = generation
                status.conditions.set(Kubesnap.ConditionType.completed, true, reason: "RestoreCompleted", message: message, generation: generation)
                status.conditions.set(
                    Kubesnap.ConditionType.verified, true, reason: "Verified",
                    message: "every restored file was read back and matches the snapshot", generation: generation)
            }
            if updated != nil { events.normal(object, reason: "RestoreCompleted", message: message) }
        case .failed(let reason, let message, _):
            try await fail(object, reason: reason, message: message + "; the target keeps its old content")
        case .cancelled:
            try await fail(object, reason: Kubesnap.Reason.cancelled, message: "cancelled; the target keeps its old content")
        case .notStarted, .backedUp, .verified:
            break
        }
    }

    /// A session left Restoring by an earlier process: the target is made whole, and the
    /// session ends Interrupted (never run a second time).
    private func interrupted(_ object: RestoreSession) async throws -> ReconcileResult {
        guard let target = object.status?.target else {
            try await fail(object, reason: Kubesnap.Reason.interrupted, message: "the operator stopped during the restore")
            return .done
        }
        let restore = DirectoryRestore(target: target, uid: object.metadata.uid ?? "")
        let message: String
        do {
            switch try restore.recover() {
            case .keptNew: message = "the operator stopped after the swap: the target holds the restored data, not yet recorded"
            case .keptOld, .nothingLeft: message = "the operator stopped during the restore: the target keeps its old content"
            }
        } catch {
            message = "the operator stopped during the restore, and cleaning up beside the target failed: \(error.localizedDescription)"
        }
        try await fail(object, reason: Kubesnap.Reason.interrupted, message: message)
        return .done
    }

    // MARK: - deletion

    private func cleanup(_ object: RestoreSession) async throws -> ReconcileResult {
        let uid = object.metadata.uid ?? ""
        if mover.isRunning(uid: uid) {
            mover.cancel(uid: uid)
            return .requeue(after: .milliseconds(200))
        }
        mover.clearFinished(uid: uid)
        return .done
    }

    // MARK: - status helpers

    static func step(of object: RestoreSession) -> String? {
        object.status?.conditions?.first { $0.type == Kubesnap.ConditionType.completed }?.reason
    }

    private func pending(_ object: RestoreSession, reason: String, message: String) async throws {
        let generation = object.metadata.generation ?? 1
        let updated = try await status.update(object) { status in
            status.phase = .pending
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.completed, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil, reason == Kubesnap.Reason.targetBusy { events.normal(object, reason: reason, message: message) }
    }

    private func running(
        _ object: RestoreSession, reason: String, message: String, _ change: @Sendable (inout RestoreSessionStatus) -> Void
    ) async throws {
        let generation = object.metadata.generation ?? 1
        let first = object.status?.startTime == nil
        let updated = try await status.update(object) { status in
            status.phase = .running
            status.startTime = status.startTime ?? Conditions.timestamp(Date())
            status.observedGeneration = generation
            change(&status)
            status.conditions.set(Kubesnap.ConditionType.completed, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil, first { events.normal(object, reason: "RestoreStarted", message: message) }
    }

    private func fail(_ object: RestoreSession, reason: String, message: String) async throws {
        let generation = object.metadata.generation ?? 1
        let updated = try await status.update(object) { status in
            status.phase = .failed
            status.completionTime = Conditions.timestamp(Date())
            status.observedGeneration = generation
            if reason == Kubesnap.Reason.verificationFailed { status.verificationStatus = message }
            status.conditions.set(Kubesnap.ConditionType.completed, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil { events.warning(object, reason: Kubesnap.Reason.restoreFailed, message: "\(reason): \(message)") }
    }
}
