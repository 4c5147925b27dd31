import Foundation

/// A secret string (a repository password, an S3 secret key) that never shows in a description,
/// a debug print, a `dump` or a mirror.
public struct SecretString: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret itself; read it only to hand it to a child's environment.
    public let revealed: String

    public init(_ value: String) { revealed = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// S3 credentials, given to restic through its environment only.
public struct S3Credentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: SecretString

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = SecretString(secretAccessKey)
    }

    public var description: String { "S3Credentials(accessKeyID: \(accessKeyID), secretAccessKey: <redacted>)" }
}

/// Where a restic repository lives.
public enum ResticBackend: Sendable, Hashable {
    /// A directory on this machine (absolute path).
    case local(path: String)
    /// An S3 bucket. `endpoint` is a URL such as `http://127.0.0.1:9000`; nil means AWS.
    case s3(endpoint: String?, bucket: String, prefix: String?, region: String?, credentials: S3Credentials)
    /// restic's REST protocol (e.g. `rclone serve restic`), `url` like `http://127.0.0.1:8000/`.
    case rest(url: String)

    /// "local", "s3" or "rest" (the Repository's `status.storage`).
    public var storageType: String {
        switch self {
        case .local: return "local"
        case .s3: return "s3"
        case .rest: return "rest"
        }
    }

    /// The repository location as restic's `-r` takes it, which is also what
    /// `status.backendURL` shows: `local:/path`, `s3:http://host:port/bucket/prefix`,
    /// `rest:http://host:port/`. It never holds a credential.
    public func location() throws(ResticError) -> String {
        switch self {
        case .local(let path):
            guard path.hasPrefix("/") else {
                throw .invalidArgument("local backend path \"\(path)\" must be absolute")
            }
            return "local:" + (path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path)
        case .s3(let endpoint, let bucket, let prefix, _, _):
            guard !bucket.isEmpty, !bucket.contains("/") else {
                throw .invalidArgument("s3 bucket \"\(bucket)\" must be a non-empty name without '/'")
            }
            var host = "s3.amazonaws.com"
            if let endpoint, !endpoint.isEmpty {
                guard let url = URL(string: endpoint), let scheme = url.scheme, scheme == "http" || scheme == "https",
                    url.host != nil
                else {
                    throw .invalidArgument("s3 endpoint \"\(endpoint)\" must be an http:// or https:// URL")
                }
                guard url.user == nil, url.password == nil else {
                    throw .invalidArgument("s3 endpoint must not carry credentials; use the credentials Secret")
                }
                host = endpoint
                while host.hasSuffix("/") { host.removeLast() }
            }
            var result = "s3:\(host)/\(bucket)"
            let trimmedPrefix = (prefix ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !trimmedPrefix.isEmpty { result += "/\(trimmedPrefix)" }
            return result
        case .rest(let url):
            guard let parsed = URL(string: url), let scheme = parsed.scheme, scheme == "http" || scheme == "https",
                parsed.host != nil
            else {
                throw .invalidArgument("rest backend URL \"\(url)\" must be an http:// or https:// URL")
            }
            guard parsed.user == nil, parsed.password == nil else {
                throw .invalidArgument("rest backend URL must not carry credentials (they would show in the process list)")
            }
            return "rest:" + (url.hasSuffix("/") ? url : url + "/")
        }
    }

    /// The environment restic needs for this backend (credentials and region).
    var environment: [String: String] {
        switch self {
        case .local, .rest: return [:]
        case .s3(_, _, _, let region, let credentials):
            var env = [
                "AWS_ACCESS_KEY_ID": credentials.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey.revealed,
            ]
            if let region, !region.isEmpty { env["AWS_DEFAULT_REGION"] = region }
            return env
        }
    }

    /// Strings that must never appear in an error or a log line.
    var secrets: [String] {
        if case .s3(_, _, _, _, let credentials) = self { return [credentials.secretAccessKey.revealed] }
        return []
    }
}
