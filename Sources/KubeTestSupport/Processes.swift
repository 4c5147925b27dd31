import Foundation

/// Serializes `Process.run()` in tests: Foundation's Process.run() was seen crashing (a memcpy
/// inside it) while many children were started at once.
let processLaunchLock = NSLock()

/// What a finished command printed and how it exited.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var succeeded: Bool { status == 0 }
    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// An error running a command (it could not be started, or it outlived its timeout).
public struct CommandError: Error, CustomStringConvertible {
    public var description: String
}

/// Runs a command to completion, capturing its output. A command still running at `timeout`
/// is killed and reported as an error.
public func runCommand(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    input: String? = nil,
    directory: String? = nil,
    timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment {
        process.environment = environment
    }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = try TemporaryDirectory(prefix: "cmd")
    defer { out.remove() }
    let stdoutPath = out.appending("stdout"), stderrPath = out.appending("stderr")
    _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
    _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
    let stdinPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdinPipe
    let finished = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { p in
        finished.continuation.yield(p.terminationStatus)
        finished.continuation.finish()
    }
    do {
        try processLaunchLock.withLock { try process.run() }
    } catch {
        throw CommandError(description: "cannot start \(executable): \(error)")
    }
    if let input {
        stdinPipe.fileHandleForWriting.write(Data(input.utf8))
        try? stdinPipe.fileHandleForWriting.close()
    }
    let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
        group.addTask {
            for await s in finished.stream { return s }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: timeout)  // the command's time limit
            return nil
        }
        let first = await group.next()!
        group.cancelAll()
        return first
    }
    guard let status else {
        process.terminate()
        kill(process.processIdentifier, SIGKILL)
        throw CommandError(description: "\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout)")
    }
    return CommandResult(
        status: status,
        stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
}

/// A long-running child process (an API server, an operator) whose output goes to a log file.
/// `stop()` or `kill()` it in a `defer`: tests clean up every process they start.
public final class ChildProcess: @unchecked Sendable {
    public let process: Process
    public let logPath: String

    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil, logPath: String
    ) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try processLaunchLock.withLock { try process.run() }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// What the process has written so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits (up to `timeout`) for the process to exit; returns its status,
    /// or nil if it is still running (then it is SIGKILLed).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, signal)
        do {
            try await waitUntil("process \(pid) to exit", timeout: timeout) {
                (!self.process.isRunning, "still running")
            }
            return process.terminationStatus
        } catch {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
    }

    /// SIGKILL, and wait for it to be gone.
    public func kill9() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}
