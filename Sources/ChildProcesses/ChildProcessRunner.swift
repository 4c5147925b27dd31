#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import Dispatch
import Foundation

/// Runs one child process to completion: the one way kubesnap and its tests run a command
/// (restic, exec credential plugins, kubectl and the like in tests).
///
/// The child is started with `SpawnedProcess`; its input is written and its pipes are drained by
/// blocking calls on threads of their own, and its exit is awaited, so no Swift cooperative
/// thread ever blocks. `run()` returns once the child has exited and its output has been read to
/// end of file.
///
/// A child is stopped (`stopSignal`, then SIGKILL if it is still running `gracePeriod` later)
/// when the calling task is cancelled (`run()` then throws `.cancelled`) or when `timeout`
/// passes (`.timedOut`). Either way `run()` returns only once the child is gone.
public struct ChildProcessRunner: Sendable {
    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        /// Collected in memory up to `limit` bytes; the rest is read and dropped
        /// (`ChildProcessResult.standardOutputTruncated` says so).
        case capture(limit: Int)
        /// Each chunk is handed to the closure, on a reader thread; nothing is kept.
        case stream(@Sendable (Data) -> Void)
        /// Straight to /dev/null, through no pipe (gigabytes cost nothing to throw away).
        case discard
        /// This process's own descriptor (an exec plugin's prompts and errors, as kubectl does).
        case inherit

        /// `capture` with no practical limit.
        public static let captureAll = Output.capture(limit: .max)
    }

    /// An absolute path, or a name looked up in PATH.
    public var executable: String
    /// Not including argv[0].
    public var arguments: [String]
    /// nil passes this process's environment.
    public var environment: [String: String]?
    /// The child's working directory; nil keeps this process's.
    public var directory: String?
    /// Written to the child's standard input, which is then closed; nil connects /dev/null.
    public var input: Data?
    public var standardOutput: Output
    public var standardError: Output
    /// The first signal of a stop (SIGINT lets restic remove its lock).
    public var stopSignal: Int32
    /// How long the child may take to exit after `stopSignal` before it gets SIGKILL.
    public var gracePeriod: Duration
    /// A child still running by then is stopped and `run()` throws `.timedOut`; nil: no limit.
    public var timeout: Duration?
    /// Called with the pid once the child is started, and again (`started` false) once it has
    /// exited and been reaped: a registry of running children (restic's) hooks in here.
    public var onLifecycle: (@Sendable (_ pid: Int32, _ started: Bool) -> Void)?

    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        input: Data? = nil, standardOutput: Output = .captureAll, standardError: Output = .captureAll,
        stopSignal: Int32 = SIGTERM, gracePeriod: Duration = .seconds(10), timeout: Duration? = nil,
        onLifecycle: (@Sendable (_ pid: Int32, _ started: Bool) -> Void)? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.input = input
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.stopSignal = stopSignal
        self.gracePeriod = gracePeriod
        self.timeout = timeout
        self.onLifecycle = onLifecycle
    }

    /// Runs the child to its end. Throws `.cannotStart` when it could not be spawned,
    /// `.cancelled` when the calling task was cancelled and the child was stopped for it (a child
    /// that had already exited is reported normally), and `.timedOut` when `timeout` passed.
    public func run() async throws(ChildProcessError) -> ChildProcessResult {
        if Task.isCancelled { throw .cancelled }
        let child: SpawnedProcess
        do {
            child = try SpawnedProcess(
                executable: executable, arguments: arguments, environment: environment, directory: directory,
                standardInput: input == nil ? .null : .pipe,
                standardOutput: standardOutput.spawnStream, standardError: standardError.spawnStream)
        } catch {
            throw .cannotStart(error)
        }
        onLifecycle?(child.pid, true)
        defer { onLifecycle?(child.pid, false) }

        if let input, let standardInput = child.standardInput {
            // A broken pipe (a child that does not read its input) shows as EPIPE, not SIGPIPE:
            // kubesnap ignores SIGPIPE, as every server does.
            SpawnedProcess.onOwnThread {
                input.withUnsafeBytes { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let written = write(standardInput.fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                        if written > 0 {
                            offset += written
                        } else if written < 0 && errno == EINTR {
                            continue
                        } else {
                            break
                        }
                    }
                }
                try? standardInput.close()
            }
        }
        let stdout = Collector(standardOutput)
        let stderr = Collector(standardError)
        let group = DispatchGroup()
        if let handle = child.standardOutput { Self.drain(handle, into: stdout, group: group) }
        if let handle = child.standardError { Self.drain(handle, into: stderr, group: group) }

        let stopState = StopState()
        let (stopSignal, gracePeriod) = (stopSignal, gracePeriod)
        @Sendable func stop(_ reason: ChildProcessStopReason) {
            guard stopState.claim(reason) else { return }
            if !child.requestStop(signal: stopSignal, gracePeriod: gracePeriod) { stopState.unclaim() }
        }
        let timer = timeout.map { timeout in
            let item = DispatchWorkItem { stop(.timedOut) }
            DispatchQueue.global().asyncAfter(deadline: .now() + Self.dispatchInterval(timeout), execute: item)
            return item
        }
        let termination = await withTaskCancellationHandler {
            let termination = await child.termination()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                group.notify(queue: .global()) { continuation.resume() }
            }
            return termination
        } onCancel: {
            stop(.cancelled)
        }
        timer?.cancel()

        let result = ChildProcessResult(
            status: termination.status, signalled: termination.signalled,
            standardOutput: stdout.bytes, standardError: stderr.bytes,
            standardOutputTruncated: stdout.truncated, standardErrorTruncated: stderr.truncated)
        switch stopState.reason {
        case .cancelled?: throw .cancelled
        case .timedOut?: throw .timedOut(after: timeout ?? .zero, result)
        case nil: return result
        }
    }

    static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return .never }
        return .nanoseconds(Int(clamping: nanoseconds.partialValue + attoseconds / 1_000_000_000))
    }

    /// Reads `handle` to end of file on a thread of its own (a blocking read must hold neither
    /// the cooperative pool nor a dispatch worker), handing each chunk to `collector`.
    private static func drain(_ handle: FileHandle, into collector: Collector, group: DispatchGroup) {
        group.enter()
        let fd = handle.fileDescriptor
        SpawnedProcess.onOwnThread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    buffer.withUnsafeBytes { collector.take(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
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

    /// One output stream's bytes, written by its reader thread and read once the child is done.
    private final class Collector: @unchecked Sendable {
        private let output: Output
        private let lock = NSLock()
        private var kept = Data()
        private var dropped = false

        init(_ output: Output) { self.output = output }

        func take(_ chunk: UnsafeRawBufferPointer) {
            switch output {
            case .capture(let limit):
                lock.withLock {
                    let room = max(0, limit - kept.count)
                    if chunk.count > room { dropped = true }
                    kept.append(contentsOf: chunk.prefix(room))
                }
            case .stream(let sink): sink(Data(chunk))
            case .discard, .inherit: break
            }
        }

        var bytes: Data { lock.withLock { kept } }
        var truncated: Bool { lock.withLock { dropped } }
    }

    /// Why the runner stopped the child, claimed once.
    private final class StopState: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed: ChildProcessStopReason?

        func claim(_ reason: ChildProcessStopReason) -> Bool {
            lock.withLock {
                guard claimed == nil else { return false }
                claimed = reason
                return true
            }
        }

        /// The child had exited already: it was not stopped.
        func unclaim() { lock.withLock { claimed = nil } }

        var reason: ChildProcessStopReason? { lock.withLock { claimed } }
    }
}

extension ChildProcessRunner.Output {
    fileprivate var spawnStream: SpawnedProcess.Stream {
        switch self {
        case .capture, .stream: .pipe
        case .discard: .null
        case .inherit: .inherit
        }
    }
}

/// Why `ChildProcessRunner` stopped a child.
enum ChildProcessStopReason: Sendable {
    case cancelled
    case timedOut
}

/// What a child run to completion printed and how it exited.
public struct ChildProcessResult: Sendable {
    /// The exit code, or the signal's number when `signalled`.
    public var status: Int32
    /// Whether the child ended by a signal rather than `exit`.
    public var signalled: Bool
    /// What a `.capture` output collected (empty for the other kinds).
    public var standardOutput: Data
    public var standardError: Data
    /// Whether more was written than the capture's limit kept.
    public var standardOutputTruncated: Bool
    public var standardErrorTruncated: Bool

    /// Exited with status 0.
    public var succeeded: Bool { status == 0 && !signalled }
}

/// Why `ChildProcessRunner.run()` did not return a result.
public enum ChildProcessError: Error, Sendable, CustomStringConvertible {
    /// The child could not be spawned.
    case cannotStart(SpawnError)
    /// The calling task was cancelled; the child was stopped and is gone.
    case cancelled
    /// The child ran longer than the runner's timeout; it was stopped and is gone. The result
    /// holds what it printed until then.
    case timedOut(after: Duration, ChildProcessResult)

    public var description: String {
        switch self {
        case .cannotStart(let error): error.description
        case .cancelled: "cancelled"
        case .timedOut(let after, _): "did not finish in \(after)"
        }
    }
}
