import ChildProcesses
import Foundation


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
    let out = try TemporaryDirectory(prefix: "cmd")
    defer { out.remove() }
    let stdoutPath = out.appending("stdout"), stderrPath = out.appending("stderr")
    let child: SpawnedProcess
    do {
        child = try SpawnedProcess(
            executable: executable, arguments: arguments, environment: environment, directory: directory,
            standardInput: input == nil ? .null : .pipe, standardOutput: .file(stdoutPath),
            standardError: .file(stderrPath))
    } catch {
        throw CommandError(description: "\(error)")
    }
    if let input, let standardInput = child.standardInput {
        // A thread of its own: a blocking write must not hold the cooperative pool.
        SpawnedProcess.onOwnThread {
            standardInput.write(Data(input.utf8))
            try? standardInput.close()
        }
    }
    let termination: SpawnedProcess.Termination? = await withTaskGroup(of: SpawnedProcess.Termination?.self) { group in
        group.addTask { await child.termination() }
        group.addTask {
            try? await Task.sleep(for: timeout)  // the command's time limit
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
    guard let termination else {
        child.signal(SIGKILL)
        _ = await child.termination()
        throw CommandError(description: "\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout)")
    }
    return CommandResult(
        status: termination.status,
        stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
}

/// A long-running child process (an API server, an operator) whose output goes to a log file.
/// `stop()` or `kill()` it in a `defer`: tests clean up every process they start.
public final class ChildProcess: Sendable {
    public let process: SpawnedProcess
    public let logPath: String

    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil, logPath: String
    ) throws {
        self.logPath = logPath
        process = try SpawnedProcess(
            executable: executable, arguments: arguments, environment: environment, directory: directory,
            standardInput: .null, standardOutput: .file(logPath), standardError: .sameAsStandardOutput)
    }

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }
    /// The exit status (or the signal's number); nil while running.
    public var terminationStatus: Int32? { process.terminationResult?.status }

    /// What the process has written so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits (up to `timeout`) for the process to exit; returns its status,
    /// or nil if it is still running (then it is SIGKILLed).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) async -> Int32? {
        if let done = process.terminationResult { return done.status }
        process.signal(signal)
        let ended = await withTaskGroup(of: SpawnedProcess.Termination?.self) { group in
            group.addTask { await self.process.termination() }
            group.addTask {
                try? await Task.sleep(for: timeout)  // the grace period before SIGKILL
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let ended { return ended.status }
        process.signal(SIGKILL)
        _ = await process.termination()
        return nil
    }

    /// SIGKILL, and wait for it to be gone.
    public func kill9() {
        guard process.isRunning else { return }
        process.signal(SIGKILL)
        _ = process.waitUntilExit()
    }
}
