import KubeJSON

/// metav1.StatusCause: one reason an API request failed, usually naming a field.
public struct StatusCause: Sendable, Hashable, Codable {
    public var reason: String?
    public var message: String?
    public var field: String?

    public init(reason: String? = nil, message: String? = nil, field: String? = nil) {
        self.reason = reason
        self.message = message
        self.field = field
    }
}

/// metav1.StatusDetails.
public struct StatusDetails: Sendable, Hashable, Codable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var uid: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int?

    public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil)
    {
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes
    }
}

/// A metav1.Status returned by the API server for a failed request (or inside a watch ERROR event).
public struct APIStatus: Sendable, Hashable, Codable, CustomStringConvertible {
    /// HTTP status code.
    public var code: Int
    /// "Failure" or "Success".
    public var status: String?
    /// Machine-readable reason: NotFound, AlreadyExists, Conflict, Invalid, Expired, Gone, ...
    public var reason: String?
    public var message: String?
    public var details: StatusDetails?

    public init(
        code: Int, status: String? = "Failure", reason: String? = nil, message: String? = nil,
        details: StatusDetails? = nil
    ) {
        self.code = code
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// details.causes, or none.
    public var causes: [StatusCause] { details?.causes ?? [] }

    public var description: String {
        var text = "\(code) \(reason ?? "")"
        if let message, !message.isEmpty { text += ": \(message)" }
        return text
    }

    /// A Status decoded from a JSON value (a response body or a watch ERROR object); nil if it
    /// is not one.
    init?(_ value: JSONValue) {
        guard value["kind"].stringValue == "Status" || value["code"].intValue != nil else { return nil }
        code = Int(value["code"].intValue ?? 0)
        status = value["status"].stringValue
        reason = value["reason"].stringValue
        message = value["message"].stringValue
        let d = value["details"]
        if d.objectValue != nil {
            var details = StatusDetails(
                name: d["name"].stringValue, group: d["group"].stringValue, kind: d["kind"].stringValue)
            details.uid = d["uid"].stringValue
            details.retryAfterSeconds = d["retryAfterSeconds"].intValue.map { Int($0) }
            details.causes = d["causes"].arrayValue?.map {
                StatusCause(
                    reason: $0["reason"].stringValue, message: $0["message"].stringValue,
                    field: $0["field"].stringValue)
            }
            self.details = details
        }
    }

    /// The reason client-go infers for a response that carries no Status body.
    static func reason(forHTTPCode code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 406: return "NotAcceptable"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 413: return "RequestEntityTooLarge"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }
}

/// Every error of the Kubernetes client.
///
/// Messages never contain a token, key, password or Secret data: configuration errors name the
/// file and field but not the value; transport errors carry libcurl's text (which never holds
/// request headers).
public enum KubeError: Error, Sendable, CustomStringConvertible {
    /// The API server answered with an error status (metav1.Status).
    case api(APIStatus)
    /// No usable HTTP response: DNS, connection, TLS, a timeout, a broken connection.
    case transport(String)
    /// A response that could not be decoded into the expected type.
    case decoding(String)
    /// A kubeconfig / in-cluster configuration or credential plugin problem.
    case configuration(String)
    /// A call the client refuses before sending it (an object without a name, say).
    case invalidRequest(String)
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case .api(let status): return "API error \(status)"
        case .transport(let message): return "transport error: \(message)"
        case .decoding(let message): return "decoding error: \(message)"
        case .configuration(let message): return "configuration error: \(message)"
        case .invalidRequest(let message): return "invalid request: \(message)"
        case .cancelled: return "cancelled"
        }
    }

    /// The API status, when the server answered.
    public var status: APIStatus? {
        if case .api(let status) = self { return status }
        return nil
    }

    private func matches(code: Int, reason: String) -> Bool {
        guard let status else { return false }
        if let r = status.reason, !r.isEmpty, r != "Unknown" { return r == reason }
        return status.code == code
    }

    public var isNotFound: Bool { matches(code: 404, reason: "NotFound") }
    /// A 409 Conflict (stale resourceVersion, failed precondition); not AlreadyExists.
    public var isConflict: Bool { matches(code: 409, reason: "Conflict") }
    public var isAlreadyExists: Bool { matches(code: 409, reason: "AlreadyExists") }
    /// 410 Gone / Expired: the resourceVersion is too old; relist.
    public var isGone: Bool {
        guard let status else { return false }
        return status.code == 410 || status.reason == "Expired" || status.reason == "Gone"
    }
    public var isInvalid: Bool { matches(code: 422, reason: "Invalid") }
    public var isForbidden: Bool { matches(code: 403, reason: "Forbidden") }
    public var isUnauthorized: Bool { matches(code: 401, reason: "Unauthorized") }
    public var isTooManyRequests: Bool { matches(code: 429, reason: "TooManyRequests") }
    public var isBadRequest: Bool { matches(code: 400, reason: "BadRequest") }
}
