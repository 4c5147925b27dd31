import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Deletion: the policy applied through the finalizer, the data removed in batches.
extension SnapshotReconciler {
    func cleanup(_ object: Snapshot, key: ObjectKey) async throws -> ReconcileResult {
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
            if summary.reason == FailureSummary.repositoryLocked { refreshRepository(repositoryKey) }
            return try await deletionGuard.block(object, with: status, reason: summary.reason, message: "cannot delete the snapshot's data: \(summary.message)")
        case .none:
            break
        }
        if let waiting = try await waitForRestores(object, key: key) { return waiting }
        let snapshot = object
        if try await deletionGuard.keepsData(of: object, what: "the snapshot's data") { return .done }
        let policy = snapshot.spec.effectiveDeletionPolicy
        if deletionGuard.policyKeepsData(object, policy: policy, what: "the snapshot's data") { return .done }
        let current = snapshot.status ?? SnapshotStatus()
        let knownID = capturedID ?? current.snapshotID
        let mayHaveData =
            knownID != nil || current.phase == .running || current.phase == .deleting
            || (snapshot.spec.source != nil && current.phase == .ready)
        guard mayHaveData else { return .done }  // nothing was ever captured
        if RepositoryReconciler.isFlagged(snapshot) {
            // Its restic snapshot was found gone (SnapshotMissing, RepositoryLost): there is
            // nothing left to delete, and the lost repository may not even open.
            events.normal(
                object, reason: "DataAbsent",
                message: "deletionPolicy Delete: the restic snapshot was already gone from the repository; nothing was removed")
            return .done
        }
        if snapshot.spec.source == nil && knownID == nil { return .done }

        guard let repository = repositories.get(repositoryKey) else {
            return try await deletionGuard.block(
                object, with: status, reason: Kubesnap.Reason.repositoryNotFound,
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
            return try await deletionGuard.block(object, with: status, reason: error.reason, message: "cannot delete the snapshot's data: \(error.message)")
        }
        if let recorded = current.backendRepository, recorded != restic.location {
            // spec.repository was changed past an older CRD: deleting "its" data there would
            // report success and leave the real data behind.
            return try await deletionGuard.block(
                object, with: status, reason: Self.immutableFieldChanged,
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
            return try await deletionGuard.block(object, with: status, reason: summary.reason, message: "cannot delete the snapshot's data: \(summary.message)")
        }
        refreshRepository(repositoryKey)
        return .done
    }

    /// How the deletion waits for restores, if it does: while a RestoreSession that reads this
    /// Snapshot is unfinished, nothing is decided (whatever the policy; the Snapshot object
    /// itself is what the restore reads), the finalizer stays, and the status says phase
    /// Deleting, reason RestoreInProgress. The RestoreSession watch (`SnapshotController`)
    /// requeues the Snapshot when a restore ends or goes; the timer returned is only a safety
    /// net. A Snapshot that never held data has nothing to restore: the sessions waiting for it
    /// fail on its deletion, it does not wait.
    func waitForRestores(_ object: Snapshot, key: ObjectKey) async throws -> ReconcileResult? {
        guard object.status?.snapshotID != nil else { return nil }
        let restores = RestoreSessionIndex.unfinished(restoring: key.name, in: key.namespace, from: restoreSessions)
        guard !restores.isEmpty else { return nil }
        let names = restores.compactMap(\.metadata.name).sorted().joined(separator: ", ")
        let message =
            "waiting for RestoreSession \(names) to finish: the deletion policy is applied once no restore reads this Snapshot"
        let generation = object.metadata.generation
        let updated = try await status.update(object) {
            $0.markDeletionBlocked(reason: Kubesnap.Reason.restoreInProgress, message: message, generation: generation)
        }
        if updated != nil { events.normal(object, reason: Kubesnap.Reason.restoreInProgress, message: message) }
        return .requeue(after: .seconds(300))
    }
}
