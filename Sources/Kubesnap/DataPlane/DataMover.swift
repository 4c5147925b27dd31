import Foundation
import KubeController
import KubeJSON
import KubesnapAPI
import Restic

/// Runs the long data operations (backups, verifications) of Snapshots outside the reconcile
/// loop, as children of the operator's task, so that a reconcile never blocks on restic and a
/// deletion can cancel a running capture.
///
/// - At most one operation per Snapshot UID; at most one per source key (repository location
///   plus source path): a second Snapshot of the same source waits (`submit` says `.busy`) and
///   is re-enqueued when the source is free.
/// - At most `maxRunning` operations at once in this process (each restic backup or read-back
///   takes 100 to 180 MiB and a core): the others wait in line (`submit` says `.queued`), and
///   as slots free up the first in line are re-enqueued to try again. One woken that finds the
///   slot taken (by another woken one) goes back to its place in line, not to the end, so
///   Snapshots get their turn in the order they first queued.
/// - A finished operation's outcome is kept until the reconciler has written it to status
///   (`clearFinished`), and the Snapshot's key is reported on `completions`.
/// - Cancelling (`cancel(uid:)`) cancels the Swift task running restic; ResticRepository then
///   stops restic.
final class DataMover: Sendable {
    enum Kind: String, Sendable {
        case backup
        case verify
        /// A RestoreSession's restore (its key is a RestoreSession's, reported on
        /// `restoreCompletions`).
        case restore

        /// The holder of an operation of this kind, for messages: `RestoreSession "name"` or
        /// `Snapshot "name"`.
        func holder(_ key: ObjectKey) -> String {
            "\(self == .restore ? RestoreSession.kind : Snapshot.kind) \"\(key.name)\""
        }
    }

    enum Outcome: Sendable {
        case backedUp(BackupResult)
        case verified(SnapshotVerification)
        case restored(RestoredTree)
        /// A failure with an API.md reason; `transient` failures are retried.
        case failed(reason: String, message: String, transient: Bool)
        case cancelled
        /// The job gave up before touching any data (its Running status could not be recorded).
        case notStarted
    }

    struct Finished: Sendable {
        var kind: Kind
        var outcome: Outcome
        /// What the job was started for (the verify-requested value, say).
        var context: String
    }

    enum Status: Sendable {
        case running(Kind)
        case finished(Finished)
    }

    enum SubmitResult: Sendable, Equatable {
        case started
        /// Another object's operation (of `kind`: a RestoreSession's for `.restore`, else a
        /// Snapshot's) holds the source or an overlapping path.
        case busy(holder: ObjectKey, kind: Kind)
        /// An operation of this Snapshot runs already.
        case alreadyRunning
        /// Every slot is taken; the Snapshot is in line and is re-enqueued when one frees.
        case queued
    }

    private struct Job: Sendable {
        var key: ObjectKey
        var uid: String
        var kind: Kind
        var context: String
        var sourceKey: String?
        var pathKey: String?
        var cancel: Latch
        var body: @Sendable () async -> Outcome
    }

    private struct Running {
        var key: ObjectKey
        var kind: Kind
        var cancel: Latch
    }

    private struct State {
        var running: [String: Running] = [:]
        var finished: [String: Finished] = [:]
        var sources: [String: (uid: String, key: ObjectKey)] = [:]
        var sourceWaiters: [String: Set<ObjectKey>] = [:]
        /// Paths on the local filesystem held by an operation (a backup's source, a restore's
        /// target): another operation on the same path, or one inside or around it, waits.
        var paths: [String: (uid: String, key: ObjectKey)] = [:]
        var pathWaiters: [String: Set<ObjectKey>] = [:]
        /// Snapshots waiting for a slot, in the order they first queued (by ticket).
        var line: [(key: ObjectKey, ticket: Int)] = []
        var nextTicket = 0
        /// Snapshots taken from the front of the line to try for a freed slot, with their ticket
        /// and when: one that finds no slot goes back to its place. (An entry whose Snapshot
        /// never came back, deleted say, is dropped after `wokenKept`.)
        var woken: [ObjectKey: (ticket: Int, at: ContinuousClock.Instant)] = [:]
    }

    private let state = Locked(State())
    private let jobs: AsyncStream<Job>
    private let jobsContinuation: AsyncStream<Job>.Continuation
    /// Keys of Snapshots to reconcile again (an operation finished, a source became free).
    let completions: AsyncStream<ObjectKey>
    private let completionsContinuation: AsyncStream<ObjectKey>.Continuation
    /// Keys of RestoreSessions to reconcile again (their restore finished, or a path they wait
    /// for became free).
    let restoreCompletions: AsyncStream<ObjectKey>
    private let restoreCompletionsContinuation: AsyncStream<ObjectKey>.Continuation

    /// Operations allowed at once.
    let maxRunning: Int
    /// How long a woken Snapshot keeps its place in line.
    static let wokenKept: Duration = .seconds(600)
    /// Told the number of running operations and of Snapshots in line after each change (under
    /// the state's lock, so the last call is the current state).
    private let onChange: @Sendable (_ running: Int, _ queued: Int) -> Void

    init(maxRunning: Int, onChange: @escaping @Sendable (_ running: Int, _ queued: Int) -> Void = { _, _ in }) {
        self.maxRunning = max(1, maxRunning)
        self.onChange = onChange
        (jobs, jobsContinuation) = AsyncStream.makeStream(of: Job.self)
        (completions, completionsContinuation) = AsyncStream.makeStream(of: ObjectKey.self)
        (restoreCompletions, restoreCompletionsContinuation) = AsyncStream.makeStream(of: ObjectKey.self)
    }

    /// What this process does or did for `uid`.
    func status(uid: String) -> Status? {
        state.withLock { state in
            if let running = state.running[uid] { return .running(running.kind) }
            if let finished = state.finished[uid] { return .finished(finished) }
            return nil
        }
    }

    /// Whether any operation runs for the Snapshot `uid` in this process.
    func isRunning(uid: String) -> Bool { state.withLock { $0.running[uid] != nil } }

    /// Forgets a finished outcome once it is recorded in status.
    func clearFinished(uid: String) {
        _ = state.withLock { $0.finished.removeValue(forKey: uid) }
    }

    /// Starts `body` for the Snapshot `key`/`uid` unless it or its source is busy or every slot
    /// is taken.
    func submit(
        key: ObjectKey, uid: String, kind: Kind, context: String = "", sourceKey: String? = nil,
        pathKey: String? = nil, body: @escaping @Sendable () async -> Outcome
    ) -> SubmitResult {
        let cancel = Latch()
        let result = state.withLock { state -> SubmitResult in
            if state.running[uid] != nil { return .alreadyRunning }
            if let sourceKey, let holder = state.sources[sourceKey], holder.uid != uid {
                state.sourceWaiters[sourceKey, default: []].insert(key)
                return .busy(holder: holder.key, kind: state.running[holder.uid]?.kind ?? .backup)
            }
            if let pathKey, let (held, holder) = state.paths.first(where: { Self.overlaps($0.key, pathKey) && $0.value.uid != uid }) {
                state.pathWaiters[held, default: []].insert(key)
                return .busy(holder: holder.key, kind: state.running[holder.uid]?.kind ?? .backup)
            }
            if state.running.count >= maxRunning {
                if !state.line.contains(where: { $0.key == key }) {
                    if let woken = state.woken.removeValue(forKey: key) {
                        // Woken, but another took the slot: back to its place, not the end.
                        let place = state.line.firstIndex { $0.ticket > woken.ticket } ?? state.line.count
                        state.line.insert((key, woken.ticket), at: place)
                    } else {
                        state.line.append((key, state.nextTicket))
                        state.nextTicket += 1
                    }
                }
                onChange(state.running.count, state.line.count)
                return .queued
            }
            state.line.removeAll { $0.key == key }
            state.woken[key] = nil
            if let sourceKey { state.sources[sourceKey] = (uid, key) }
            if let pathKey { state.paths[pathKey] = (uid, key) }
            state.finished[uid] = nil
            state.running[uid] = Running(key: key, kind: kind, cancel: cancel)
            onChange(state.running.count, state.line.count)
            return .started
        }
        if result == .started {
            jobsContinuation.yield(
                Job(
                key: key, uid: uid, kind: kind, context: context, sourceKey: sourceKey, pathKey: pathKey, cancel: cancel,
                body: body))
        }
        return result
    }

    /// Cancels the operation of `uid`; returns whether one was running.
    @discardableResult
    func cancel(uid: String) -> Bool {
        guard let latch = state.withLock({ $0.running[uid]?.cancel }) else { return false }
        latch.open()
        return true
    }

    /// Whether one of two absolute paths is the other or lies inside it.
    static func overlaps(_ a: String, _ b: String) -> Bool {
        a == b || b.hasPrefix(a.hasSuffix("/") ? a : a + "/") || a.hasPrefix(b.hasSuffix("/") ? b : b + "/")
    }

    /// The Snapshot holding `sourceKey`, if any.
    func holder(of sourceKey: String) -> ObjectKey? { state.withLock { $0.sources[sourceKey]?.key } }

    /// Runs submitted operations until the task is cancelled (which cancels them all).
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await self.execute(job) }
            }
        }
    }

    private func execute(_ job: Job) async {
        let outcome: Outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { await job.body() }
            group.addTask {
                await job.cancel.wait()
                return nil
            }
            var outcome: Outcome?
            if let first = await group.next() {
                if let first {
                    outcome = first
                    group.cancelAll()
                } else {
                    // Cancel requested (or the mover stops): stop restic and keep what it did.
                    group.cancelAll()
                    while let next = await group.next() { if let next { outcome = next } }
                }
            }
            return outcome ?? .cancelled
        }
        let wake = state.withLock { state -> [ObjectKey] in
            state.running[job.uid] = nil
            state.finished[job.uid] = Finished(kind: job.kind, outcome: outcome, context: job.context)
            var keys: [ObjectKey] = []
            if let pathKey = job.pathKey, state.paths[pathKey]?.uid == job.uid {
                state.paths[pathKey] = nil
                keys += state.pathWaiters.removeValue(forKey: pathKey) ?? []
            }
            if let sourceKey = job.sourceKey, state.sources[sourceKey]?.uid == job.uid {
                state.sources[sourceKey] = nil
                keys += state.sourceWaiters.removeValue(forKey: sourceKey) ?? []
            }
            // The first in line try again (twice as many as free slots, in case some no longer
            // need one); those that lose the race go back to their place in line.
            let turn = min(state.line.count, 2 * (maxRunning - state.running.count))
            let now = ContinuousClock.now
            state.woken = state.woken.filter { now - $0.value.at < Self.wokenKept }
            for entry in state.line.prefix(turn) {
                state.woken[entry.key] = (entry.ticket, now)
                keys.append(entry.key)
            }
            state.line.removeFirst(turn)
            onChange(state.running.count, state.line.count)
            return keys
        }
        // The job's own key goes to its controller; the woken ones may be either kind's (a
        // Snapshot and a RestoreSession may share a name), so both are told: a reconcile of a
        // key that is not of its kind finds nothing and does nothing.
        if job.kind == .restore {
            restoreCompletionsContinuation.yield(job.key)
        } else {
            completionsContinuation.yield(job.key)
        }
        for key in wake {
            completionsContinuation.yield(key)
            restoreCompletionsContinuation.yield(key)
        }
    }
}
