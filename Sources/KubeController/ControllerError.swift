import KubeClient

/// Errors of the controller runtime, each carrying its cause.
public enum ControllerError: Error, Sendable, CustomStringConvertible {
    /// A call to the API server failed.
    case api(operation: String, underlying: KubeError)
    /// A cached object could not be decoded into the requested type.
    case decoding(key: ObjectKey, underlying: String)
    /// A write lost a race with another writer (a failed `test` op or a stale resourceVersion);
    /// the key is retried on fresh state.
    case conflict(String)
    /// An object in the cache lacks a field the runtime needs.
    case invalidObject(String)
    /// The leader lease could not be renewed before the renew deadline.
    case leadershipLost(String)
    /// The health/metrics server could not start.
    case server(String)

    public var description: String {
        switch self {
        case .api(let operation, let underlying): "\(operation): \(underlying)"
        case .decoding(let key, let underlying): "cannot decode \(key): \(underlying)"
        case .conflict(let what): "conflict: \(what)"
        case .invalidObject(let what): "invalid object: \(what)"
        case .leadershipLost(let what): "leadership lost: \(what)"
        case .server(let what): "health server: \(what)"
        }
    }
}
