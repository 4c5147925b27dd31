import ChildProcesses
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ChildProcessRunner` against real children (/bin/sh, cat, head).
@Suite struct ChildProcessRunnerTests {
    @Test func capturesBothStreamsTheExitStatusInputDirectoryAndEnvironment() async throws {
        let runner = ChildProcessRunner(
            executable: "/bin/sh",
            arguments: ["-c", #"cat; pwd; printf '%s' "$GREETING" >&2; exit 3"#],
            environment: ["GREETING": "hello", "PATH": "/usr/bin:/bin"], directory: "/tmp",
            input: Data("from stdin\n".utf8))
        let result = try await runner.run()
        #expect(String(decoding: result.standardOutput, as: UTF8.self) == "from stdin\n/tmp\n")
        #expect(String(decoding: result.standardError, as: UTF8.self) == "hello")
        #expect(result.status == 3 && !result.signalled && !result.succeeded)
    }

    @Test func aCaptureKeepsItsLimitAndSaysWhatItDropped() async throws {
        let runner = ChildProcessRunner(
            executable: "head", arguments: ["-c", "300000", "/dev/zero"], standardOutput: .capture(limit: 1000))
        let result = try await runner.run()
        #expect(result.succeeded, "head exited \(result.status)")
        #expect(result.standardOutput.count == 1000)
        #expect(result.standardOutputTruncated)
        #expect(!result.standardErrorTruncated)
    }

    @Test func aChildThatIgnoresTheStopSignalIsKilledAfterTheGraceAtItsTimeout() async throws {
        // `exec` keeps the ignored SIGTERM: sleep itself is the child and holds the pipes.
        let runner = ChildProcessRunner(
            executable: "/bin/sh", arguments: ["-c", "trap '' TERM; echo ready; exec sleep 60"],
            stopSignal: SIGTERM, gracePeriod: .milliseconds(200), timeout: .milliseconds(300))
        do {
            let result = try await runner.run()
            Issue.record("a 60 s sleep returned within its 300 ms timeout: \(result)")
        } catch {
            guard case .timedOut(_, let partial) = error else {
                Issue.record("expected timedOut, got \(error)")
                return
            }
            #expect(partial.signalled && partial.status == SIGKILL, "ended \(partial)")
            #expect(String(decoding: partial.standardOutput, as: UTF8.self) == "ready\n")
        }
    }

    @Test func cancellingTheTaskStopsTheChildAndThrowsCancelled() async throws {
        let pids = PIDs()
        let runner = ChildProcessRunner(
            executable: "sleep", arguments: ["60"], gracePeriod: .seconds(5),
            onLifecycle: { pid, started in pids.note(pid, started: started) })
        let task = Task { try await runner.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while pids.started == nil, ContinuousClock.now < deadline { await Task.yield() }
        let pid = try #require(pids.started, "the child was not started within 10 s")
        task.cancel()
        let outcome = await task.result
        guard case .failure(let error) = outcome, case .cancelled? = error as? ChildProcessError else {
            Issue.record("expected cancelled, got \(outcome)")
            return
        }
        #expect(pids.ended == pid, "run() returned before the child was reaped")
        #expect(kill(pid, 0) != 0, "pid \(pid) still exists")
    }

    @Test func aMissingExecutableIsCannotStart() async {
        let runner = ChildProcessRunner(executable: "/nonexistent/kubesnap-no-such-tool", arguments: [])
        do {
            _ = try await runner.run()
            Issue.record("a missing executable ran")
        } catch {
            guard case .cannotStart(let spawn) = error else {
                Issue.record("expected cannotStart, got \(error)")
                return
            }
            #expect(spawn.description.contains("kubesnap-no-such-tool"))
        }
    }
}

private final class PIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var startedPID: Int32?
    private var endedPID: Int32?

    func note(_ pid: Int32, started: Bool) {
        lock.withLock { if started { startedPID = pid } else { endedPID = pid } }
    }

    var started: Int32? { lock.withLock { startedPID } }
    var ended: Int32? { lock.withLock { endedPID } }
}
