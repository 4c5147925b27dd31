/// What can go wrong starting or running the API server (request errors are `APIError`s).
public enum APIServerError: Error, Sendable, CustomStringConvertible {
    /// Certificates could not be created or loaded.
    case certificates(String)
    /// The data directory could not be read or written.
    case storage(String)
    /// The listener could not be set up.
    case listen(String)
    /// A bad object passed to `APIServer.apply`.
    case rejected(APIError)

    public var description: String {
        switch self {
        case .certificates(let m): return "certificates: \(m)"
        case .storage(let m): return "storage: \(m)"
        case .listen(let m): return "listen: \(m)"
        case .rejected(let e): return "rejected: \(e.message)"
        }
    }
}
