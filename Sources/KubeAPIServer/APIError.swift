import KubeJSON

/// A request that ends in a metav1.Status error, with the HTTP code, reason and details
/// kube-apiserver would send.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: JSONValue?
    /// Extra response headers (Retry-After).
    var headers: [(String, String)] = []

    public init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var description: String { "\(code) \(reason): \(message)" }

    /// The metav1.Status body.
    public var status: JSONValue {
        var s: JSONValue = [
            "kind": "Status", "apiVersion": "v1", "metadata": .emptyObject, "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if reason.isEmpty { s.removeValue(forKey: "reason") }
        if let details { s["details"] = details }
        return s
    }

    static func qualified(_ resource: String, _ group: String) -> String {
        group.isEmpty ? resource : "\(resource).\(group)"
    }

    static func detailsFor(name: String, group: String, kind: String) -> JSONValue {
        var d: JSONValue = ["name": .string(name), "kind": .string(kind)]
        if !group.isEmpty { d["group"] = .string(group) }
        if name.isEmpty { d.removeValue(forKey: "name") }
        return d
    }

    static func notFound(_ resource: String, group: String, name: String) -> APIError {
        APIError(
            code: 404, reason: "NotFound", message: "\(qualified(resource, group)) \"\(name)\" not found",
            details: detailsFor(name: name, group: group, kind: resource))
    }

    static func alreadyExists(_ resource: String, group: String, name: String) -> APIError {
        APIError(
            code: 409, reason: "AlreadyExists",
            message: "\(qualified(resource, group)) \"\(name)\" already exists",
            details: detailsFor(name: name, group: group, kind: resource))
    }

    static func conflict(_ resource: String, group: String, name: String, _ why: String) -> APIError {
        APIError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(qualified(resource, group)) \"\(name)\": \(why)",
            details: detailsFor(name: name, group: group, kind: resource))
    }

    static func staleConflict(_ resource: String, group: String, name: String) -> APIError {
        conflict(
            resource, group: group, name: name,
            "the object has been modified; please apply your changes to the latest version and try again")
    }

    /// One invalid field: `field` like "spec.repository", `message` without the field
    /// ("Required value"), `reason` a FieldValue* cause type.
    struct Cause: Sendable {
        var reason: String
        var field: String
        var message: String
    }

    static func invalid(kind: String, group: String, name: String, _ causes: [Cause]) -> APIError {
        let parts = causes.map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }
        let joined = parts.count == 1 ? parts[0] : "[" + parts.joined(separator: ", ") + "]"
        var details = detailsFor(name: name, group: group, kind: kind)
        details["causes"] = .array(
            causes.map { ["reason": .string($0.reason), "message": .string($0.message), "field": .string($0.field)] })
        return APIError(
            code: 422, reason: "Invalid", message: "\(qualified(kind, group)) \"\(name)\" is invalid: \(joined)",
            details: details)
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    static func methodNotAllowed(_ message: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: message)
    }

    static func forbidden(_ resource: String, group: String, name: String, _ why: String) -> APIError {
        APIError(
            code: 403, reason: "Forbidden",
            message: "\(qualified(resource, group)) \"\(name)\" is forbidden: \(why)",
            details: detailsFor(name: name, group: group, kind: resource))
    }

    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    static func internalError(_ message: String) -> APIError {
        APIError(
            code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
            details: ["causes": [["message": .string(message)]]])
    }

    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")

    static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(
            code: 415, reason: "UnsupportedMediaType",
            message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got \(type))"
        )
    }
}
