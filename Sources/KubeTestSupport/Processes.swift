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

/// Runs a command to completion (`ChildProcessRunner`), capturing its output. A command still
/// running at `timeout` is killed and reported as an error.
public func runCommand(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    input: String? = nil,
    directory: String? = nil,
    timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    let runner = ChildProcessRunner(
        executable: executable, arguments: arguments, environment: environment, directory: directory,
        input: input.map { Data($0.utf8) }, stopSignal: SIGKILL, timeout: timeout)
    let result: ChildProcessResult
    do {
        result = try await runner.run()
    } catch {
        switch error {
        case .cancelled: throw CancellationError()
        case .cannotStart, .timedOut:
            throw CommandError(description: "\(executable) \(arguments.joined(separator: " ")): \(error)")
        }
    }
    return CommandResult(
        status: result.status,
        stdout: String(decoding: result.standardOutput, as: UTF8.self),
        stderr: String(decoding: result.standardError, as: UTF8.self))
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
    /// or nil if it was still running then (it is SIGKILLed and gone on return).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(20)) async -> Int32? {
        if let done = process.terminationResult { return done.status }
        let ended = await process.stop(signal: signal, gracePeriod: timeout)
        return signal != SIGKILL && ended.signalled && ended.status == SIGKILL ? nil : ended.status
    }

    /// SIGKILL, and wait for it to be gone.
    public func kill9() {
        guard process.isRunning else { return }
        process.signal(SIGKILL)
        _ = process.waitUntilExit()
    }
}
