import ChildProcesses
import Foundation
import KubeJSON

/// How a running restic child is stopped when the Swift task that waits for it is cancelled.
public struct CancellationPolicy: Sendable, Hashable {
    /// The first signal. restic 0.14 handles SIGINT by removing its lock and exiting; SIGTERM and
    /// SIGKILL end it without cleanup, so its lock stays behind (then stale, see
    /// `ResticRepository.removeStaleLocks`).
    public var signal: Int32
    /// How long restic may take to exit after `signal` before it gets SIGKILL.
    public var gracePeriod: Duration

    public init(signal: Int32 = SIGINT, gracePeriod: Duration = .seconds(10)) {
        self.signal = signal
        self.gracePeriod = gracePeriod
    }
}

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

/// What a finished child printed and how it exited.
struct ChildResult: Sendable {
    var exitCode: Int32
    /// Whether the child ended by a signal rather than `exit`.
    var wasSignalled: Bool
    var stdout: Data
    var stderr: String
    /// restic's failure kind, read from the stderr before it was redacted (a redacted short
    /// password could otherwise hide a word the classifier looks for).
    var classification: ResticFailureKind = .other
}

/// Where a child's standard output goes.
enum StdoutDestination: Sendable {
    var isDiscard: Bool { if case .discard = self { true } else { false } }

    /// Collected in memory and returned.
    case capture
    /// Each chunk is handed to the closure; nothing is kept.
    case stream(@Sendable (Data) -> Void)
    /// Straight to /dev/null, through no pipe: a verification's gigabytes of tar stream cost
    /// nothing to throw away (through a pipe they cost ~15% of the dump's time).
    case discard
}

/// Runs one child process to completion without blocking Swift's cooperative pool: it is
/// started with `SpawnedProcess` (posix_spawn; Foundation's `Process.run()` crashes now and then
/// on Linux), its pipes are drained by blocking reads on dispatch threads, and its exit is
/// awaited. Cancelling the calling task sends `policy.signal`, then SIGKILL after the grace
/// period, waits for the child to be gone, and throws `CancellationError`.
enum ChildProcessRunner {
    static func run(
        executable: String,
        arguments: [String],
        environment: [String: String],
        stdout destination: StdoutDestination,
        policy: CancellationPolicy,
        registry: ResticProcessRegistry?
    ) async throws -> ChildResult {
        try Task.checkCancellation()
        let child: SpawnedProcess
        do {
            child = try SpawnedProcess(
                executable: executable, arguments: arguments, environment: environment,
                standardInput: .null, standardOutput: destination.isDiscard ? .null : .pipe, standardError: .pipe)
        } catch {
            throw ResticError.executableNotFound(error.description)
        }
        let pid = child.pid
        registry?.register(pid)
        defer { registry?.unregister(pid) }

        let collected = Locked((stdout: Data(), stderr: Data()))
        let group = DispatchGroup()
        if let standardOutput = child.standardOutput {
            drain(standardOutput, group: group) { chunk in
                switch destination {
                case .capture: collected.withLock { $0.stdout.append(contentsOf: chunk) }
                case .stream(let sink): sink(Data(chunk))
                case .discard: break
                }
            }
        }
        if let standardError = child.standardError {
            drain(standardError, group: group) { chunk in
                collected.withLock { $0.stderr.append(contentsOf: chunk) }
            }
        }

        let signalSent = Locked(false)
        @Sendable func send(_ signal: Int32) {
            if child.signal(signal) { signalSent.withLock { $0 = true } }
        }
        let termination = await withTaskCancellationHandler {
            let termination = await child.termination()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                group.notify(queue: .global()) { continuation.resume() }
            }
            return termination
        } onCancel: {
            send(policy.signal)
            let grace = policy.gracePeriod.components
            let nanoseconds = grace.seconds * 1_000_000_000 + grace.attoseconds / 1_000_000_000
            DispatchQueue.global().asyncAfter(
                deadline: .now() + .nanoseconds(Int(clamping: nanoseconds))
            ) { send(SIGKILL) }
        }

        if signalSent.withLock({ $0 }) { throw CancellationError() }
        let output = collected.withLock { $0 }
        return ChildResult(
            exitCode: termination.status,
            wasSignalled: termination.signalled,
            stdout: output.stdout,
            stderr: String(decoding: output.stderr, as: UTF8.self))
    }

    /// Reads `handle` to end of file on a thread of its own (a blocking read must hold neither
    /// the cooperative pool nor a dispatch worker), handing each chunk to `consume`.
    private static func drain(
        _ handle: FileHandle, group: DispatchGroup,
        consume: @escaping @Sendable (UnsafeRawBufferPointer) -> Void
    ) {
        group.enter()
        let fd = handle.fileDescriptor
        SpawnedProcess.onOwnThread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    buffer.withUnsafeBytes { consume(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            try? handle.close()
            group.leave()
        }
    }
}
