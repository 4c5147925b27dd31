import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Restic

/// A repository that vanished or was replaced, and Snapshots whose data is gone: answered from
/// what the refresh read anyway (the listing), written into the Snapshots' status.
extension RepositoryReconciler {
    /// The Snapshots of this Repository that reference a restic snapshot (any phase).
    func referencingSnapshots(_ key: ObjectKey) -> [Snapshot] {
        snapshots.byIndex(SnapshotIndex.byRepository, SnapshotIndex.repositoryValue(namespace: key.namespace, name: key.name))
            .filter { $0.status?.snapshotID != nil }
    }

    /// The Ready Snapshots of this Repository at `location`, with their restic snapshot ids, that
    /// are not being deleted (their data may be being forgotten by kubesnap itself).
    func readySnapshots(_ key: ObjectKey, location: String) -> [(Snapshot, String)] {
        referencingSnapshots(key).compactMap { snapshot in
            guard snapshot.metadata.deletionTimestamp == nil, snapshot.status?.phase == .ready,
                let id = snapshot.status?.snapshotID
            else { return nil }
            if let recorded = snapshot.status?.backendRepository, recorded != location { return nil }
            return (snapshot, id)
        }
    }

    /// Whether this Snapshot was already said to have lost its data (it is not said twice, and a
    /// later reason never replaces the first: after a reinitialisation the old Snapshots keep
    /// `RepositoryLost`).
    static func isFlagged(_ snapshot: Snapshot) -> Bool {
        guard let verified = Conditions.get(snapshot.status?.conditions, type: Kubesnap.ConditionType.verified),
            verified.status == "False"
        else { return false }
        return verified.reason == Kubesnap.Reason.snapshotMissing || verified.reason == Kubesnap.Reason.repositoryLost
    }

    /// Marks each Snapshot's data gone: `verificationStatus`, `Verified=False` with `reason`, and a
    /// Warning Event. Its phase stays Ready, as for any failed verification.
    func flag(_ flagged: [(Snapshot, String)], reason: String, location: String) async throws {
        for (snapshot, id) in flagged where !Self.isFlagged(snapshot) {
            let text = RepositoryIdentity.missingText(id)
            let message =
                reason == Kubesnap.Reason.repositoryLost
                ? "\(text): the restic repository at \(location) was lost or replaced" : text
            let generation = snapshot.metadata.generation ?? 1
            let written = try await snapshotStatus.update(snapshot) { status in
                status.verificationStatus = text
                status.lastVerifiedTime = Conditions.timestamp(Date())
                status.conditions.set(
                    Kubesnap.ConditionType.verified, false, reason: reason, message: message, generation: generation)
            }
            if written != nil { events.warning(snapshot, reason: reason, message: message) }
        }
    }

    /// Fails the Repository for a lost, replaced or refused location, and marks its Ready
    /// Snapshots `RepositoryLost`. Nothing is written to the location. Looked at again at the
    /// next refresh (a volume mounted back brings the repository back).
    func failLoss(
        _ object: Repository, key: ObjectKey, location: String, reason: String, message: String
    ) async throws -> ReconcileResult {
        try await fail(object, reason: reason, message: message)
        try await flag(readySnapshots(key, location: location), reason: Kubesnap.Reason.repositoryLost, location: location)
        return .requeue(after: configuration.repositoryRefreshInterval)
    }

    /// The repository root when it does not exist (not created: its volume may not be mounted).
    func missingRepositoryRoot() -> String? {
        let root = dataPlane.access.repositoryRoot.root
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue { return nil }
        return root
    }
}
