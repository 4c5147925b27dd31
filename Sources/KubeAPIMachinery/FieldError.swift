import Foundation
import KubeJSON

/// The kind of a field problem, as `metav1.CauseType` (the raw value is what goes into a
/// StatusCause's `reason`).
public enum FieldErrorType: String, Sendable, Hashable {
    case required = "FieldValueRequired"
    case invalid = "FieldValueInvalid"
    case notSupported = "FieldValueNotSupported"
    case duplicate = "FieldValueDuplicate"
    case tooLong = "FieldValueTooLong"
    case tooMany = "FieldValueTooMany"
    case forbidden = "FieldValueForbidden"
    case typeInvalid = "FieldValueTypeInvalid"

    /// The words kube-apiserver prints for the type (`field.ErrorType.String()`).
    public var phrase: String {
        switch self {
        case .required: "Required value"
        case .invalid, .typeInvalid: "Invalid value"
        case .notSupported: "Unsupported value"
        case .duplicate: "Duplicate value"
        case .tooLong: "Too long"
        case .tooMany: "Too many"
        case .forbidden: "Forbidden"
        }
    }
}

/// One field problem, as a `metav1.StatusCause`: `reason` = `type.rawValue`, `field` =
/// "spec.source.path", `message` = the whole kube-style text ("spec.repository: Required value").
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public var type: FieldErrorType
    public var field: String
    public var message: String

    public init(type: FieldErrorType, field: String, message: String) {
        self.type = type
        self.field = field
        self.message = message
    }

    public var description: String { message }

    /// Builds the message like `field.Error.Error()`: "<field>: <type phrase>[: <value>][: <detail>]".
    /// `value` nil means the value is omitted (as kube's `omitValue`).
    public init(_ type: FieldErrorType, _ field: String, value: JSONValue? = nil, detail: String = "") {
        var body = type.phrase
        switch type {
        case .required, .forbidden, .tooLong:
            break
        default:
            if let value { body += ": " + FieldError.goValue(value) }
        }
        if !detail.isEmpty { body += ": " + detail }
        self.init(type: type, field: field, message: field.isEmpty ? body : field + ": " + body)
    }

    public static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(.required, field, detail: detail)
    }
    public static func invalid(_ field: String, _ value: JSONValue, _ detail: String) -> FieldError {
        FieldError(.invalid, field, value: value, detail: detail)
    }
    public static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(.forbidden, field, detail: detail)
    }
    public static func duplicate(_ field: String, _ value: JSONValue) -> FieldError {
        FieldError(.duplicate, field, value: value)
    }
    /// `Unsupported value: "Foo": supported values: "Delete", "Retain"`.
    public static func notSupported(_ field: String, _ value: JSONValue, supported: [String]) -> FieldError {
        let detail =
            supported.isEmpty
            ? "" : "supported values: " + supported.map { goQuote($0) }.joined(separator: ", ")
        return FieldError(.notSupported, field, value: value, detail: detail)
    }
    /// `Too long: may not be more than 5 bytes` (kube 1.32 wording).
    public static func tooLong(_ field: String, maxLength: Int) -> FieldError {
        FieldError(
            .tooLong, field, detail: "may not be more than \(maxLength) \(maxLength == 1 ? "byte" : "bytes")")
    }
    /// `Too many: 3: must have at most 2 items`.
    public static func tooMany(_ field: String, actual: Int, max: Int) -> FieldError {
        FieldError(.tooMany, field, value: .int(Int64(actual)), detail: "must have at most \(max) items")
    }

    /// A value printed as Go's `%v`/`%q` would in field errors: strings quoted, numbers and
    /// booleans bare, `null` for nil, and composite values as Go's `%#v` of
    /// `map[string]interface {}` / `[]interface {}`.
    static func goValue(_ value: JSONValue) -> String {
        switch value {
        case .null: return "\"null\""
        case .string(let s): return goQuote(s)
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double: return value.description
        case .array(let a): return "[]interface {}{" + a.map(goComposite).joined(separator: ", ") + "}"
        case .object(let o):
            return "map[string]interface {}{"
                + o.keys.sorted().map { goQuote($0) + ":" + goComposite(o[$0] ?? .null) }.joined(
                    separator: ", ") + "}"
        }
    }

    private static func goComposite(_ value: JSONValue) -> String {
        if case .null = value { return "interface {}(nil)" }
        if case .int(let i) = value { return "\(i)" }
        return goValue(value)
    }

    /// Go's `strconv.Quote` for the characters that matter in practice.
    static func goQuote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension FieldError {
    /// The message without the leading "<field>: " (kube's `ErrorBody()`, which is what a
    /// StatusCause's `message` carries).
    public var body: String {
        let prefix = field + ": "
        return !field.isEmpty && message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
    }

    /// `{"reason":"FieldValueRequired","message":"Required value","field":"spec.repository"}`.
    public var statusCause: JSONValue {
        ["reason": .string(type.rawValue), "message": .string(body), "field": .string(field)]
    }

    /// The whole 422 `metav1.Status` kube-apiserver answers for invalid objects (`errors.NewInvalid`).
    public static func invalidStatus(kind: String, group: String, name: String, errors: [FieldError])
        -> JSONValue
    {
        var details: [String: JSONValue] = [
            "name": .string(name), "kind": .string(kind), "causes": .array(errors.map(\.statusCause)),
        ]
        if !group.isEmpty { details["group"] = .string(group) }
        return [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(invalidMessage(kind: kind, group: group, name: name, errors: errors)),
            "reason": "Invalid", "details": .object(details), "code": 422,
        ]
    }

    /// The field errors of one object as kube-apiserver words a 422's `message`:
    /// `Kind.group "name" is invalid: [a, b]` (one error without brackets).
    public static func invalidMessage(kind: String, group: String, name: String, errors: [FieldError])
        -> String
    {
        let qualified = group.isEmpty ? kind : kind + "." + group
        var messages: [String] = []
        for e in errors where !messages.contains(e.message) { messages.append(e.message) }
        if messages.isEmpty { return "\(qualified) \(goQuote(name)) is invalid" }
        let list = messages.count == 1 ? messages[0] : "[" + messages.joined(separator: ", ") + "]"
        return "\(qualified) \(goQuote(name)) is invalid: \(list)"
    }
}

/// Field paths as kube's `field.Path` prints them: `spec.containers[0].name`, `metadata.labels[app]`.
struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    var text: String
    init(_ text: String = "") { self.text = text }
    func child(_ name: String) -> FieldPath { FieldPath(text.isEmpty ? name : text + "." + name) }
    func index(_ i: Int) -> FieldPath { FieldPath(text + "[\(i)]") }
    func key(_ k: String) -> FieldPath { FieldPath(text + "[\(k)]") }
    var description: String { text }
}
