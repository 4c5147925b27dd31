import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging

/// Runs a BackupSession: one Snapshot per repository, named `<session>-<repository>`, with
/// `spec.invoker` and the three labels, and the session's phase summed up from theirs.
///
/// Deleting a session that is still running asks its unfinished Snapshots to cancel (the
/// `kubesnap.io/cancel-requested` annotation; they end Failed, reason Cancelled) and waits for
/// them to finish; it never deletes a Snapshot, so snapshot data outlives the session.
public struct BackupSessionReconciler: Reconciler {
    /// Set by a deleted BackupSession on its unfinished Snapshots (value: the session's UID).
    public static let cancelRequestedAnnotation = "kubesnap.io/cancel-requested"

    let client: KubeClient
    let snapshots: Store<Snapshot>
    let events: EventRecorder
    let finalizer: Finalizer<BackupSession>
    let status: StatusWriter<BackupSession>

    init(client: KubeClient, fieldManager: String, snapshots: Store<Snapshot>, events: EventRecorder) {
        self.client = client
        self.snapshots = snapshots
        self.events = events
        finalizer = Finalizer(name: Kubesnap.finalizer, client: client, fieldManager: fieldManager)
        status = StatusWriter(client: client, fieldManager: fieldManager)
    }

    public func reconcile(_ object: BackupSession) async throws -> ReconcileResult {
        guard let key = ObjectKey(object) else { return .done }
        return try await finalizer.reconcile(object) { event in
            switch event {
            case .apply(let object): return try await apply(object, key: key)
            case .cleanup(let object): return try await cleanup(object, key: key)
            }
        }
    }

    private func apply(_ object: BackupSession, key: ObjectKey) async throws -> ReconcileResult {
        let session = object
        let generation = session.metadata.generation ?? 1
        let current = session.status ?? BackupSessionStatus()
        if current.phase == .ready || current.phase == .failed, current.completionTime != nil {
            if current.observedGeneration != generation {
                try await status.update(object) { $0.observedGeneration = generation }
            }
            return .done
        }
        let errors = session.spec.invalidSpecErrors()
        guard errors.isEmpty else {
            try await finish(object, phase: .failed, reason: Kubesnap.Reason.invalidSpec, message: errors.joined(separator: "; "))
            return .done
        }
        let repositories = session.spec.repositories

        var entries: [BackupSessionSnapshot] = []
        var problems: [String] = []
        var created = 0
        for repository in repositories {
            let name = BackupSession.snapshotName(session: key.name, repository: repository)
            let snapshotKey = ObjectKey(namespace: key.namespace, name: name)
            if let existing = snapshots.get(snapshotKey) {
                if existing.spec.invoker != Invoker(kind: BackupSession.kind, name: key.name) {
                    problems.append("Snapshot \"\(name)\" exists and was not made by this BackupSession")
                    entries.append(BackupSessionSnapshot(name: name, repository: repository, phase: .failed))
                    continue
                }
                let phase = existing.status?.phase ?? .pending
                entries.append(BackupSessionSnapshot(name: name, repository: repository, phase: phase))
                continue
            }
            let recorded = current.snapshots?.first { $0.name == name }
            if let recorded, recorded.phase?.isFinished == true {
                entries.append(recorded)  // finished, then deleted by someone: keep what it was
                continue
            }
            try await createSnapshot(named: name, repository: repository, session: session, namespace: key.namespace)
            created += 1
            entries.append(BackupSessionSnapshot(name: name, repository: repository, phase: .pending))
        }
        if created > 0, current.startTime == nil {
            events.normal(object, reason: "Started", message: "created \(created) Snapshot(s) of \(session.spec.source.path)")
        }

        let finished = entries.allSatisfy { $0.phase?.isFinished == true }
        let anyFailed = entries.contains { $0.phase == .failed }
        let phase: BackupSessionPhase = finished ? (anyFailed ? .failed : .ready) : .running
        let startTime = current.startTime ?? Conditions.timestamp(Date())
        let completionTime = finished ? (current.completionTime ?? Conditions.timestamp(Date())) : nil
        let summary = BackupSessionStatus.summary(of: entries)
        let message: String
        switch phase {
        case .ready: message = "all \(entries.count) Snapshot(s) are Ready"
        case .failed:
            let failedNames = entries.filter { $0.phase == .failed }.map(\.name)
            message = "Snapshot(s) failed: \(failedNames.joined(separator: ", "))" + (problems.isEmpty ? "" : "; " + problems.joined(separator: "; "))
        default: message = "\(summary) Snapshot(s) Ready"
        }
        let updated = try await status.update(object) { status in
            status.phase = phase
            status.snapshots = entries
            status.snapshotsSummary = summary
            status.startTime = startTime
            status.completionTime = completionTime
            if let completionTime, let start = Self.parse(startTime), let end = Self.parse(completionTime) {
                status.duration = BackupSessionStatus.formatDuration(seconds: Int64(end.timeIntervalSince(start)))
            } else {
                status.duration = nil
            }
            status.observedGeneration = generation
            status.conditions.set(
                Kubesnap.ConditionType.ready, phase == .ready ? true : (phase == .failed ? false : nil),
                reason: phase == .ready ? "Completed" : (phase == .failed ? Kubesnap.Reason.backupFailed : "Running"),
                message: message, generation: generation)
        }
        if updated != nil, finished {
            if anyFailed {
                events.warning(object, reason: Kubesnap.Reason.backupFailed, message: message)
            } else {
                events.normal(object, reason: "Completed", message: message)
            }
        }
        return .done
    }

    private func createSnapshot(named name: String, repository: String, session: BackupSession, namespace: String) async throws {
        let sessionName = session.metadata.name ?? ""
        let snapshot = Snapshot(
            metadata: ObjectMeta(
                name: name, namespace: namespace,
                labels: [
                    Kubesnap.Label.repository: repository,
                    Kubesnap.Label.invokerKind: BackupSession.kind,
                    Kubesnap.Label.invokerName: sessionName,
                ].merging(Self.inheritedLabels(of: session)) { own, _ in own }),
            spec: SnapshotSpec(
                repository: repository, source: session.spec.source, deletionPolicy: session.spec.deletionPolicy,
                invoker: Invoker(kind: BackupSession.kind, name: sessionName)))
        do {
            _ = try await client.create(snapshot)
        } catch {
            if error.isAlreadyExists { return }  // the cache had not seen it yet
            throw KubesnapError.api(operation: "create Snapshot \(namespace)/\(name)", underlying: error)
        }
    }

    /// The labels a session passes on to its Snapshots: the schedule's (a scheduled run's
    /// Snapshots carry `kubesnap.io/schedule` too, which scopes the schedule's retention).
    static func inheritedLabels(of session: BackupSession) -> [String: String] {
        guard let schedule = session.metadata.labels?[Kubesnap.Label.schedule] else { return [:] }
        return [Kubesnap.Label.schedule: schedule]
    }

    private func cleanup(_ object: BackupSession, key: ObjectKey) async throws -> ReconcileResult {
        let invoked = snapshots.byIndex(
            SnapshotIndex.byInvoker,
            SnapshotIndex.invokerValue(namespace: key.namespace, kind: BackupSession.kind, name: key.name))
        var unfinished = 0
        for snapshot in invoked {
            let phase = snapshot.status?.phase ?? .pending
            guard !phase.isFinished, snapshot.metadata.deletionTimestamp == nil, let name = snapshot.metadata.name else { continue }
            unfinished += 1
            if snapshot.metadata.annotations?[Self.cancelRequestedAnnotation] == nil {
                let patch: JSONValue = ["metadata": ["annotations": [Self.cancelRequestedAnnotation: .string(object.metadata.uid ?? "true")]]]
                do {
                    _ = try await client.patch(Snapshot.self, namespace: key.namespace, name: name, patchType: .merge, patch)
                } catch {
                    if !error.isNotFound { throw KubesnapError.api(operation: "cancel Snapshot \(key.namespace)/\(name)", underlying: error) }
                }
                events.normal(object, reason: "Cancelling", message: "cancelling Snapshot \(name): the BackupSession is being deleted")
            }
        }
        if unfinished > 0 { return .requeue(after: .seconds(1)) }
        return .done
    }

    private func finish(_ object: BackupSession, phase: BackupSessionPhase, reason: String, message: String) async throws {
        let generation = object.metadata.generation ?? 1
        let updated = try await status.update(object) { status in
            status.phase = phase
            status.completionTime = status.completionTime ?? Conditions.timestamp(Date())
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil { events.warning(object, reason: reason, message: message) }
    }

    static func parse(_ text: String) -> Date? {
        RFC3339.parse(text)
    }
}
