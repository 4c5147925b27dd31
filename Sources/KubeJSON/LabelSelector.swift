/// An error parsing a label or field selector, in the words of k8s.io/apimachinery.
public struct SelectorError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// A Kubernetes label selector (k8s.io/apimachinery/pkg/labels), from its text form
/// (`a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3`) or from a metav1.LabelSelector object.
///
/// Requirements are kept sorted by key, as apimachinery does, so two selectors that mean the same
/// text compare equal and `description` is the canonical string.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    /// The operators of selection.Operator that label selectors use (raw value: text form).
    public enum Operator: String, Sendable, Hashable {
        case equals = "="
        case doubleEquals = "=="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
        case greaterThan = ">"
        case lessThan = "<"
    }

    /// One `key op values` term.
    public struct Requirement: Sendable, Hashable, CustomStringConvertible {
        public var key: String
        public var `operator`: Operator
        /// Sorted and without duplicates.
        public var values: [String]

        /// Validates like labels.NewRequirement.
        public init(key: String, operator: Operator, values: [String]) throws(SelectorError) {
            var problems = LabelSelector.labelKeyErrors(key).map { "key: Invalid value: \"\(key)\": \($0)" }
            let sorted = Array(Set(values)).sorted()
            switch `operator` {
            case .in, .notIn:
                if sorted.isEmpty {
                    problems.append(
                        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty")
                }
            case .equals, .doubleEquals, .notEquals:
                if sorted.count != 1 {
                    problems.append(
                        "values: Invalid value: \(sorted): exact-match compatibility requires one single value"
                    )
                }
            case .exists, .doesNotExist:
                if !sorted.isEmpty {
                    problems.append(
                        "values: Invalid value: \(sorted): values set must be empty for exists and does not exist"
                    )
                }
            case .greaterThan, .lessThan:
                if sorted.count != 1 {
                    problems.append(
                        "values: Invalid value: \(sorted): for 'Gt', 'Lt' operators, exactly one value is required"
                    )
                }
                for (i, v) in sorted.enumerated() where Int64(v) == nil {
                    problems.append(
                        "values[\(i)]: Invalid value: \"\(v)\": for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                }
            }
            for (i, v) in sorted.enumerated() {
                problems += LabelSelector.labelValueErrors(v).map {
                    "values[\(i)]: Invalid value: \"\(v)\": \($0)"
                }
            }
            if !problems.isEmpty {
                throw SelectorError(
                    message: problems.count == 1 ? problems[0] : "[" + problems.joined(separator: ", ") + "]")
            }
            self.key = key
            self.operator = `operator`
            self.values = sorted
        }

        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch `operator` {
            case .in, .equals, .doubleEquals:
                guard let value else { return false }
                return values.contains(value)
            case .notIn, .notEquals:
                guard let value else { return true }
                return !values.contains(value)
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .greaterThan, .lessThan:
                guard let value, let have = Int64(value), let want = values.first.flatMap({ Int64($0) })
                else {
                    return false
                }
                return `operator` == .greaterThan ? have > want : have < want
            }
        }

        public var description: String {
            switch `operator` {
            case .exists: return key
            case .doesNotExist: return "!" + key
            case .in: return key + " in (" + values.joined(separator: ",") + ")"
            case .notIn: return key + " notin (" + values.joined(separator: ",") + ")"
            default: return key + `operator`.rawValue + (values.first ?? "")
            }
        }
    }

    /// The requirements, sorted by key; all must hold.
    public private(set) var requirements: [Requirement]
    /// True for the selector of a nil metav1.LabelSelector, which selects nothing.
    public private(set) var matchesNothing: Bool

    /// The selector that selects everything (an empty string or `{}`).
    public static let everything = LabelSelector(requirements: [], matchesNothing: false)
    /// The selector that selects nothing (a null metav1.LabelSelector).
    public static let nothing = LabelSelector(requirements: [], matchesNothing: true)

    private init(requirements: [Requirement], matchesNothing: Bool) {
        self.requirements = Self.sorted(requirements)
        self.matchesNothing = matchesNothing
    }

    public init(requirements: [Requirement]) {
        self.init(requirements: requirements, matchesNothing: false)
    }

    private static func sorted(_ requirements: [Requirement]) -> [Requirement] {
        // By key like apimachinery's sort.Sort(ByKey); equal keys keep their written order.
        requirements.enumerated().sorted { a, b in
            a.element.key != b.element.key ? a.element.key < b.element.key : a.offset < b.offset
        }.map(\.element)
    }

    /// Parses the text form (labels.Parse).
    public init(parsing text: String) throws(SelectorError) {
        var parser = LabelSelectorParser(text)
        do throws(SelectorError) {
            self.init(requirements: try parser.parse(), matchesNothing: false)
        } catch {
            throw SelectorError(message: "unable to parse requirement: \(error.message)")
        }
    }

    /// A metav1.LabelSelector (`matchLabels`, `matchExpressions`); `null` selects nothing, `{}`
    /// everything (metav1.LabelSelectorAsSelector).
    public init(_ selector: JSONValue) throws(SelectorError) {
        if selector.isNull {
            self = .nothing
            return
        }
        guard case .object(let object) = selector else {
            throw SelectorError(message: "a label selector must be an object")
        }
        var requirements: [Requirement] = []
        switch object["matchLabels"] ?? .null {
        case .null: break
        case .object(let labels):
            for key in labels.keys.sorted() {
                guard case .string(let value)? = labels[key] else {
                    throw SelectorError(message: "matchLabels.\(key): must be a string")
                }
                requirements.append(try Requirement(key: key, operator: .equals, values: [value]))
            }
        default: throw SelectorError(message: "matchLabels: must be an object")
        }
        switch object["matchExpressions"] ?? .null {
        case .null: break
        case .array(let expressions):
            for (index, expression) in expressions.enumerated() {
                guard let key = expression["key"].stringValue else {
                    throw SelectorError(message: "matchExpressions[\(index)].key: Required value")
                }
                let op: Operator
                switch expression["operator"].stringValue ?? "" {
                case "In": op = .in
                case "NotIn": op = .notIn
                case "Exists": op = .exists
                case "DoesNotExist": op = .doesNotExist
                case let other:
                    throw SelectorError(message: "\"\(other)\" is not a valid label selector operator")
                }
                var values: [String] = []
                switch expression["values"] {
                case .null: break
                case .array(let items):
                    for item in items {
                        guard let s = item.stringValue else {
                            throw SelectorError(message: "matchExpressions[\(index)].values: must be strings")
                        }
                        values.append(s)
                    }
                default: throw SelectorError(message: "matchExpressions[\(index)].values: must be an array")
                }
                requirements.append(try Requirement(key: key, operator: op, values: values))
            }
        default: throw SelectorError(message: "matchExpressions: must be an array")
        }
        self.init(requirements: requirements, matchesNothing: false)
    }

    public var isEverything: Bool { requirements.isEmpty && !matchesNothing }

    public func matches(_ labels: [String: String]) -> Bool {
        if matchesNothing { return false }
        return requirements.allSatisfy { $0.matches(labels) }
    }

    /// Matches an object's `metadata.labels`.
    public func matches(object: JSONValue) -> Bool {
        var labels: [String: String] = [:]
        for (key, value) in object["metadata"]["labels"].objectValue ?? [:] {
            if let s = value.stringValue { labels[key] = s }
        }
        return matches(labels)
    }

    /// The canonical text form (labels.Selector.String()).
    public var description: String {
        requirements.map(\.description).joined(separator: ",")
    }

    // MARK: Label syntax (k8s.io/apimachinery/pkg/util/validation)

    /// Problems with a label key (IsQualifiedName: optional DNS-subdomain prefix and `/`, then a
    /// name of at most 63 alphanumerics, `-`, `_`, `.` starting and ending alphanumeric); empty
    /// when valid.
    public static func labelKeyErrors(_ key: String) -> [String] {
        var errors: [String] = []
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name: Substring
        switch parts.count {
        case 1: name = parts[0]
        case 2:
            let prefix = parts[0]
            name = parts[1]
            if prefix.isEmpty {
                errors.append("prefix part must be non-empty")
            } else {
                errors += dnsSubdomainErrors(String(prefix)).map { "prefix part " + $0 }
            }
        default:
            return [
                "a qualified name " + qualifiedNameMessage
                    + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        }
        if name.isEmpty {
            errors.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            errors.append("name part must be no more than 63 characters")
        }
        if !name.isEmpty && !isLabelToken(name) {
            errors.append(
                "name part " + qualifiedNameMessage
                    + " (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            )
        }
        return errors
    }

    /// Problems with a label value (at most 63 characters, empty or alphanumeric at both ends
    /// with `-`, `_`, `.` inside); empty when valid.
    public static func labelValueErrors(_ value: String) -> [String] {
        var errors: [String] = []
        if value.utf8.count > 63 { errors.append("must be no more than 63 characters") }
        if !value.isEmpty && !isLabelToken(Substring(value)) {
            errors.append(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            )
        }
        return errors
    }

    private static let qualifiedNameMessage =
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
    private static func isLabelToken(_ s: Substring) -> Bool {
        let bytes = Array(s.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last)
        else {
            return false
        }
        return bytes.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: ".")
        }
    }

    /// IsDNS1123Subdomain.
    static func dnsSubdomainErrors(_ s: String) -> [String] {
        var errors: [String] = []
        if s.utf8.count > 253 { errors.append("must be no more than 253 characters") }
        let valid = s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            let bytes = Array(label.utf8)
            guard let first = bytes.first, let last = bytes.last else { return false }
            func ok(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) }
            return ok(first) && ok(last) && bytes.allSatisfy { ok($0) || $0 == UInt8(ascii: "-") }
        }
        if !valid {
            errors.append(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            )
        }
        return errors
    }
}

/// A port of apimachinery's label selector lexer and parser.
struct LabelSelectorParser {
    enum Token: Equatable {
        case identifier(String)
        case openParen, closeParen, comma
        case doesNotExist  // !
        case equals, doubleEquals, notEquals, greaterThan, lessThan
        case `in`, notIn
        case end

        var literal: String {
            switch self {
            case .identifier(let s): return s
            case .openParen: return "("
            case .closeParen: return ")"
            case .comma: return ","
            case .doesNotExist: return "!"
            case .equals: return "="
            case .doubleEquals: return "=="
            case .notEquals: return "!="
            case .greaterThan: return ">"
            case .lessThan: return "<"
            case .in: return "in"
            case .notIn: return "notin"
            case .end: return ""
            }
        }
    }

    var tokens: [Token] = []
    var position = 0

    init(_ text: String) {
        let bytes = Array(text.utf8)
        var i = 0
        func isSpecial(_ b: UInt8) -> Bool {
            switch b {
            case UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "("), UInt8(ascii: ")"),
                UInt8(ascii: ","),
                UInt8(ascii: ">"), UInt8(ascii: "<"):
                return true
            default: return false
            }
        }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        while i < bytes.count {
            let b = bytes[i]
            if isSpace(b) {
                i += 1
                continue
            }
            if isSpecial(b) {
                let next = i + 1 < bytes.count ? bytes[i + 1] : 0
                switch (b, next) {
                case (UInt8(ascii: "="), UInt8(ascii: "=")): tokens.append(.doubleEquals); i += 2
                case (UInt8(ascii: "!"), UInt8(ascii: "=")): tokens.append(.notEquals); i += 2
                case (UInt8(ascii: "="), _): tokens.append(.equals); i += 1
                case (UInt8(ascii: "!"), _): tokens.append(.doesNotExist); i += 1
                case (UInt8(ascii: "("), _): tokens.append(.openParen); i += 1
                case (UInt8(ascii: ")"), _): tokens.append(.closeParen); i += 1
                case (UInt8(ascii: ","), _): tokens.append(.comma); i += 1
                case (UInt8(ascii: ">"), _): tokens.append(.greaterThan); i += 1
                default: tokens.append(.lessThan); i += 1
                }
                continue
            }
            let start = i
            while i < bytes.count, !isSpace(bytes[i]), !isSpecial(bytes[i]) { i += 1 }
            let word = String(decoding: bytes[start..<i], as: UTF8.self)
            switch word {
            case "in": tokens.append(.in)
            case "notin": tokens.append(.notIn)
            default: tokens.append(.identifier(word))
            }
        }
        tokens.append(.end)
    }

    /// In value context the keywords are plain identifiers.
    private func lookahead(values: Bool = true) -> Token {
        let token = tokens[min(position, tokens.count - 1)]
        if values {
            switch token {
            case .in: return .identifier("in")
            case .notIn: return .identifier("notin")
            default: return token
            }
        }
        return token
    }

    private mutating func consume(values: Bool = true) -> Token {
        let token = lookahead(values: values)
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private static func isIdentifier(_ t: Token) -> Bool {
        if case .identifier = t { return true }
        return false
    }

    mutating func parse() throws(SelectorError) -> [LabelSelector.Requirement] {
        var requirements: [LabelSelector.Requirement] = []
        while true {
            let token = lookahead()
            switch token {
            case .identifier, .doesNotExist:
                requirements.append(try parseRequirement())
                let next = consume()
                switch next {
                case .end: return requirements
                case .comma:
                    let after = lookahead()
                    if !Self.isIdentifier(after) && after != .doesNotExist {
                        throw SelectorError(
                            message: "found '\(after.literal)', expected: identifier after ','")
                    }
                default:
                    throw SelectorError(message: "found '\(next.literal)', expected: ',' or 'end of string'")
                }
            case .end:
                return requirements
            default:
                throw SelectorError(
                    message: "found '\(token.literal)', expected: !, identifier, or 'end of string'")
            }
        }
    }

    private mutating func parseRequirement() throws(SelectorError) -> LabelSelector.Requirement {
        var token = consume()
        var negated = false
        if token == .doesNotExist {
            negated = true
            token = consume()
        }
        guard case .identifier(let key) = token else {
            throw SelectorError(message: "found '\(token.literal)', expected: identifier")
        }
        let keyErrors = LabelSelector.labelKeyErrors(key)
        if let first = keyErrors.first {
            throw SelectorError(message: "key: Invalid value: \"\(key)\": \(first)")
        }
        let next = lookahead()
        if next == .end || next == .comma {
            return try LabelSelector.Requirement(
                key: key, operator: negated ? .doesNotExist : .exists, values: [])
        }
        if negated {
            // `!key` followed by an operator: apimachinery reads the operator and fails on it.
            throw SelectorError(message: "found '\(next.literal)', expected: ',' or 'end of string'")
        }
        let opToken = consume(values: false)
        let op: LabelSelector.Operator
        switch opToken {
        case .in: op = .in
        case .notIn: op = .notIn
        case .equals: op = .equals
        case .doubleEquals: op = .doubleEquals
        case .notEquals: op = .notEquals
        case .greaterThan: op = .greaterThan
        case .lessThan: op = .lessThan
        default:
            throw SelectorError(
                message: "found '\(opToken.literal)', expected: in, notin, =, ==, !=, gt, lt")
        }
        let values: [String]
        switch op {
        case .in, .notIn: values = try parseValues()
        default: values = try parseExactValue()
        }
        return try LabelSelector.Requirement(key: key, operator: op, values: values)
    }

    private mutating func parseValues() throws(SelectorError) -> [String] {
        let open = consume()
        guard open == .openParen else {
            throw SelectorError(message: "found '\(open.literal)' expected: '('")
        }
        let next = lookahead()
        switch next {
        case .identifier, .comma:
            let values = try parseIdentifierList()
            let close = consume()
            guard close == .closeParen else {
                throw SelectorError(message: "found '\(close.literal)', expected: ')'")
            }
            return values
        case .closeParen:
            _ = consume()
            return [""]
        default:
            throw SelectorError(message: "found '\(next.literal)', expected: ',', ')' or identifier")
        }
    }

    private mutating func parseIdentifierList() throws(SelectorError) -> [String] {
        var values: Set<String> = []
        while true {
            let token = consume()
            switch token {
            case .identifier(let value):
                values.insert(value)
                let next = lookahead()
                switch next {
                case .comma: continue
                case .closeParen: return values.sorted()
                default: throw SelectorError(message: "found '\(next.literal)', expected: ',' or ')'")
                }
            case .comma:
                if values.isEmpty { values.insert("") }
                let next = lookahead()
                if next == .closeParen {
                    values.insert("")
                    return values.sorted()
                }
                if next == .comma {
                    _ = consume()
                    values.insert("")
                }
            default:
                throw SelectorError(message: "found '\(token.literal)', expected: ',', or identifier")
            }
        }
    }

    private mutating func parseExactValue() throws(SelectorError) -> [String] {
        let next = lookahead()
        if next == .end || next == .comma { return [""] }
        let token = consume()
        if case .identifier(let value) = token { return [value] }
        throw SelectorError(message: "found '\(token.literal)', expected: identifier")
    }
}
