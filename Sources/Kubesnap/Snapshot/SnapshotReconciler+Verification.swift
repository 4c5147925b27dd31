import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Data operations recorded into status, and verification: a capture is read back once, any Snapshot again on request.
extension SnapshotReconciler {
    /// Writes a finished data operation into status. Returns the updated object.
    func record(_ finished: DataMover.Finished, on object: Snapshot, key: ObjectKey) async throws -> Snapshot? {
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
                if reason == FailureSummary.repositoryLocked { refreshRepository(repositoryKey) }
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
            if reason == FailureSummary.repositoryLocked {
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

    /// A capture's first verification is when the Repository's size and count are re-read.
    func refreshAfterFirstVerification(_ object: Snapshot, _ repositoryKey: ObjectKey) {
        if object.status?.lastVerifiedTime == nil { refreshRepository(repositoryKey) }
    }

    /// The verify-requested value to act on, if verification is due: a dynamic Snapshot is read
    /// back once after its capture; any Snapshot again for each new verify-requested value.
    func verifyRequest(_ snapshot: Snapshot, _ status: SnapshotStatus) -> String? {
        let requested = snapshot.metadata.annotations?[Kubesnap.Annotation.verifyRequested] ?? ""
        if (status.verificationStatus ?? "").isEmpty, snapshot.spec.source != nil { return requested }
        if !requested.isEmpty, requested != status.lastVerifyRequest { return requested }
        return nil
    }

    func verifyAfterCapture(_ object: Snapshot) async throws -> ReconcileResult {
        let snapshot = object
        let request = snapshot.metadata.annotations?[Kubesnap.Annotation.verifyRequested] ?? ""
        return try await startVerification(snapshot, request: request)
    }

    /// Starts reading back the snapshot (a data operation of the mover).
    func startVerification(_ snapshot: Snapshot, request: String) async throws
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
            // The Repository's own reconcile reports what keeps it from opening (its Secret,
            // say) and leaves Ready, which enqueues this Snapshot again.
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
}
