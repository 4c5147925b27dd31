import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI

/// Runs a BackupSchedule: a BackupSession at each scheduled time, the last 10 sessions kept,
/// and retention over the schedule's Snapshots (`BackupScheduleReconciler+Retention.swift`).
///
/// `status.nextScheduleTime` is the state: the first scheduled time not yet handled. A
/// reconcile handles every time in `[nextScheduleTime, now]`: the latest one runs (unless it is
/// past `startingDeadlineSeconds`, the schedule is suspended, or the previous run is still
/// Running), the others are counted in `missedRuns` with an Event; then `nextScheduleTime`
/// moves past now and the reconcile asks to be requeued for it (never polling). A new or edited
/// spec (a new `metadata.generation`) only sets `nextScheduleTime` to the first time after now,
/// so nothing fires at creation or edit and resuming replays nothing.
///
/// Exactly once: a run is the BackupSession named after its scheduled time; a restarted
/// operator, a new leader, or two leaders for a moment that create it again get AlreadyExists,
/// which means "already started". Time comes from the injected `OperatorClock`.
///
/// The schedule has no finalizer: deleting it deletes nothing (its sessions and Snapshots stay).
public struct BackupScheduleReconciler: Reconciler {
    /// How many of its sessions a schedule keeps (older finished ones are deleted; deleting a
    /// session never deletes Snapshots).
    public static let keptSessions = 10

    let client: KubeClient
    let sessions: Store<BackupSession>
    let snapshots: Store<Snapshot>
    let repositories: Store<Repository>
    let restores: Store<RestoreSession>
    let events: EventRecorder
    let clock: any OperatorClock
    let sourceRoot: PathConfinement
    let status: StatusWriter<BackupSchedule>

    init(
        client: KubeClient, fieldManager: String, sessions: Store<BackupSession>, snapshots: Store<Snapshot>,
        repositories: Store<Repository>, restores: Store<RestoreSession>, events: EventRecorder,
        clock: any OperatorClock, sourceRoot: PathConfinement
    ) {
        self.client = client
        self.sessions = sessions
        self.snapshots = snapshots
        self.repositories = repositories
        self.restores = restores
        self.events = events
        self.clock = clock
        self.sourceRoot = sourceRoot
        status = StatusWriter(client: client, fieldManager: fieldManager)
    }

    public func reconcile(_ object: BackupSchedule) async throws -> ReconcileResult {
        guard let key = ObjectKey(object) else { return .done }
        // Nothing to clean up: sessions and Snapshots outlive their schedule.
        if object.metadata.deletionTimestamp != nil { return .done }
        let now = clock.now()
        guard case .proceed(let plan) = try await decide(object, key: key) else { return .done }
        let runs = try await handleDueRuns(object, plan: plan, key: key, now: now)
        let owned = ownedSessions(key)
        try await pruneSessions(owned, key: key)
        let retention = try await applyRetention(object, plan: plan, key: key, now: now)
        try await writeStatus(object, plan: plan, runs: runs, sessions: owned, retention: retention)
        return requeue(for: runs.next)
    }

    // MARK: - Step 1: the spec

    /// A valid spec, parsed.
    struct Plan: Sendable {
        var cron: CronSchedule
        var zone: TimeZone
        var generation: Int64
        /// Problems that do not stop runs (a Repository that does not exist): the Ready condition.
        var warnings: [String]
    }

    private func decide(_ object: BackupSchedule, key: ObjectKey) async throws -> ReconcileStep<Plan> {
        let generation = object.metadata.generation ?? 1
        var errors = object.invalidSpecErrors()
        if errors.isEmpty {
            do {
                _ = try sourceRoot.confine(object.spec.source.path, field: "spec.source.path")
            } catch {
                errors.append(error.message)
            }
        }
        guard errors.isEmpty, let cron = try? CronSchedule(parsing: object.spec.schedule),
            let zone = CronSchedule.timeZone(named: object.spec.timeZone)
        else {
            // (The `try?` cannot drop an error here: `invalidSpecErrors` parsed the same text.)
            let message = errors.joined(separator: "; ")
            try await status.update(object) { status in
                status.nextScheduleTime = nil
                status.observedGeneration = generation
                status.conditions.set(
                    Kubesnap.ConditionType.ready, false, reason: Kubesnap.Reason.invalidSpec,
                    message: message,
                    generation: generation)
            }
            if object.status?.observedGeneration != generation {
                events.warning(object, reason: Kubesnap.Reason.invalidSpec, message: message)
            }
            return .stop(.done)
        }
        var warnings: [String] = []
        for (index, name) in object.spec.repositories.enumerated()
        where repositories.get(ObjectKey(namespace: key.namespace, name: name)) == nil {
            warnings.append(
                "spec.repositories[\(index)]: Repository \"\(name)\" does not exist in namespace \"\(key.namespace)\" (its runs' Snapshots of it fail)"
            )
        }
        return .proceed(Plan(cron: cron, zone: zone, generation: generation, warnings: warnings))
    }

    // MARK: - Step 2: the runs due

    /// What handling the due runs found and did.
    struct Runs: Sendable {
        /// The `nextScheduleTime` this reconcile started from (nil: a new spec).
        var handledFrom: String?
        var next: Date?
        /// The run started (or found started), by scheduled time and session name.
        var started: (time: Date, session: String)?
        var missed: Int64 = 0
    }

    private func handleDueRuns(_ object: BackupSchedule, plan: Plan, key: ObjectKey, now: Date) async throws
        -> Runs
    {
        let current = object.status ?? BackupScheduleStatus()
        var runs = Runs(handledFrom: current.nextScheduleTime)
        runs.next = plan.cron.next(after: now, in: plan.zone)
        guard current.observedGeneration == plan.generation,
            let pending = current.nextScheduleTime.flatMap(RFC3339.parse), pending <= now
        else {
            // A new or edited spec starts nothing: its first run is the next time after now.
            if current.observedGeneration != plan.generation { runs.handledFrom = nil }
            return runs
        }
        guard let due = ScheduleTimes.due(plan.cron, from: pending, through: now, zone: plan.zone) else {
            return runs
        }
        let name = key.name
        let owned = ownedSessions(key)
        // Earlier times that already have a session (started before a restart that lost the
        // status write) are not missed.
        let alreadyRun = owned.filter { session in
            guard let time = Self.scheduledTime(of: session) else { return false }
            return time >= pending && time < due.latest
        }.count
        let earlier = max(0, due.count - 1 - Int64(alreadyRun))
        let sessionName = BackupSchedule.sessionName(schedule: name, time: due.latest)
        let exists = sessions.get(ObjectKey(namespace: key.namespace, name: sessionName)) != nil
        let lateBy = now.timeIntervalSince(due.latest)
        let latestText = Conditions.timestamp(due.latest)
        let earlierText =
            earlier > 0 ? "; \(earlier) earlier run(s) missed while the operator was not running" : ""

        if exists {
            runs.started = (due.latest, sessionName)
            runs.missed = earlier
        } else if object.spec.isSuspended {
            runs.missed = earlier + 1
            events.normal(
                object, reason: "Suspended",
                message: "run at \(latestText) not started: spec.suspend is true\(earlierText)")
            return runs
        } else if let deadline = object.spec.startingDeadlineSeconds, lateBy > Double(deadline) {
            runs.missed = earlier + 1
            events.warning(
                object, reason: "MissedRuns",
                message:
                    "run at \(latestText) missed by \(Int(lateBy))s, past startingDeadlineSeconds (\(deadline)): not run late\(earlierText)"
            )
            return runs
        } else if let running = owned.first(where: { !(($0.status?.phase ?? .pending).isFinished) }) {
            runs.missed = earlier + 1
            events.warning(
                object, reason: "RunSkipped",
                message:
                    "run at \(latestText) skipped: the previous run \(running.metadata.name ?? "") is still running\(earlierText)"
            )
            return runs
        } else {
            try await createSession(sessionName, at: due.latest, for: object, key: key)
            runs.started = (due.latest, sessionName)
            runs.missed = earlier
        }
        if earlier > 0 {
            events.warning(
                object, reason: "MissedRuns",
                message:
                    "\(earlier) run(s) missed while the operator was not running; only the latest, at \(latestText), was run late"
            )
        }
        return runs
    }

    private func createSession(_ name: String, at time: Date, for schedule: BackupSchedule, key: ObjectKey)
        async throws
    {
        let session = BackupSession(
            metadata: ObjectMeta(
                name: name, namespace: key.namespace, labels: [Kubesnap.Label.schedule: key.name],
                annotations: [Kubesnap.Annotation.scheduledTime: Conditions.timestamp(time)]),
            spec: BackupSessionSpec(
                source: schedule.spec.source, repositories: schedule.spec.repositories,
                deletionPolicy: schedule.spec.deletionPolicy))
        do {
            _ = try await client.create(session)
        } catch {
            // The name is the run's identity: another leader, or this operator before a
            // restart, started it.
            if error.isAlreadyExists { return }
            throw KubesnapError.api(
                operation: "create BackupSession \(key.namespace)/\(name)", underlying: error)
        }
    }

    /// The scheduled time of a session the schedule made (its annotation).
    static func scheduledTime(of session: BackupSession) -> Date? {
        session.metadata.annotations?[Kubesnap.Annotation.scheduledTime].flatMap(RFC3339.parse)
    }

    // MARK: - Step 3: the sessions

    /// The schedule's sessions in the cache, oldest first (names end in the UTC time, so their
    /// order is the time order).
    private func ownedSessions(_ key: ObjectKey) -> [BackupSession] {
        sessions.byIndex(BackupScheduleIndex.sessionsBySchedule, BackupScheduleIndex.value(key))
            .sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
    }

    /// Deletes the finished sessions older than the newest `keptSessions` (a running one is
    /// left to finish: deleting it would cancel its Snapshots).
    private func pruneSessions(_ owned: [BackupSession], key: ObjectKey) async throws {
        for session in owned.dropLast(Self.keptSessions) {
            guard (session.status?.phase ?? .pending).isFinished, session.metadata.deletionTimestamp == nil,
                let name = session.metadata.name
            else { continue }
            do {
                try await client.delete(
                    BackupSession.self, namespace: key.namespace, name: name,
                    options: DeleteOptions(preconditionUID: session.metadata.uid))
            } catch {
                if error.isNotFound || error.isConflict { continue }  // gone, or another object by now
                throw KubesnapError.api(
                    operation: "delete BackupSession \(key.namespace)/\(name)", underlying: error)
            }
        }
    }

    // MARK: - Step 5: status

    private func writeStatus(
        _ object: BackupSchedule, plan: Plan, runs: Runs, sessions owned: [BackupSession],
        retention: RetentionOutcome?
    ) async throws {
        let generation = plan.generation
        var active = owned.filter { !(($0.status?.phase ?? .pending).isFinished) }.compactMap(\.metadata.name)
        if let started = runs.started, !owned.contains(where: { $0.metadata.name == started.session }) {
            active.append(started.session)  // just created: the cache has not seen it yet
        }
        let lastSuccess = owned.filter { $0.status?.phase == .ready }.compactMap {
            $0.status?.completionTime.flatMap(RFC3339.parse)
        }.max()
        let suspended = object.spec.isSuspended
        let nextText = runs.next.map(Conditions.timestamp)
        try await status.update(object) { status in
            // On a conflict the fresh status may show another writer (a second leader) handled
            // these runs already: then only what follows from the cache is written.
            let sameStart =
                status.observedGeneration == object.status?.observedGeneration
                && status.nextScheduleTime == runs.handledFrom
            if sameStart || runs.handledFrom == nil {
                if let started = runs.started {
                    status.lastScheduleTime = Conditions.timestamp(started.time)
                    status.lastSession = started.session
                }
                if runs.missed > 0 || status.missedRuns == nil {
                    status.missedRuns = (status.missedRuns ?? 0) + runs.missed
                }
                status.nextScheduleTime = nextText
            }
            status.active = active.isEmpty ? nil : active
            if let lastSuccess {
                let known = status.lastSuccessfulTime.flatMap(RFC3339.parse)
                if known == nil || lastSuccess > known! {
                    status.lastSuccessfulTime = Conditions.timestamp(lastSuccess)
                }
            }
            if let retention { status.retention = retention.status(after: status.retention) }
            status.observedGeneration = generation
            let (ready, reason, message): (Bool, String, String)
            if !plan.warnings.isEmpty {
                (ready, reason, message) = (
                    false, Kubesnap.Reason.repositoryNotFound, plan.warnings.joined(separator: "; ")
                )
            } else if suspended {
                (ready, reason, message) = (
                    false, "Suspended", "spec.suspend is true: no runs start until it is false"
                )
            } else {
                (ready, reason, message) = (true, "Scheduled", "the next run is at \(nextText ?? "never")")
            }
            status.conditions.set(
                Kubesnap.ConditionType.ready, ready, reason: reason, message: message, generation: generation)
        }
    }

    /// Wakes the schedule at its next time: a timer on the wall clock; a manual clock's jumps
    /// wake every schedule instead.
    private func requeue(for next: Date?) -> ReconcileResult {
        guard let next, let delay = clock.delay(until: next) else { return .done }
        // A little late rather than early: an early wake finds nothing due and sleeps again.
        return .requeue(after: delay + .milliseconds(5))
    }
}
