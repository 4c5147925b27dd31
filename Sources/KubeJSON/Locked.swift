import Foundation

/// A value behind a lock: small state shared between tasks, NIO threads and the threads that
/// watch child processes: the one lock box of every module. `Synchronization.Mutex` is
/// non-copyable, so it cannot sit in the structs that share these.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    @discardableResult
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value now.
    public var current: Value { withLock { $0 } }
}
