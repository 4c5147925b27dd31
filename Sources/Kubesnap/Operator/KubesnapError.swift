import KubeClient
import KubeController
import Restic

/// Every error of the Kubesnap module, carrying its cause. Messages never hold Secret data.
public enum KubesnapError: Error, Sendable, CustomStringConvertible {
    /// The operator's own configuration is unusable (a bad flag, a root that does not exist).
    case configuration(String)
    /// A call to the API server failed.
    case api(operation: String, underlying: KubeError)
    /// A restic operation failed.
    case restic(operation: String, underlying: ResticError)
    /// The backend cannot be reached right now; retried with backoff.
    case backendUnreachable(String)
    /// Deletion cannot go on yet (the finalizer stays); retried with backoff.
    case deletionBlocked(reason: String, message: String)

    public var description: String {
        switch self {
        case .configuration(let message): return "configuration: \(message)"
        case .api(let operation, let underlying): return "\(operation): \(underlying)"
        case .restic(let operation, let underlying): return "\(operation): \(underlying)"
        case .backendUnreachable(let message): return "backend unreachable: \(message)"
        case .deletionBlocked(let reason, let message): return "deletion blocked (\(reason)): \(message)"
        }
    }
}
