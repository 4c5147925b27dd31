#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import Dispatch
import Foundation

/// A child process started with `posix_spawn`, for everything kubesnap and its tests run
/// (restic, kubectl, the operator under test).
///
/// Why not Foundation's `Process`: on Linux, `Process.run()` (swift-corelibs-foundation up to at
/// least Swift 6.3.1) over-reads a `dirent` while it scans `/proc/self/fd` and crashes with
/// SIGSEGV in a `memcpy` now and then (swift-corelibs-foundation#5472); kubesnap saw it in CI and
/// in benchmarks. This type spawns directly:
///
/// - pipes are made close-on-exec (`pipe2(O_CLOEXEC)`), so no other child inherits an end of
///   them (an inherited write end keeps a reader from ever seeing end of file); the child gets
///   its three standard descriptors and, where glibc has `closefrom` actions (2.34+), nothing
///   else;
/// - signal dispositions are reset to their defaults and the signal mask emptied in the child
///   (this process ignores SIGPIPE; restic must not inherit that);
/// - `signal(_:)` never reaches a recycled pid: exit is first observed without reaping
///   (`waitid(WNOWAIT)`), then marked, and only then reaped, and signals are sent only while
///   not marked.
public final class SpawnedProcess: Sendable {
    /// Where a standard descriptor of the child goes.
    public enum Stream: Sendable {
        /// /dev/null.
        case null
        /// A pipe; this side's end is `standardInput`/`standardOutput`/`standardError`.
        case pipe
        /// A file, created if missing, appended to.
        case file(String)
        /// Standard error only: the same as standard output.
        case sameAsStandardOutput
        /// This process's own descriptor.
        case inherit
    }

    /// How the child ended.
    public struct Termination: Sendable, Equatable {
        /// The exit code, or the signal's number when `signalled`.
        public var status: Int32
        public var signalled: Bool
    }

    public let pid: pid_t
    /// This side of the child's standard input pipe (`.pipe`), to write to and close.
    public let standardInput: FileHandle?
    /// This side of the child's standard output pipe (`.pipe`), to read until end of file.
    public let standardOutput: FileHandle?
    public let standardError: FileHandle?

    private let state = NSLock()
    private nonisolated(unsafe) var exited = false
    private nonisolated(unsafe) var termination: Termination?
    private nonisolated(unsafe) var waiters: [CheckedContinuation<Termination, Never>] = []
    private let exitedSemaphore = DispatchSemaphore(value: 0)

    /// Starts `executable` (an absolute path, or a name looked up in PATH) with `arguments`
    /// (not including argv[0]). `environment` nil passes this process's environment.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        standardInput stdin: Stream = .null, standardOutput stdout: Stream = .null, standardError stderr: Stream = .null
    ) throws(SpawnError) {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // Descriptors the parent keeps (its ends of pipes) and those closed after the spawn.
        var parentEnds: [Int32: Int32] = [:]  // child fd → parent's end
        var childEnds: [Int32] = []
        func closeAll(_ fds: [Int32]) { for fd in fds { close(fd) } }
        func arrange(_ stream: Stream, as target: Int32) throws(SpawnError) {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(
                    &fileActions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard Self.closeOnExecPipe(&fds) else {
                    let code = errno
                    closeAll(Array(parentEnds.values) + childEnds)
                    throw SpawnError(executable: executable, errno: code, during: "pipe2")
                }
                let (childEnd, parentEnd) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
                parentEnds[target] = parentEnd
                childEnds.append(childEnd)
                posix_spawn_file_actions_adddup2(&fileActions, childEnd, target)
            case .file(let path):
                posix_spawn_file_actions_addopen(&fileActions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .sameAsStandardOutput:
                posix_spawn_file_actions_adddup2(&fileActions, 1, target)
            case .inherit:
                break
            }
        }
        try arrange(stdin, as: 0)
        try arrange(stdout, as: 1)
        try arrange(stderr, as: 2)
        if let directory, !Self.addChdir(&fileActions, directory) {
            closeAll(Array(parentEnds.values) + childEnds)
            throw SpawnError(executable: executable, errno: ENOSYS, during: "posix_spawn_file_actions_addchdir_np")
        }
        Self.addCloseFrom(&fileActions, 3)

        let argv = [executable] + arguments
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let result = Self.withCStrings(argv) { argvPointer in
            Self.withCStrings(envp) { envpPointer in
                executable.contains("/")
                    ? posix_spawn(&child, executable, &fileActions, &attributes, argvPointer, envpPointer)
                    : posix_spawnp(&child, executable, &fileActions, &attributes, argvPointer, envpPointer)
            }
        }
        closeAll(childEnds)
        guard result == 0 else {
            closeAll(Array(parentEnds.values))
            throw SpawnError(executable: executable, errno: result, during: "posix_spawn")
        }
        pid = child
        standardInput = parentEnds[0].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        standardOutput = parentEnds[1].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        standardError = parentEnds[2].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        startWaiter()
    }

    /// Whether the child has exited (it may not be reaped yet).
    public var isRunning: Bool { state.withLock { !exited } }

    /// How it ended; nil while running.
    public var terminationResult: Termination? { state.withLock { termination } }

    /// Sends `signal` unless the child has exited (its pid could then be another process's).
    /// Returns whether it was sent.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        state.withLock {
            guard !exited else { return false }
            return kill(pid, signal) == 0
        }
    }

    /// Starts stopping the child: `signal` now, and SIGKILL if it is still running
    /// `gracePeriod` later. Returns at once; false when the child had exited already (nothing
    /// was sent).
    @discardableResult
    public func requestStop(signal first: Int32 = SIGTERM, gracePeriod: Duration) -> Bool {
        guard signal(first) else { return false }
        if first != SIGKILL {
            let delay = ChildProcessRunner.dispatchInterval(gracePeriod)
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in signal(SIGKILL) }
        }
        return true
    }

    /// Stops the child (`signal`, then SIGKILL after `gracePeriod`) and waits until it is gone.
    /// A child that needed SIGKILL ends `signalled` with status SIGKILL.
    public func stop(signal first: Int32 = SIGTERM, gracePeriod: Duration) async -> Termination {
        requestStop(signal: first, gracePeriod: gracePeriod)
        return await termination()
    }

    /// Waits for the child to end, without blocking Swift's cooperative pool.
    public func termination() async -> Termination {
        await withCheckedContinuation { continuation in
            let done: Termination? = state.withLock {
                if let termination { return termination }
                waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Blocks the calling thread until the child ends (for synchronous clean-up paths).
    public func waitUntilExit() -> Termination {
        if let done = terminationResult { return done }
        exitedSemaphore.wait()
        exitedSemaphore.signal()
        return terminationResult ?? Termination(status: -1, signalled: false)
    }

    /// A thread of its own waits for the exit: a blocking wait must neither hold Swift's
    /// cooperative pool nor a dispatch worker (libdispatch keeps about one per core, so a few
    /// blocked waiters would starve every other queued block). It waits first without reaping,
    /// so that `signal` can stop sending before the pid is freed.
    private func startWaiter() {
        let pid = self.pid
        Self.onOwnThread { [self] in
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            state.withLock { exited = true }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let low = status & 0x7f
            let ended =
                low == 0
                ? Termination(status: (status >> 8) & 0xff, signalled: false)
                : Termination(status: low, signalled: true)
            let resume = state.withLock { () -> [CheckedContinuation<Termination, Never>] in
                termination = ended
                defer { waiters = [] }
                return waiters
            }
            exitedSemaphore.signal()
            for continuation in resume { continuation.resume(returning: ended) }
        }
    }

    /// Runs `body` on a new thread (for blocking system calls).
    public static func onOwnThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread { body() }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// Runs `body` on a new thread and returns its result: no Swift cooperative thread waits
    /// for the blocking calls in it.
    public static func valueOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            onOwnThread { continuation.resume(returning: body()) }
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    // glibc extensions, looked up at run time (not in the Glibc module's headers).
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    /// `pipe2(O_CLOEXEC)`, atomically close-on-exec; else `pipe` then `fcntl` (a child spawned
    /// between the two by another thread is still covered by the closefrom action).
    private static func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
        if let pipe2 = glibcFunction("pipe2", as: Pipe2.self) {
            return pipe2(&fds, O_CLOEXEC) == 0
        }
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    private static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ directory: String) -> Bool {
        guard let addChdir = glibcFunction("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) else {
            return false
        }
        return addChdir(&actions, directory) == 0
    }

    private static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
        guard let addCloseFrom = glibcFunction("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)
        else { return }
        _ = addCloseFrom(&actions, lowest)
    }
}

/// A child that could not be started.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public var executable: String
    public var errno: Int32
    public var during: String
    public var description: String {
        "cannot start \(executable): \(during): \(String(cString: strerror(errno)))"
    }
}

/// A C function of the C library that the Glibc module does not declare (GNU extensions such as
/// `pipe2`, `mallopt`), looked up at run time; nil where this libc lacks it. `Function` must be
/// the matching `@convention(c)` type.
public func glibcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}
