/// One fetch per key shared by every caller that needs a result *begun after it asked*.
///
/// A caller that must not act on an answer older than its own question (is this namespace being
/// deleted? which restic snapshots carry this tag?) waits for a fetch that started after it
/// asked; callers arriving while such a fetch runs share it, so a burst of a thousand questions
/// costs one or two fetches, not a thousand. Failed fetches are not kept.
actor FreshFetches<Value: Sendable> {
    struct Result: Sendable {
        let started: ContinuousClock.Instant
        let value: Value
    }

    private struct Running {
        let started: ContinuousClock.Instant
        let task: Task<Value, any Error>
    }

    private var running: [String: Running] = [:]
    private var latest: [String: Result] = [:]
    /// How long a result is kept after its fetch started (nil: until a newer one replaces it).
    private let retention: Duration?
    /// Results of fetches that started before this are not kept (see `forget`).
    private var forgotten: [String: ContinuousClock.Instant] = [:]
    /// Fetches started, for tests and metrics.
    private(set) var fetches = 0

    init(retention: Duration? = nil) {
        self.retention = retention
    }

    /// The newest kept result for `key`, however old.
    func newest(_ key: String) -> Result? { latest[key] }

    /// A result of a fetch that started at or after `asked`.
    func value(
        for key: String, startedAfter asked: ContinuousClock.Instant,
        fetch: @escaping @Sendable () async throws -> Value
    ) async throws -> Result {
        while true {
            if let result = latest[key], result.started >= asked { return result }
            if let current = running[key] {
                let result = try await finish(current, key: key)
                if result.started >= asked { return result }
                continue  // that fetch began before this call: wait for (or start) the next one
            }
            fetches += 1
            running[key] = Running(started: ContinuousClock.now, task: Task { try await fetch() })
        }
    }

    /// Waits for the fetch running for `key`, if any, and keeps its result.
    func awaitRunning(_ key: String) async throws {
        if let current = running[key] { _ = try await finish(current, key: key) }
    }

    /// Drops what is known of `key`: results of fetches begun before now are not used again.
    func forget(_ key: String) {
        latest[key] = nil
        forgotten[key] = ContinuousClock.now
    }

    private func finish(_ current: Running, key: String) async throws -> Result {
        let value: Value
        do {
            value = try await current.task.value
        } catch {
            if running[key]?.started == current.started { running[key] = nil }
            throw error
        }
        if running[key]?.started == current.started { running[key] = nil }
        let result = Result(started: current.started, value: value)
        let isNewest = (latest[key]?.started ?? current.started) <= current.started
        if isNewest, (forgotten[key] ?? current.started) <= current.started {
            latest[key] = result
            if let retention { expire(key, started: current.started, at: current.started + retention) }
        }
        return result
    }

    /// Drops the result of the fetch that began at `started` once `deadline` has passed (a
    /// snapshot listing of a large repository is megabytes; nothing needs it past its age).
    private func expire(_ key: String, started: ContinuousClock.Instant, at deadline: ContinuousClock.Instant) {
        Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)  // cancelled: drop now
            await self?.drop(key, started: started)
        }
    }

    private func drop(_ key: String, started: ContinuousClock.Instant) {
        if latest[key]?.started == started { latest[key] = nil }
    }
}
