import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Adoption of an existing restic snapshot (`spec.snapshotID`), and of the copy a restarted operator finds by its tag.
extension SnapshotReconciler {
    /// Adopts an existing restic snapshot (`spec.snapshotID`).
    func adopt(_ snapshot: Snapshot, id: String, restic: ResticRepository, key: ObjectKey) async throws
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
                    Kubesnap.ConditionType.verified, nil, reason: Kubesnap.Reason.verificationNotRequested,
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

    /// Step 6: a dynamic Snapshot found Running (the operator restarted) may have a copy already:
    /// look for it by its tag. A backup starts only after Running is recorded (step 7), so a
    /// Snapshot that is not Running has no data anywhere and goes straight to its backup. Such a
    /// copy was made by an earlier process, so any listing of this process's lifetime shows it
    /// (a backup of this process drops the older listings when it ends): the Snapshots left
    /// Running by a crash share one listing per repository, however few workers ask at a time,
    /// and none waits for one (the lookup's end reconciles the Snapshot again).
    func resumeInterrupted(_ snapshot: Snapshot, restic: ResticRepository, key: ObjectKey) async throws
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

    /// Records restic snapshot `info`, found in the repository at `location`, as the Snapshot's
    /// data: phase Ready, in one status write with whatever `more` adds. Returns the updated object.
    func markReady(
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
}
