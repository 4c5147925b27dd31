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

    let context: ReconcileContext
    let finalizer: Finalizer
    let status: TypedStatusWriter<BackupSessionStatus>

    init(context: ReconcileContext) {
        self.context = context
        finalizer = Finalizer(name: Kubesnap.finalizer, resource: KubesnapResources.backupSessions, client: context.client)
        status = TypedStatusWriter(client: context.client, resource: KubesnapResources.backupSessions)
    }

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileResult {
        guard let object = context.backupSessions.get(key) else { return .done }
        return try await finalizer.reconcile(object) { event in
            switch event {
            case .apply(let object): return try await apply(object, key: key)
            case .cleanup(let object): return try await cleanup(object, key: key)
            }
        }
    }

    private func apply(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileResult {
        let session: BackupSession
        do {
            session = try object.decode(BackupSession.self)
        } catch {
            try await finish(object, phase: .failed, reason: Kubesnap.Reason.invalidSpec, message: "the BackupSession cannot be read: \(error)")
            return .done
        }
        let generation = session.metadata.generation ?? 1
        let current = session.status ?? BackupSessionStatus()
        if current.phase == .ready || current.phase == .failed, current.completionTime != nil {
            if current.observedGeneration != generation {
                try await status.update(object) { $0.observedGeneration = generation }
            }
            return .done
        }
        let repositories = session.spec.repositories
        if repositories.isEmpty {
            try await finish(object, phase: .failed, reason: Kubesnap.Reason.invalidSpec, message: "spec.repositories must name at least one Repository")
            return .done
        }
        if Set(repositories).count != repositories.count {
            try await finish(object, phase: .failed, reason: Kubesnap.Reason.invalidSpec, message: "spec.repositories names a Repository twice")
            return .done
        }

        var entries: [BackupSessionSnapshot] = []
        var problems: [String] = []
        var created = 0
        for repository in repositories {
            let name = BackupSession.snapshotName(session: key.name, repository: repository)
            let snapshotKey = ObjectKey(namespace: key.namespace, name: name)
            if let existing = context.snapshots.get(snapshotKey) {
                let invoker = existing["spec"]["invoker"]
                if invoker["kind"].stringValue != BackupSession.kind || invoker["name"].stringValue != key.name {
                    problems.append("Snapshot \"\(name)\" exists and was not made by this BackupSession")
                    entries.append(BackupSessionSnapshot(name: name, repository: repository, phase: .failed))
                    continue
                }
                let phase = existing["status"]["phase"].stringValue.map(SnapshotPhase.init(rawValue:)) ?? .pending
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
            context.events.normal(object, reason: "Started", message: "created \(created) Snapshot(s) of \(session.spec.source.path)")
        }

        let finished = entries.allSatisfy { $0.phase?.isFinished == true }
        let anyFailed = entries.contains { $0.phase == .failed }
        let phase: BackupSessionPhase = finished ? (anyFailed ? .failed : .ready) : .running
        let startTime = current.startTime ?? ReconcileContext.now()
        let completionTime = finished ? (current.completionTime ?? ReconcileContext.now()) : nil
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
                context.events.warning(object, reason: Kubesnap.Reason.backupFailed, message: message)
            } else {
                context.events.normal(object, reason: "Completed", message: message)
            }
        }
        return .done
    }

    private func createSnapshot(named name: String, repository: String, session: BackupSession, namespace: String) async throws {
        var spec: JSONValue = [
            "repository": .string(repository),
            "source": ["path": .string(session.spec.source.path)],
            "invoker": ["kind": .string(BackupSession.kind), "name": .string(session.metadata.name ?? "")],
        ]
        if let policy = session.spec.deletionPolicy { spec["deletionPolicy"] = .string(policy.rawValue) }
        let snapshot: JSONValue = [
            "apiVersion": .string(Kubesnap.apiVersion), "kind": .string(Snapshot.kind),
            "metadata": [
                "name": .string(name), "namespace": .string(namespace),
                "labels": [
                    Kubesnap.Label.repository: .string(repository),
                    Kubesnap.Label.invokerKind: .string(BackupSession.kind),
                    Kubesnap.Label.invokerName: .string(session.metadata.name ?? ""),
                ],
            ],
            "spec": spec,
        ]
        do {
            _ = try await context.client.create(KubesnapResources.snapshots, namespace: namespace, snapshot)
        } catch {
            if error.isAlreadyExists { return }  // the cache had not seen it yet
            throw KubesnapError.api(operation: "create Snapshot \(namespace)/\(name)", underlying: error)
        }
    }

    private func cleanup(_ object: JSONValue, key: ObjectKey) async throws -> ReconcileResult {
        let snapshots = context.snapshots.byIndex(
            KubesnapIndex.snapshotsByInvoker,
            KubesnapIndex.invokerValue(namespace: key.namespace, kind: BackupSession.kind, name: key.name))
        var unfinished = 0
        for snapshot in snapshots {
            let phase = snapshot["status"]["phase"].stringValue.map(SnapshotPhase.init(rawValue:)) ?? .pending
            guard !phase.isFinished, snapshot["metadata"]["deletionTimestamp"].isNull, let name = snapshot.name else { continue }
            unfinished += 1
            if snapshot["metadata"]["annotations"][Self.cancelRequestedAnnotation].isNull {
                let patch: JSONValue = ["metadata": ["annotations": [Self.cancelRequestedAnnotation: .string(object.uid ?? "true")]]]
                do {
                    _ = try await context.client.patch(KubesnapResources.snapshots, namespace: key.namespace, name: name, type: .merge, patch)
                } catch {
                    if !error.isNotFound { throw KubesnapError.api(operation: "cancel Snapshot \(key.namespace)/\(name)", underlying: error) }
                }
                context.events.normal(object, reason: "Cancelling", message: "cancelling Snapshot \(name): the BackupSession is being deleted")
            }
        }
        if unfinished > 0 { return .requeue(after: .seconds(1)) }
        return .done
    }

    private func finish(_ object: JSONValue, phase: BackupSessionPhase, reason: String, message: String) async throws {
        let generation = object["metadata"]["generation"].intValue ?? 1
        let updated = try await status.update(object) { status in
            status.phase = phase
            status.completionTime = status.completionTime ?? ReconcileContext.now()
            status.observedGeneration = generation
            status.conditions.set(Kubesnap.ConditionType.ready, false, reason: reason, message: message, generation: generation)
        }
        if updated != nil { context.events.warning(object, reason: reason, message: message) }
    }

    static func parse(_ text: String) -> Date? {
        RFC3339.parse(text)
    }
}
