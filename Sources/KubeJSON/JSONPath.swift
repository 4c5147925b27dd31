/// An error parsing or evaluating a JSONPath template, with kubectl's wording where it has one.
public struct JSONPathError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// kubectl's JSONPath dialect (k8s.io/client-go/util/jsonpath), as used by `kubectl get -o
/// jsonpath=...`, custom columns and CRD `additionalPrinterColumns`.
///
/// - A template mixes text and `{...}` actions: `{range .items[*]}{.metadata.name}{"\n"}{end}`.
/// - An expression without braces is a printer-column path (client-go's
///   RelaxedJSONPathExpression): `.status.phase` and `status.phase` both mean `{.status.phase}`.
/// - Steps: `.field` (`\.` escapes a dot), `['key']`, `[0]`, `[-1]`, `[*]`, `[0:2]`, `[::2]`,
///   unions `[0,1]` / `['a','b']`, `.*`, recursive descent `..name`, filters
///   `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `>`, `<=`, `>=` and existence `[?(@.x)]`,
///   `@`/`$` for the current value, quoted text `{"\t"}`.
/// - Evaluation follows client-go: missing keys select nothing, an index out of range or a
///   comparison of a number with a string is an error, object members come in key order
///   (client-go walks Go maps in random order).
/// - One deliberate extension: `['a.b']` first means what kubectl makes of it (the path
///   `.a.b`), and when that selects nothing, the member literally named `a.b`.
public struct JSONPath: Sendable {
    /// The expression as given.
    public let expression: String
    let segments: [JSONPathSegment]

    public init(_ expression: String) throws(JSONPathError) {
        self.expression = expression
        let template = try JSONPath.relaxed(expression)
        segments = try JSONPathParser.parseTemplate(template)
    }

    /// The values the template selects, in order (text in the template contributes its string).
    /// An evaluation error (index out of range, incompatible comparison) selects nothing; use
    /// `results(_:)` to see it.
    public func evaluate(_ value: JSONValue) -> [JSONValue] {
        ((try? results(value)) ?? []).flatMap { $0 }
    }

    /// The values each action selects, one list per printed piece, as client-go's FindResults.
    public func results(_ value: JSONValue) throws(JSONPathError) -> [[JSONValue]] {
        var out: [[JSONValue]] = []
        try JSONPathEvaluator.run(segments, on: value, into: &out)
        return out
    }

    /// The text `kubectl get -o jsonpath=...` prints: several values of one action are
    /// separated by spaces, objects and arrays are compact JSON, `null` for null.
    public func render(_ value: JSONValue) throws(JSONPathError) -> String {
        var text = ""
        for piece in try results(value) {
            for (index, item) in piece.enumerated() {
                if index > 0 { text += " " }
                text += JSONPath.text(of: item)
            }
        }
        return text
    }

    /// How kubectl prints one selected value.
    public static func text(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return goFormatG(d)
        case .string(let s): return s
        case .array, .object: return value.serialized()
        }
    }

    /// Go's `fmt.Sprint(float64)` (%g, shortest): exponent form below 1e-4 and from 1e6.
    static func goFormatG(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Inf" : "+Inf" }
        if d == 0 { return d.sign == .minus ? "-0" : "0" }
        return (d < 0 ? "-" : "") + ShortestDigits(d).goFormatG()
    }

    /// client-go's RelaxedJSONPathExpression for expressions without braces.
    static func relaxed(_ expression: String) throws(JSONPathError) -> String {
        if expression.isEmpty || expression.contains("{") || expression.contains("}") { return expression }
        var body = Substring(expression)
        if body.hasPrefix(".") { body = body.dropFirst() }
        if body.isEmpty {
            throw JSONPathError(
                message:
                    "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'"
            )
        }
        return "{." + body + "}"
    }
}

/// A piece of a parsed template.
indirect enum JSONPathSegment: Sendable {
    case text(String)
    case action([JSONPathNode])
    case range([JSONPathNode], body: [JSONPathSegment])
}

/// One step of an action (client-go's parse nodes).
indirect enum JSONPathNode: Sendable {
    case field(String)
    /// `['a.b']`: the nodes kubectl makes of `.a.b`, and the literal key to fall back on.
    case dictKey([JSONPathNode], literal: String)
    case wildcard
    case slice(JSONPathSlice)
    case union([[JSONPathNode]])
    case recursive
    case filter(left: [JSONPathNode], op: String, right: [JSONPathNode])
    case text(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case identifier(String)
}

/// `[start:end:step]` as client-go's ParamsEntry triple.
struct JSONPathSlice: Sendable {
    var start: Int?
    var end: Int?
    /// `[n]`: end is start + 1, and an end of 0 after a negative start means "to the end".
    var endDerived = false
    var step: Int?
}

/// A port of client-go's jsonpath parser (same scanning rules, same error texts).
struct JSONPathParser {
    let input: [Unicode.Scalar]
    var pos = 0

    init(_ text: String) { input = Array(text.unicodeScalars) }

    /// Parses a whole template into text, actions and range blocks.
    static func parseTemplate(_ text: String) throws(JSONPathError) -> [JSONPathSegment] {
        var parser = JSONPathParser(text)
        let flat = try parser.parseFlat()
        var index = 0
        let segments = try nest(flat, &index, inRange: false)
        return segments
    }

    private enum Flat {
        case text(String)
        case action([JSONPathNode])
    }

    private static func nest(_ flat: [Flat], _ index: inout Int, inRange: Bool) throws(JSONPathError)
        -> [JSONPathSegment]
    {
        var out: [JSONPathSegment] = []
        while index < flat.count {
            let item = flat[index]
            index += 1
            switch item {
            case .text(let t): out.append(.text(t))
            case .action(let nodes):
                if case .identifier(let name)? = nodes.first {
                    switch name {
                    case "range":
                        let body = try nest(flat, &index, inRange: true)
                        out.append(.range(Array(nodes.dropFirst()), body: body))
                        continue
                    case "end":
                        guard inRange else { throw JSONPathError(message: "not in range, nothing to end") }
                        guard nodes.count == 1 else {
                            throw JSONPathError(message: "unexpected path after end")
                        }
                        return out
                    default: break
                    }
                }
                out.append(.action(nodes))
            }
        }
        return out  // an unclosed range runs to the end, as in client-go
    }

    /// Parses `{text}` and returns its single action (client-go's parseAction).
    static func parseAction(_ text: String) throws(JSONPathError) -> [JSONPathNode] {
        var parser = JSONPathParser("{" + text + "}")
        let flat = try parser.parseFlat()
        guard case .action(let nodes)? = flat.first else { return [] }
        return nodes
    }

    private mutating func parseFlat() throws(JSONPathError) -> [Flat] {
        var out: [Flat] = []
        var text = ""
        while pos < input.count {
            if input[pos] == "{" {
                if !text.isEmpty { out.append(.text(text)) }
                text = ""
                pos += 1
                var nodes: [JSONPathNode] = []
                try parseInsideAction(&nodes)
                for node in nodes {
                    if case .identifier(let name) = node, name != "range" && name != "end" {
                        throw JSONPathError(message: "unrecognized identifier \(name)")
                    }
                }
                out.append(.action(nodes))
            } else {
                text.unicodeScalars.append(input[pos])
                pos += 1
            }
        }
        if !text.isEmpty { out.append(.text(text)) }
        return out
    }

    private func hasPrefix(_ prefix: String) -> Bool {
        var i = pos
        for scalar in prefix.unicodeScalars {
            guard i < input.count, input[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private static func isAlphaNumeric(_ r: Unicode.Scalar) -> Bool {
        r == "_" || r.properties.isAlphabetic || r.properties.numericType == .decimal
    }

    private static func isTerminator(_ r: Unicode.Scalar?) -> Bool {
        guard let r else { return true }
        switch r {
        case " ", "\t", "\r", "\n", ".", ",", "[", "]", "$", "@", "{", "}": return true
        default: return false
        }
    }

    private mutating func parseInsideAction(_ nodes: inout [JSONPathNode]) throws(JSONPathError) {
        while true {
            if hasPrefix("}") {
                pos += 1
                return
            }
            if hasPrefix("[?(") {
                try parseFilter(&nodes)
                continue
            }
            if hasPrefix("..") {
                if case .recursive? = nodes.last {
                    throw JSONPathError(message: "invalid multiple recursive descent")
                }
                pos += 2
                nodes.append(.recursive)
                if pos < input.count, Self.isAlphaNumeric(input[pos]) { try parseField(&nodes) }
                continue
            }
            guard pos < input.count, input[pos] != "\n", input[pos] != "\r" else {
                throw JSONPathError(message: "unclosed action")
            }
            let r = input[pos]
            pos += 1
            switch r {
            case " ", "@", "$": continue
            case "[": try parseArray(&nodes)
            case "\"", "'": nodes.append(.text(try parseQuote(end: r)))
            case ".": try parseField(&nodes)
            case "+", "-", "0"..."9":
                pos -= 1
                try parseNumber(&nodes)
            default:
                if Self.isAlphaNumeric(r) {
                    pos -= 1
                    parseIdentifier(&nodes)
                } else {
                    throw JSONPathError(
                        message: "unrecognized character in action: U+\(Self.hex(r.value)) '\(Character(r))'")
                }
            }
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// `.name` up to the next unescaped terminator; then every `\\` is dropped (client-go).
    private mutating func parseField(_ nodes: inout [JSONPathNode]) throws(JSONPathError) {
        var raw = ""
        while pos < input.count {
            let r = input[pos]
            if r == "\\" {
                raw.unicodeScalars.append(r)
                pos += 1
                if pos < input.count {
                    raw.unicodeScalars.append(input[pos])
                    pos += 1
                }
                continue
            }
            if Self.isTerminator(r) { break }
            raw.unicodeScalars.append(r)
            pos += 1
        }
        nodes.append(raw == "*" ? .wildcard : .field(raw.removingBackslashes))
    }

    private mutating func parseIdentifier(_ nodes: inout [JSONPathNode]) {
        var value = ""
        while pos < input.count, !Self.isTerminator(input[pos]) {
            value.unicodeScalars.append(input[pos])
            pos += 1
        }
        switch value {
        case "true": nodes.append(.bool(true))
        case "false": nodes.append(.bool(false))
        default: nodes.append(.identifier(value))
        }
    }

    private mutating func parseNumber(_ nodes: inout [JSONPathNode]) throws(JSONPathError) {
        var value = ""
        if pos < input.count, input[pos] == "+" || input[pos] == "-" {
            value.unicodeScalars.append(input[pos])
            pos += 1
        }
        while pos < input.count, input[pos] == "." || ("0"..."9").contains(input[pos]) {
            value.unicodeScalars.append(input[pos])
            pos += 1
        }
        if let i = Int64(value) {
            nodes.append(.int(i))
        } else if let d = Double(value), d.isFinite {
            nodes.append(.float(d))
        } else {
            throw JSONPathError(message: "cannot parse number \(value)")
        }
    }

    /// A quoted string with Go escapes (client-go's UnquoteExtend).
    private mutating func parseQuote(end: Unicode.Scalar) throws(JSONPathError) -> String {
        let start = pos
        while true {
            guard pos < input.count, input[pos] != "\n" else {
                throw JSONPathError(message: "unterminated quoted string")
            }
            let r = input[pos]
            pos += 1
            if r == "\\" {
                if pos < input.count, input[pos] != "\n" { pos += 1 }
                continue
            }
            if r == end { break }
        }
        return try Self.unquote(Array(input[start..<(pos - 1)]), quote: end)
    }

    static func unquote(_ body: [Unicode.Scalar], quote: Unicode.Scalar) throws(JSONPathError) -> String {
        var out = ""
        var i = 0
        func fail() -> JSONPathError {
            JSONPathError(
                message:
                    "unquote string \(quote)\(String(String.UnicodeScalarView(body)))\(quote) error invalid syntax"
            )
        }
        func hexValue(_ count: Int) throws(JSONPathError) -> UInt32 {
            guard i + count <= body.count else { throw fail() }
            var v: UInt32 = 0
            for _ in 0..<count {
                guard let d = Int(String(body[i]), radix: 16) else { throw fail() }
                v = v * 16 + UInt32(d)
                i += 1
            }
            return v
        }
        var bytes: [UInt8] = []
        func flushBytes() {
            if !bytes.isEmpty {
                out += String(decoding: bytes, as: UTF8.self)
                bytes = []
            }
        }
        while i < body.count {
            let c = body[i]
            i += 1
            if c == quote { throw fail() }
            guard c == "\\" else {
                flushBytes()
                out.unicodeScalars.append(c)
                continue
            }
            guard i < body.count else { throw fail() }
            let e = body[i]
            i += 1
            var scalar: Unicode.Scalar?
            switch e {
            case "a": scalar = "\u{07}"
            case "b": scalar = "\u{08}"
            case "f": scalar = "\u{0C}"
            case "n": scalar = "\n"
            case "r": scalar = "\r"
            case "t": scalar = "\t"
            case "v": scalar = "\u{0B}"
            case "\\": scalar = "\\"
            case "'", "\"":
                guard e == quote else { throw fail() }
                scalar = e
            case "x":
                bytes.append(UInt8(try hexValue(2)))
                continue
            case "u": scalar = Unicode.Scalar(try hexValue(4))
            case "U": scalar = Unicode.Scalar(try hexValue(8))
            case "0"..."7":
                var v = e.value - 48
                for _ in 0..<2 {
                    guard i < body.count, ("0"..."7").contains(body[i]) else { throw fail() }
                    v = v * 8 + body[i].value - 48
                    i += 1
                }
                guard v <= 255 else { throw fail() }
                bytes.append(UInt8(v))
                continue
            default: throw fail()
            }
            guard let scalar else { throw fail() }
            flushBytes()
            out.unicodeScalars.append(scalar)
        }
        flushBytes()
        return out
    }

    /// `[...]`: index, slice, `*`, union or `'key'`.
    private mutating func parseArray(_ nodes: inout [JSONPathNode]) throws(JSONPathError) {
        let start = pos
        while true {
            guard pos < input.count, input[pos] != "\n" else {
                throw JSONPathError(message: "unterminated array")
            }
            pos += 1
            if input[pos - 1] == "]" { break }
        }
        var text = String(String.UnicodeScalarView(input[start..<(pos - 1)]))
        if text == "*" { text = ":" }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        if parts.count > 1 {
            var union: [[JSONPathNode]] = []
            for part in parts {
                union.append(try Self.parseAction("[" + String(part).trimmingSpaces() + "]"))
            }
            nodes.append(.union(union))
            return
        }
        if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'"),
            !text.dropFirst().dropLast().contains("'")
        {
            let key = String(text.dropFirst().dropLast())
            let literal = key.removingBackslashes
            guard let path = try? Self.parseAction("." + key) else {
                nodes.append(.field(literal))
                return
            }
            if path.count == 1, case .field(let name) = path[0], name == literal {
                nodes.append(.field(name))
            } else {
                nodes.append(.dictKey(path, literal: literal))
            }
            return
        }
        nodes.append(.slice(try Self.parseSlice(text)))
    }

    /// client-go's `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$` and its ParamsEntry rules.
    static func parseSlice(_ text: String) throws(JSONPathError) -> JSONPathSlice {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 3 else { throw JSONPathError(message: "invalid array index \(text)") }
        for part in parts {
            let digits = part.hasPrefix("-") ? part.dropFirst() : Substring(part)
            guard digits.allSatisfy({ ("0"..."9").contains($0) }) else {
                throw JSONPathError(message: "invalid array index \(text)")
            }
        }
        func number(_ s: String) throws(JSONPathError) -> Int {
            guard let n = Int(s) else { throw JSONPathError(message: "array index \(s) is not a number") }
            return n
        }
        var slice = JSONPathSlice()
        if !parts[0].isEmpty { slice.start = try number(parts[0]) }
        if parts.count >= 2 {
            if !parts[1].isEmpty { slice.end = try number(parts[1]) }
        } else {
            // `[n]`: one element. client-go derives the end from the start (0 when absent).
            slice.end = (slice.start ?? 0) + 1
            slice.endDerived = true
        }
        if parts.count == 3, !parts[2].isEmpty { slice.step = try number(parts[2]) }
        return slice
    }

    /// `[?(left op right)]` or `[?(path)]`.
    private mutating func parseFilter(_ nodes: inout [JSONPathNode]) throws(JSONPathError) {
        pos += 3
        let start = pos
        var begin = false, end = false
        var pair: Unicode.Scalar = "\""
        while true {
            guard pos < input.count, input[pos] != "\n" else {
                throw JSONPathError(message: "unterminated filter")
            }
            let r = input[pos]
            pos += 1
            if r == "\"" || r == "'" {
                if !begin {
                    begin = true
                    pair = r
                    continue
                }
                if pos >= 2, input[pos - 2] != "\\", r == pair { end = true }
            } else if r == ")", begin == end {
                break
            }
        }
        guard pos < input.count, input[pos] == "]" else {
            throw JSONPathError(message: "unclosed array expect ]")
        }
        pos += 1
        let text = String(String.UnicodeScalarView(input[start..<(pos - 2)]))
        let operatorCharacters: Set<Character> = ["!", "<", ">", "="]
        if let opStart = text.firstIndex(where: { operatorCharacters.contains($0) }),
            opStart != text.startIndex
        {
            let opEnd =
                text[opStart...].firstIndex(where: { !operatorCharacters.contains($0) }) ?? text.endIndex
            if opEnd != text.endIndex {
                let op = String(text[opStart..<opEnd])
                let left = try Self.parseAction(String(text[..<opStart]))
                let right = try Self.parseAction(String(text[opEnd...]))
                guard ["<", ">", "==", "!=", "<=", ">="].contains(op) else {
                    throw JSONPathError(message: "unrecognized filter operator \(op)")
                }
                nodes.append(.filter(left: left, op: op, right: right))
                return
            }
        }
        nodes.append(.filter(left: try Self.parseAction(text), op: "exists", right: []))
    }
}

extension String {
    fileprivate var removingBackslashes: String {
        String(String.UnicodeScalarView(unicodeScalars.filter { $0 != "\\" }))
    }

    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Evaluates parsed templates the way client-go's JSONPath.FindResults does.
enum JSONPathEvaluator {
    static func run(_ segments: [JSONPathSegment], on value: JSONValue, into out: inout [[JSONValue]])
        throws(JSONPathError)
    {
        for segment in segments {
            switch segment {
            case .text(let t): out.append([.string(t)])
            case .action(let nodes): out.append(try evalList([value], nodes))
            case .range(let nodes, let body):
                for item in try evalList([value], nodes) {
                    try run(body, on: item, into: &out)
                }
            }
        }
    }

    static func evalList(_ input: [JSONValue], _ nodes: [JSONPathNode]) throws(JSONPathError) -> [JSONValue] {
        var current = input
        for node in nodes {
            current = try eval(current, node)
        }
        return current
    }

    private static func eval(_ input: [JSONValue], _ node: JSONPathNode) throws(JSONPathError) -> [JSONValue]
    {
        switch node {
        case .field(let name):
            return input.compactMap { $0.objectValue?[name] }
        case .dictKey(let path, let literal):
            var out: [JSONValue] = []
            for value in input {
                let viaPath = (try? evalList([value], path)) ?? []
                if viaPath.isEmpty, let literalValue = value.objectValue?[literal] {
                    out.append(literalValue)
                } else {
                    out += viaPath
                }
            }
            return out
        case .wildcard:
            var out: [JSONValue] = []
            for value in input {
                switch value {
                case .object(let o): out += o.keys.sorted().compactMap { o[$0] }
                case .array(let a): out += a
                case .string(let s): out += s.utf8.map { .int(Int64($0)) }  // Go indexes a string's bytes
                default: break
                }
            }
            return out
        case .slice(let slice):
            return try evalSlice(input, slice)
        case .union(let lists):
            var out: [JSONValue] = []
            for list in lists { out += try evalList(input, list) }
            return out
        case .recursive:
            var out: [JSONValue] = []
            recursive(input, into: &out)
            return out
        case .filter(let left, let op, let right):
            return try evalFilter(input, left: left, op: op, right: right)
        case .text(let t): return [.string(t)]
        case .int(let i): return input.map { _ in .int(i) }
        case .float(let d): return input.map { _ in .double(d) }
        case .bool(let b): return input.map { _ in .bool(b) }
        case .identifier(let name):
            throw JSONPathError(message: "unrecognized identifier \(name)")
        }
    }

    private static func children(_ value: JSONValue) -> [JSONValue] {
        switch value {
        case .object(let o): return o.keys.sorted().compactMap { o[$0] }
        case .array(let a): return a
        case .string(let s): return s.utf8.map { .int(Int64($0)) }
        default: return []
        }
    }

    /// Pre-order: every value with children (objects, arrays and, as in client-go, non-empty
    /// strings), then its descendants.
    private static func recursive(_ input: [JSONValue], into out: inout [JSONValue]) {
        for value in input {
            let kids = children(value)
            if kids.isEmpty { continue }
            out.append(value)
            recursive(kids, into: &out)
        }
    }

    static func goTypeName(_ value: JSONValue) -> String {
        switch value {
        case .null: return "<nil>"
        case .bool: return "bool"
        case .int: return "int64"
        case .double: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .object: return "map[string]interface {}"
        }
    }

    private static func evalSlice(_ input: [JSONValue], _ slice: JSONPathSlice) throws(JSONPathError)
        -> [JSONValue]
    {
        var out: [JSONValue] = []
        for value in input {
            if value.isNull { continue }
            guard case .array(let array) = value else {
                throw JSONPathError(message: "\(goTypeName(value)) is not array or slice")
            }
            let length = array.count
            var start = slice.start ?? 0
            if start < 0 { start += length }
            var end = slice.end ?? length
            if end < 0 || (end == 0 && slice.endDerived) { end += length }
            if end == start { continue }
            if start >= length || start < 0 {
                throw JSONPathError(message: "array index out of bounds: index \(start), length \(length)")
            }
            if end > length || end < 0 {
                throw JSONPathError(message: "array index out of bounds: index \(end - 1), length \(length)")
            }
            if start > end {
                throw JSONPathError(message: "starting index \(start) is greater than ending index \(end)")
            }
            var step = 1
            if let s = slice.step {
                guard s > 0 else { throw JSONPathError(message: "step must be > 0") }
                step = s
            }
            out += stride(from: start, to: end, by: step).map { array[$0] }
        }
        return out
    }

    private static func evalFilter(
        _ input: [JSONValue], left: [JSONPathNode], op: String, right: [JSONPathNode]
    ) throws(JSONPathError) -> [JSONValue] {
        var out: [JSONValue] = []
        for value in input {
            guard case .array(let array) = value else {
                throw JSONPathError(
                    message: "\(goTypeName(value)) is not array or slice and cannot be filtered")
            }
            for element in array {
                if op == "exists" {
                    if let lefts = try? evalList([element], left), !lefts.isEmpty { out.append(element) }
                    continue
                }
                let lefts = try evalList([element], left)
                if lefts.isEmpty { continue }
                guard lefts.count == 1 else {
                    throw JSONPathError(message: "can only compare one element at a time")
                }
                let rights = try evalList([element], right)
                if rights.isEmpty { continue }
                guard rights.count == 1 else {
                    throw JSONPathError(message: "can only compare one element at a time")
                }
                if try compare(lefts[0], op, rights[0]) { out.append(element) }
            }
        }
        return out
    }

    private enum Comparable {
        case bool(Bool), int(Int64), float(Double), string(String)
    }

    private static func comparable(_ value: JSONValue) throws(JSONPathError) -> Comparable {
        switch value {
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .float(d)
        case .string(let s): return .string(s)
        default: throw JSONPathError(message: "invalid type for comparison")
        }
    }

    /// text/template's eq/lt as forked in client-go: both sides must be of the same basic kind.
    static func compare(_ a: JSONValue, _ op: String, _ b: JSONValue) throws(JSONPathError) -> Bool {
        let x = try comparable(a), y = try comparable(b)
        func equal() throws(JSONPathError) -> Bool {
            switch (x, y) {
            case (.bool(let p), .bool(let q)): return p == q
            case (.int(let p), .int(let q)): return p == q
            case (.float(let p), .float(let q)): return p == q
            case (.string(let p), .string(let q)): return p == q
            default: throw JSONPathError(message: "incompatible types for comparison")
            }
        }
        func less() throws(JSONPathError) -> Bool {
            switch (x, y) {
            case (.int(let p), .int(let q)): return p < q
            case (.float(let p), .float(let q)): return p < q
            case (.string(let p), .string(let q)): return Array(p.utf8).lexicographicallyPrecedes(q.utf8)
            case (.bool, .bool): throw JSONPathError(message: "invalid type for comparison")
            default: throw JSONPathError(message: "incompatible types for comparison")
            }
        }
        switch op {
        case "==": return try equal()
        case "!=": return try !equal()
        case "<": return try less()
        case ">":
            if try less() { return false }
            return try !equal()
        case "<=":
            if try less() { return true }
            return try equal()
        case ">=": return try !less()
        default: throw JSONPathError(message: "unrecognized filter operator \(op)")
        }
    }
}
