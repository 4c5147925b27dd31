import KubeJSON

/// The pids of the restic processes this program is running right now. Share one registry
/// between every `ResticRepository` of a process so that stale-lock removal never touches a lock
/// that one of our own operations holds.
public final class ResticProcessRegistry: Sendable {
    /// One finished restic run, as reported to `observeRuns`.
    public struct Run: Sendable, Hashable {
        /// The subcommand (`backup`, `snapshots`, `forget`, ...; `cat config`, `list locks`).
        public var command: String
        public var seconds: Double
        /// `success`, a `ResticFailureKind` raw value, or `cancelled`.
        public var outcome: String
    }

    private let pids = Locked<[Int32: Int]>([:])
    private let observer = Locked<(@Sendable (Run) -> Void)?>(nil)

    public init() {}

    /// Calls `body` after each restic run of the repositories that share this registry.
    public func observeRuns(_ body: @escaping @Sendable (Run) -> Void) {
        observer.withLock { $0 = body }
    }

    func finished(_ run: Run) {
        observer.withLock { $0 }?(run)
    }

    /// The pids of the restic children that are running.
    public var runningPIDs: Set<Int32> { pids.withLock { Set($0.keys) } }

    func register(_ pid: Int32) { pids.withLock { $0[pid, default: 0] += 1 } }

    func unregister(_ pid: Int32) {
        pids.withLock { table in
            if let count = table[pid], count > 1 { table[pid] = count - 1 } else { table[pid] = nil }
        }
    }
}
