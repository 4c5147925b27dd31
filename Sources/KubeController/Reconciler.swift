import KubeClient
import KubeJSON

/// What a reconcile asks for next.
public enum ReconcileResult: Sendable, Equatable {
    /// Nothing to do until something changes.
    case done
    /// Reconcile again after `after` (a timer, not an error: backoff is reset).
    case requeue(after: Duration)
}

/// Brings the world in line with one object. Level-based: the controller queues keys only, so
/// many changes while a key waits make one reconcile, and when the key's turn comes it reads
/// the object from its cache and hands it over decoded. The reconciler reads anything else from
/// informer caches, acts, and writes status.
///
/// A thrown error requeues the key with backoff; a `TerminalError` is not retried and becomes a
/// Warning Event on the object.
public protocol Reconciler<Object>: Sendable {
    associatedtype Object: KubeResource
    /// Reconciles the object as the cache holds it now.
    func reconcile(_ object: Object) async throws -> ReconcileResult
    /// The key's object is no longer cached (it is gone): drop anything held for it. The default
    /// does nothing.
    func forget(_ key: ObjectKey) async
}

extension Reconciler {
    public func forget(_ key: ObjectKey) async {}
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
public struct ReconcileFunction<Object: KubeResource>: Reconciler {
    private let body: @Sendable (Object) async throws -> ReconcileResult

    public init(_ body: @escaping @Sendable (Object) async throws -> ReconcileResult) {
        self.body = body
    }

    public func reconcile(_ object: Object) async throws -> ReconcileResult {
        try await body(object)
    }
}
