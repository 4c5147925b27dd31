import Foundation
import KubeJSON

/// The time schedules run on. The operator takes one (`OperatorConfiguration.clock`):
/// production uses `WallClock`; tests and the bench drive a `ManualClock`, so that no test waits
/// for a wall-clock minute.
///
/// A schedule never polls: its reconcile asks `delay(until:)` how long to wait for its next time
/// and returns `.requeue(after:)`; a clock that can jump (the manual one) calls the operator's
/// `onJump` handler instead, which wakes every schedule.
public protocol OperatorClock: Sendable {
    /// The current time.
    func now() -> Date
    /// How long, in real time, until this clock shows `date`; nil when only a jump of the clock
    /// gets there (a manual clock that is not running).
    func delay(until date: Date) -> Duration?
    /// Registers `handler`, run after every jump of the clock (never, for the wall clock).
    func onJump(_ handler: @escaping @Sendable () -> Void)
}

/// The system's clock.
public struct WallClock: OperatorClock {
    public init() {}

    public func now() -> Date { Date() }

    public func delay(until date: Date) -> Duration? {
        let seconds = max(0, date.timeIntervalSinceNow)
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    public func onJump(_ handler: @escaping @Sendable () -> Void) {}
}

/// A clock that stands still until it is set or advanced (tests, and `kubesnap-bench` when it
/// runs on injected time). Each jump wakes every registered handler.
public final class ManualClock: OperatorClock {
    private struct State {
        var now: Date
        var handlers: [@Sendable () -> Void] = []
    }

    private let state: Locked<State>

    public init(_ now: Date) { state = Locked(State(now: now)) }

    public func now() -> Date { state.withLock { $0.now } }

    public func delay(until date: Date) -> Duration? {
        date <= now() ? .zero : nil
    }

    public func onJump(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    /// Moves the clock to `date` (forwards or backwards) and wakes the handlers.
    public func set(_ date: Date) {
        let handlers = state.withLock { state in
            state.now = date
            return state.handlers
        }
        for handler in handlers { handler() }
    }

    /// Moves the clock on by `seconds`.
    public func advance(by seconds: TimeInterval) {
        set(now().addingTimeInterval(seconds))
    }
}
