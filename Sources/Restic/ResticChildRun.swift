import ChildProcesses
import Foundation

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

extension ChildResult {
    /// Runs one restic child with `ChildProcessRunner`: cancelling the calling task sends
    /// `policy.signal`, then SIGKILL after the grace period, waits for the child to be gone, and
    /// throws `CancellationError`. Its pid is in `registry` while it runs.
    static func run(
        executable: String,
        arguments: [String],
        environment: [String: String],
        stdout destination: StdoutDestination,
        policy: CancellationPolicy,
        registry: ResticProcessRegistry?
    ) async throws -> ChildResult {
        let output: ChildProcessRunner.Output
        switch destination {
        case .capture: output = .captureAll
        case .stream(let sink): output = .stream(sink)
        case .discard: output = .discard
        }
        var runner = ChildProcessRunner(
            executable: executable, arguments: arguments, environment: environment,
            standardOutput: output, standardError: .capture(limit: Self.standardErrorLimit),
            stopSignal: policy.signal, gracePeriod: policy.gracePeriod)
        if let registry {
            runner.onLifecycle = { pid, started in
                if started { registry.register(pid) } else { registry.unregister(pid) }
            }
        }
        let result: ChildProcessResult
        do {
            result = try await runner.run()
        } catch {
            switch error {
            case .cannotStart(let spawn): throw ResticError.executableNotFound(spawn.description)
            case .cancelled, .timedOut: throw CancellationError()
            }
        }
        return ChildResult(
            exitCode: result.status, wasSignalled: result.signalled, stdout: result.standardOutput,
            stderr: String(decoding: result.standardError, as: UTF8.self))
    }

    /// restic's standard error kept for classification and messages: warnings for a backup's
    /// unreadable files come one a line, and a million of them are still below this.
    static let standardErrorLimit = 256 << 20
}
