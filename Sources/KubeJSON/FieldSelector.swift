/// A Kubernetes field selector (k8s.io/apimachinery/pkg/fields): `metadata.name=x,
/// metadata.namespace!=y`. Terms are `field=value`, `field==value` or `field!=value`, joined by
/// commas; `\,`, `\=` and `\\` escape those characters in a value. The API server decides which
/// fields it supports (kube supports `metadata.name` and `metadata.namespace` for every kind);
/// `matches` reads any dotted path of the object.
public struct FieldSelector: Sendable, Hashable, CustomStringConvertible {
    /// The operators a field selector term may use (raw value: text form).
    public enum Operator: String, Sendable, Hashable {
        case equals = "="
        case doubleEquals = "=="
        case notEquals = "!="
    }

    /// One `field op value` term.
    public struct Term: Sendable, Hashable, CustomStringConvertible {
        /// A dotted path such as `metadata.name`.
        public var field: String
        public var `operator`: Operator
        public var value: String

        public init(field: String, operator: Operator, value: String) {
            self.field = field
            self.operator = `operator`
            self.value = value
        }

        public func matches(_ object: JSONValue) -> Bool {
            let actual = FieldSelector.fieldValue(object, path: field)
            return `operator` == .notEquals ? actual != value : actual == value
        }

        public var description: String { field + `operator`.rawValue + FieldSelector.escape(value) }
    }

    /// Sorted like apimachinery sorts the terms' text; all must hold.
    public private(set) var terms: [Term]

    public static let everything = FieldSelector(terms: [])

    public init(terms: [Term]) {
        self.terms = terms.sorted { $0.description < $1.description }
    }

    /// Parses the text form (fields.ParseSelector). Spaces are part of fields and values, as in kube.
    public init(parsing text: String) throws(SelectorError) {
        var terms: [Term] = []
        for part in Self.splitTerms(text).sorted() where !part.isEmpty {
            guard let (field, op, rawValue) = Self.splitTerm(part) else {
                throw SelectorError(message: "invalid selector: '\(text)'; can't understand '\(part)'")
            }
            terms.append(Term(field: field, operator: op, value: try Self.unescape(rawValue)))
        }
        self.terms = terms
    }

    public var isEverything: Bool { terms.isEmpty }

    public func matches(_ object: JSONValue) -> Bool {
        terms.allSatisfy { $0.matches(object) }
    }

    /// The value a field selector compares: strings as they are, numbers and booleans in their
    /// text form, "" for a missing field.
    public static func fieldValue(_ object: JSONValue, path: String) -> String {
        let value = object[
            path: path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)]
        switch value {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return JSONValue.formatDouble(d)
        case .bool(let b): return b ? "true" : "false"
        case .null, .array, .object: return ""
        }
    }

    public var description: String { terms.map(\.description).joined(separator: ",") }

    /// Splits on commas not escaped by `\`.
    static func splitTerms(_ text: String) -> [String] {
        if text.isEmpty { return [] }
        var terms: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == "," {
                terms.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        terms.append(current)
        return terms
    }

    /// The first `!=`, `==` or `=` from the left (fields.splitTerm).
    static func splitTerm(_ term: String) -> (String, Operator, String)? {
        var index = term.startIndex
        while index < term.endIndex {
            let rest = term[index...]
            for op in [Operator.notEquals, .doubleEquals, .equals] where rest.hasPrefix(op.rawValue) {
                return (String(term[..<index]), op, String(rest.dropFirst(op.rawValue.count)))
            }
            index = term.index(after: index)
        }
        return nil
    }

    /// fields.UnescapeValue: `\\`, `\,`, `\=` are escapes; a bare `,` or `=` is an error.
    static func unescape(_ value: String) throws(SelectorError) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "," || $0 == "=" }) else { return value }
        var out = ""
        var escaped = false
        for character in value {
            if escaped {
                switch character {
                case "\\", ",", "=": out.append(character)
                default:
                    throw SelectorError(
                        message: "invalid field selector: invalid escape sequence: \\\(character)")
                }
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true
            case ",", "=":
                throw SelectorError(
                    message: "invalid field selector: unescaped character in value: \(character)")
            default: out.append(character)
            }
        }
        if escaped { throw SelectorError(message: "invalid field selector: invalid escape sequence: \\") }
        return out
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            if character == "\\" || character == "," || character == "=" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
