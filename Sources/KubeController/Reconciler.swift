import KubeJSON

/// What a reconcile asks for next.
public enum ReconcileResult: Sendable, Equatable {
    /// Nothing to do until something changes.
    case done
    /// Reconcile again after `after` (a timer, not an error: backoff is reset).
    case requeue(after: Duration)
}

/// Brings the world in line with one object. Level-based: the reconciler reads the object (and
/// anything else) from informer caches, acts, and writes status; it is called with a key only,
/// so many changes while a key waits make one reconcile.
///
/// A thrown error requeues the key with backoff; a `TerminalError` is not retried and becomes a
/// Warning Event on the object.
public protocol Reconciler: Sendable {
    func reconcile(_ key: ObjectKey) async throws -> ReconcileResult
}

/// An error a retry will not fix (an invalid spec, say): recorded as a Warning Event with
/// `reason` and `message`, and the key is not requeued. Messages must not contain secrets.
public struct TerminalError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var message: String

    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }
}

/// A reconciler made of a closure (tests and small controllers).
public struct ReconcileFunction: Reconciler {
    private let body: @Sendable (ObjectKey) async throws -> ReconcileResult

    public init(_ body: @escaping @Sendable (ObjectKey) async throws -> ReconcileResult) {
        self.body = body
    }

    public func reconcile(_ key: ObjectKey) async throws -> ReconcileResult {
        try await body(key)
    }
}
