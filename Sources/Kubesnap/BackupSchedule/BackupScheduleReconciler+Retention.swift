import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI

/// What one application of retention found and did.
struct RetentionOutcome: Sendable, Equatable {
    var kept: Int64
    var deletedNow: Int64
    /// With dryRun, else nil.
    var wouldDelete: [String]?
    var now: Date

    /// `status.retention` after this application: `deleted` adds up, `lastAppliedTime` moves
    /// only when the outcome changed (a reconcile that finds the same keeps writes nothing).
    func status(after previous: RetentionStatus?) -> RetentionStatus {
        var status = previous ?? RetentionStatus()
        let deleted = (previous?.deleted ?? 0) + deletedNow
        let changed =
            previous == nil || deletedNow > 0 || previous?.kept != kept
            || previous?.wouldDelete != wouldDelete
        status.kept = kept
        status.deleted = deleted
        status.wouldDelete = wouldDelete
        if changed { status.lastAppliedTime = Conditions.timestamp(now) }
        return status
    }
}

extension RetentionSpec {
    /// The policy `Retention.decide` applies (the spec was validated: maxAge parses).
    var policy: RetentionPolicy {
        RetentionPolicy(
            keepLast: keepLast ?? 0, keepHourly: keepHourly ?? 0, keepDaily: keepDaily ?? 0,
            keepWeekly: keepWeekly ?? 0, keepMonthly: keepMonthly ?? 0, keepYearly: keepYearly ?? 0,
            // (`try?` drops nothing: `invalidSpecErrors` reported an unparsable maxAge and stopped the reconcile.)
            maxAge: maxAge.flatMap { try? GoDuration.seconds($0, units: "smhdw") },
            keepFailed: keepFailed ?? 1)
    }
}

extension BackupScheduleReconciler {
    /// Step 4: retention over the Snapshots labelled with this schedule, each repository on its
    /// own (`Retention.decide`). Deletes the Snapshot objects it does not keep (so their
    /// deletionPolicy and finalizer apply), each with its resourceVersion as a precondition so
    /// that a Snapshot that changed since the decision is decided again, not deleted; with
    /// `dryRun` deletes nothing and lists them. nil without `spec.retention`: nothing is ever
    /// deleted then.
    ///
    /// A RestoreSession created after the cache was read is not seen (the precondition covers
    /// the Snapshot, not its readers): such a session then ends SnapshotNotFound, having
    /// touched nothing. The window is one reconcile long.
    func applyRetention(_ object: BackupSchedule, plan: Plan, key: ObjectKey, now: Date) async throws
        -> RetentionOutcome?
    {
        guard let spec = object.spec.retention else { return nil }
        let decisions = retentionDecisions(for: key, policy: spec.policy, now: now, zone: plan.zone)
        let kept = Int64(decisions.reduce(0) { $0 + $1.decision.keep.count })
        let doomed = decisions.flatMap(\.delete)
        if spec.dryRun ?? false {
            return RetentionOutcome(
                kept: kept, deletedNow: 0, wouldDelete: doomed.compactMap(\.metadata.name).sorted(), now: now)
        }
        var deleted: Int64 = 0
        for snapshot in doomed {
            guard let name = snapshot.metadata.name else { continue }
            do {
                try await client.delete(
                    Snapshot.self, namespace: key.namespace, name: name,
                    options: DeleteOptions(
                        preconditionUID: snapshot.metadata.uid,
                        preconditionResourceVersion: snapshot.metadata.resourceVersion))
                deleted += 1
            } catch {
                // Gone already, or changed since the decision: its own event brings it back here.
                if error.isNotFound || error.isConflict { continue }
                throw KubesnapError.api(
                    operation: "delete Snapshot \(key.namespace)/\(name) (retention)", underlying: error)
            }
        }
        if deleted > 0 {
            events.normal(
                object, reason: "RetentionApplied",
                message:
                    "deleted \(deleted) Snapshot(s) the retention policy does not keep: \(doomed.compactMap(\.metadata.name).joined(separator: ", "))"
            )
        }
        return RetentionOutcome(kept: kept, deletedNow: deleted, wouldDelete: nil, now: now)
    }

    /// The decision per repository over the schedule's own Snapshots in the cache.
    func retentionDecisions(for key: ObjectKey, policy: RetentionPolicy, now: Date, zone: TimeZone)
        -> [(repository: String, decision: RetentionDecision, delete: [Snapshot])]
    {
        let owned = snapshots.byIndex(BackupScheduleIndex.snapshotsBySchedule, BackupScheduleIndex.value(key))
        let inUse = Set(
            restores.list(namespace: key.namespace).filter { !(($0.status?.phase ?? .pending).isFinished) }
                .map(\.spec.snapshot))
        let byRepository = Dictionary(grouping: owned, by: \.spec.repository)
        return byRepository.keys.sorted().map { repository in
            let group = byRepository[repository] ?? []
            let candidates = group.compactMap { Self.candidate($0, inUse: inUse) }
            let decision = Retention.decide(candidates, policy: policy, now: now, zone: zone)
            let byName = Dictionary(
                group.map { ($0.metadata.name ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            return (repository, decision, decision.delete.compactMap { byName[$0] })
        }
    }

    /// What retention knows of `snapshot`: its time, and whether it is busy, failed or Ready.
    static func candidate(_ snapshot: Snapshot, inUse: Set<String>) -> RetentionCandidate? {
        guard let name = snapshot.metadata.name else { return nil }
        let time =
            snapshot.status?.snapshotTime.flatMap(RFC3339.parse)
            ?? snapshot.metadata.creationTimestamp.flatMap(RFC3339.parse) ?? .distantFuture
        let state: RetentionCandidate.State
        if snapshot.metadata.deletionTimestamp != nil {
            state = .busy
        } else {
            switch snapshot.status?.phase ?? .pending {
            case .ready: state = .ready(verified: snapshot.status?.verificationStatus == "OK")
            case .failed: state = .failed
            default: state = .busy
            }
        }
        return RetentionCandidate(
            name: name, time: time, state: state, ownedBySchedule: true, inUse: inUse.contains(name))
    }
}
