import Foundation

/// A condition that did not come true before its deadline; says what was last seen.
public struct WaitTimeout: Error, CustomStringConvertible {
    public var what: String
    public var lastSeen: String
    public var seconds: Double
    public var description: String {
        "timed out after \(seconds)s waiting for \(what); last seen: \(lastSeen)"
    }
}

/// Polls `probe` until it returns a value or the deadline passes. `probe` returns `.success(value)`
/// when the condition holds, or `.failure(observation)` describing what it saw instead; the last
/// observation is reported on timeout. This is the only way tests wait: never a bare sleep.
public func waitFor<T>(
    _ what: String,
    timeout: Duration = .seconds(30),
    poll: Duration = .milliseconds(50),
    _ probe: () async throws -> WaitProbe<T>
) async throws -> T {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var lastSeen = "nothing yet"
    while true {
        do {
            switch try await probe() {
            case .done(let value): return value
            case .notYet(let seen): lastSeen = seen
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            lastSeen = "error: \(error)"
        }
        if clock.now >= deadline {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            throw WaitTimeout(what: what, lastSeen: lastSeen, seconds: seconds)
        }
        try await Task.sleep(for: poll)  // poll interval of a deadline-bounded wait
    }
}

/// The outcome of one probe of `waitFor`.
public enum WaitProbe<T> {
    case done(T)
    case notYet(String)
}

/// Waits until `condition` is true; `describe` says what was seen when it is not.
public func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(30),
    poll: Duration = .milliseconds(50),
    _ condition: () async throws -> (Bool, String)
) async throws {
    let _: Bool = try await waitFor(what, timeout: timeout, poll: poll) {
        let (ok, seen) = try await condition()
        return ok ? .done(true) : .notYet(seen)
    }
}
