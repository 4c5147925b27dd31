import KubeJSON

/// A compile or evaluation error of a CEL expression.
struct CELError: Error, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
}

/// The abstract syntax of the small CEL subset kubesnap evaluates for `x-kubernetes-validations`.
indirect enum CELExpr: Sendable {
    case literal(JSONValue)
    case identifier(String)
    case select(CELExpr, String)
    case has(CELExpr, String)
    case index(CELExpr, CELExpr)
    case call(target: CELExpr?, function: String, arguments: [CELExpr])
    /// `list.all(x, pred)` / `exists` / `exists_one` / `map` / `filter`.
    case comprehension(kind: String, range: CELExpr, variable: String, body: CELExpr)
    case unary(String, CELExpr)
    case binary(String, CELExpr, CELExpr)
    case conditional(CELExpr, CELExpr, CELExpr)
    case list([CELExpr])
    case map([(CELExpr, CELExpr)])

    /// Whether the expression mentions `oldSelf` (a transition rule).
    var referencesOldSelf: Bool {
        switch self {
        case .literal: return false
        case .identifier(let name): return name == "oldSelf"
        case .select(let e, _), .has(let e, _), .unary(_, let e): return e.referencesOldSelf
        case .index(let a, let b), .binary(_, let a, let b): return a.referencesOldSelf || b.referencesOldSelf
        case .call(let target, _, let args):
            return (target?.referencesOldSelf ?? false) || args.contains { $0.referencesOldSelf }
        case .comprehension(_, let range, _, let body):
            return range.referencesOldSelf || body.referencesOldSelf
        case .conditional(let a, let b, let c):
            return a.referencesOldSelf || b.referencesOldSelf || c.referencesOldSelf
        case .list(let items): return items.contains { $0.referencesOldSelf }
        case .map(let entries): return entries.contains { $0.0.referencesOldSelf || $0.1.referencesOldSelf }
        }
    }
}

/// A compiled CEL program over JSON values.
struct CELProgram: Sendable {
    let source: String
    let expression: CELExpr

    static let functions: Set<String> = [
        "size", "startsWith", "endsWith", "contains", "matches", "int", "string", "double", "bool",
        "lowerAscii", "upperAscii", "trim", "type",
    ]

    init(_ source: String) throws(CELError) {
        self.source = source
        var parser = CELParser(source)
        expression = try parser.parseAll()
        try CELProgram.check(expression, scope: ["self", "oldSelf"])
    }

    /// Rejects identifiers and functions the evaluator does not know, at CRD creation.
    private static func check(_ e: CELExpr, scope: Set<String>) throws(CELError) {
        switch e {
        case .literal: return
        case .identifier(let name):
            if !scope.contains(name) { throw CELError("undeclared reference to '\(name)'") }
        case .select(let t, _), .has(let t, _), .unary(_, let t): try check(t, scope: scope)
        case .index(let a, let b), .binary(_, let a, let b):
            try check(a, scope: scope)
            try check(b, scope: scope)
        case .call(let target, let function, let arguments):
            guard functions.contains(function) else {
                throw CELError("undeclared reference to '\(function)'")
            }
            if let target { try check(target, scope: scope) }
            for a in arguments { try check(a, scope: scope) }
        case .comprehension(_, let range, let variable, let body):
            try check(range, scope: scope)
            try check(body, scope: scope.union([variable]))
        case .conditional(let a, let b, let c):
            try check(a, scope: scope)
            try check(b, scope: scope)
            try check(c, scope: scope)
        case .list(let items): for i in items { try check(i, scope: scope) }
        case .map(let entries):
            for (k, v) in entries {
                try check(k, scope: scope)
                try check(v, scope: scope)
            }
        }
    }

    func evaluate(self value: JSONValue, oldSelf: JSONValue?) throws(CELError) -> JSONValue {
        var bindings: [String: JSONValue] = ["self": value]
        if let oldSelf { bindings["oldSelf"] = oldSelf }
        return try CELEvaluator.eval(expression, bindings)
    }
}

enum CELEvaluator {
    static func eval(_ e: CELExpr, _ env: [String: JSONValue]) throws(CELError) -> JSONValue {
        switch e {
        case .literal(let v): return v
        case .identifier(let name):
            guard let v = env[name] else { throw CELError("no such attribute: \(name)") }
            return v
        case .select(let target, let field):
            let t = try eval(target, env)
            guard case .object(let o) = t else { throw CELError("no such key: \(field)") }
            guard let v = o[field] else { throw CELError("no such key: \(field)") }
            return v
        case .has(let target, let field):
            let t = try eval(target, env)
            guard case .object(let o) = t else { return false }
            return .bool(o[field] != nil)
        case .index(let target, let indexExpr):
            let t = try eval(target, env)
            let i = try eval(indexExpr, env)
            switch (t, i) {
            case (.array(let a), .int(let n)):
                guard n >= 0, n < a.count else { throw CELError("index out of bounds: \(n)") }
                return a[Int(n)]
            case (.object(let o), .string(let k)):
                guard let v = o[k] else { throw CELError("no such key: \(k)") }
                return v
            default: throw CELError("no such overload: index")
            }
        case .unary(let op, let operand):
            let v = try eval(operand, env)
            switch (op, v) {
            case ("!", .bool(let b)): return .bool(!b)
            case ("-", .int(let i)): return .int(-i)
            case ("-", .double(let d)): return .double(-d)
            default: throw CELError("no such overload: \(op)\(typeName(v))")
            }
        case .binary("&&", let l, let r): return try shortCircuit(l, r, env, decisive: false)
        case .binary("||", let l, let r): return try shortCircuit(l, r, env, decisive: true)
        case .binary(let op, let l, let r):
            return try binary(op, eval(l, env), eval(r, env))
        case .conditional(let c, let a, let b):
            guard case .bool(let cond) = try eval(c, env) else {
                throw CELError("no matching overload for '_?_:_'")
            }
            return try eval(cond ? a : b, env)
        case .list(let items):
            var out: [JSONValue] = []
            for i in items { out.append(try eval(i, env)) }
            return .array(out)
        case .map(let entries):
            var out: [String: JSONValue] = [:]
            for (k, v) in entries {
                guard case .string(let key) = try eval(k, env) else {
                    throw CELError("map keys must be strings")
                }
                out[key] = try eval(v, env)
            }
            return .object(out)
        case .call(let target, let function, let arguments):
            var args: [JSONValue] = []
            if let target { args.append(try eval(target, env)) }
            for a in arguments { args.append(try eval(a, env)) }
            return try call(function, args)
        case .comprehension(let kind, let range, let variable, let body):
            let r = try eval(range, env)
            let elements: [JSONValue]
            switch r {
            case .array(let a): elements = a
            case .object(let o): elements = o.keys.sorted().map(JSONValue.string)
            default: throw CELError("no such overload: \(kind)")
            }
            var scoped = env
            var results: [JSONValue] = []
            var count = 0
            for element in elements {
                scoped[variable] = element
                let v = try eval(body, scoped)
                switch kind {
                case "map": results.append(v)
                case "filter": if v == .bool(true) { results.append(element) }
                default:
                    guard case .bool(let b) = v else { throw CELError("\(kind) predicate must be a bool") }
                    if kind == "all", !b { return false }
                    if kind == "exists", b { return true }
                    if b { count += 1 }
                }
            }
            switch kind {
            case "all": return true
            case "exists": return false
            case "exists_one": return .bool(count == 1)
            default: return .array(results)
            }
        }
    }

    /// CEL's commutative `&&`/`||`: an error on one side is absorbed when the other side decides.
    private static func shortCircuit(_ l: CELExpr, _ r: CELExpr, _ env: [String: JSONValue], decisive: Bool)
        throws(CELError)
        -> JSONValue
    {
        let op = decisive ? "||" : "&&"
        var leftError: CELError?
        do throws(CELError) {
            let lv = try eval(l, env)
            guard case .bool(let lb) = lv else { throw CELError("no matching overload for '_\(op)_'") }
            if lb == decisive { return .bool(decisive) }
        } catch { leftError = error }
        let rv = try eval(r, env)
        guard case .bool(let rb) = rv else { throw CELError("no matching overload for '_\(op)_'") }
        if rb == decisive { return .bool(decisive) }
        if let leftError { throw leftError }
        return .bool(!decisive)
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: "null_type"
        case .bool: "bool"
        case .int: "int"
        case .double: "double"
        case .string: "string"
        case .array: "list"
        case .object: "map"
        }
    }

    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { equal(v, $0) } ?? false }
        default: return a == b
        }
    }

    private static func binary(_ op: String, _ a: JSONValue, _ b: JSONValue) throws(CELError) -> JSONValue {
        let overloadError = CELError("no such overload: \(typeName(a)) \(op) \(typeName(b))")
        switch op {
        case "==": return .bool(equal(a, b))
        case "!=": return .bool(!equal(a, b))
        case "in":
            switch b {
            case .array(let items): return .bool(items.contains { equal($0, a) })
            case .object(let o):
                guard case .string(let k) = a else { return false }
                return .bool(o[k] != nil)
            default: throw overloadError
            }
        case "<", "<=", ">", ">=":
            let order: Int
            switch (a, b) {
            case (.int(let x), .int(let y)): order = x < y ? -1 : (x == y ? 0 : 1)
            case (.string(let x), .string(let y)): order = x < y ? -1 : (x == y ? 0 : 1)
            case (.bool(let x), .bool(let y)): order = x == y ? 0 : (!x ? -1 : 1)
            default:
                guard let x = numeric(a), let y = numeric(b) else { throw overloadError }
                order = x < y ? -1 : (x == y ? 0 : 1)
            }
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "+":
            switch (a, b) {
            case (.int(let x), .int(let y)):
                let (r, overflow) = x.addingReportingOverflow(y)
                if overflow { throw CELError("integer overflow") }
                return .int(r)
            case (.double(let x), .double(let y)): return .double(x + y)
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            default: throw overloadError
            }
        case "-", "*", "/", "%":
            switch (a, b) {
            case (.int(let x), .int(let y)):
                if (op == "/" || op == "%") && y == 0 {
                    throw CELError(op == "/" ? "division by zero" : "modulus by zero")
                }
                let (r, overflow): (Int64, Bool)
                switch op {
                case "-": (r, overflow) = x.subtractingReportingOverflow(y)
                case "*": (r, overflow) = x.multipliedReportingOverflow(by: y)
                case "/": (r, overflow) = x.dividedReportingOverflow(by: y)
                default: (r, overflow) = x.remainderReportingOverflow(dividingBy: y)
                }
                if overflow { throw CELError("integer overflow") }
                return .int(r)
            case (.double(let x), .double(let y)):
                switch op {
                case "-": return .double(x - y)
                case "*": return .double(x * y)
                case "/": return .double(x / y)
                default: throw overloadError
                }
            default: throw overloadError
            }
        default: throw CELError("unsupported operator \(op)")
        }
    }

    private static func numeric(_ v: JSONValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    private static func call(_ function: String, _ args: [JSONValue]) throws(CELError) -> JSONValue {
        let overloadError = CELError(
            "found no matching overload for '\(function)' applied to '(\(args.map(typeName).joined(separator: ", ")))'"
        )
        switch (function, args.count) {
        case ("size", 1):
            switch args[0] {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .array(let a): return .int(Int64(a.count))
            case .object(let o): return .int(Int64(o.count))
            default: throw overloadError
            }
        case ("startsWith", 2), ("endsWith", 2), ("contains", 2):
            guard case .string(let s) = args[0], case .string(let p) = args[1] else { throw overloadError }
            switch function {
            case "startsWith": return .bool(s.hasPrefix(p))
            case "endsWith": return .bool(s.hasSuffix(p))
            default: return .bool(p.isEmpty || s.contains(p))
            }
        case ("matches", 2):
            guard case .string(let s) = args[0], case .string(let p) = args[1] else { throw overloadError }
            return .bool(try CompiledPatterns.regex(p).matches(s))
        case ("lowerAscii", 1), ("upperAscii", 1), ("trim", 1):
            guard case .string(let s) = args[0] else { throw overloadError }
            switch function {
            case "lowerAscii": return .string(s.lowercased())
            case "upperAscii": return .string(s.uppercased())
            default: return .string(s.trimmingCharacters(in: " \t\n\r"))
            }
        case ("int", 1):
            switch args[0] {
            case .int: return args[0]
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw CELError("integer overflow") }
                return .int(Int64(d))
            case .string(let s):
                guard let i = Int64(s) else { throw CELError("cannot convert \"\(s)\" to int") }
                return .int(i)
            default: throw overloadError
            }
        case ("double", 1):
            switch args[0] {
            case .int(let i): return .double(Double(i))
            case .double: return args[0]
            case .string(let s):
                guard let d = Double(s) else { throw CELError("cannot convert \"\(s)\" to double") }
                return .double(d)
            default: throw overloadError
            }
        case ("string", 1):
            switch args[0] {
            case .string: return args[0]
            case .int(let i): return .string(String(i))
            case .double, .bool: return .string(args[0].description)
            default: throw overloadError
            }
        case ("bool", 1):
            switch args[0] {
            case .bool: return args[0]
            case .string("true"): return true
            case .string("false"): return false
            default: throw overloadError
            }
        case ("type", 1): return .string(typeName(args[0]))
        default: throw overloadError
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

/// Tokenizer and recursive-descent parser for the CEL subset.
struct CELParser {
    enum Token: Equatable {
        case int(Int64), double(Double), string(String), identifier(String), symbol(String), end
    }
    var tokens: [Token] = []
    var position = 0
    let source: String
    var lexError: CELError?

    init(_ source: String) {
        self.source = source
        do { tokens = try CELParser.tokenize(source) } catch { lexError = error }
    }

    static func tokenize(_ text: String) throws(CELError) -> [Token] {
        let chars = Array(text.unicodeScalars)
        var i = 0
        var out: [Token] = []
        let twoCharSymbols: Set<String> = ["==", "!=", "<=", ">=", "&&", "||"]
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
                continue
            }
            if c.properties.isAlphabetic || c == "_" {
                var j = i
                while j < chars.count,
                    chars[j].properties.isAlphabetic || chars[j] == "_" || ("0"..."9").contains(chars[j])
                { j += 1 }
                let word = String(String.UnicodeScalarView(chars[i..<j]))
                // raw strings r"..." / r'...'
                if (word == "r" || word == "R"), j < chars.count, chars[j] == "\"" || chars[j] == "'" {
                    let quote = chars[j]
                    var k = j + 1
                    var s = String.UnicodeScalarView()
                    while k < chars.count, chars[k] != quote { s.append(chars[k]); k += 1 }
                    guard k < chars.count else { throw CELError("unterminated string literal") }
                    out.append(.string(String(s)))
                    i = k + 1
                    continue
                }
                out.append(.identifier(word))
                i = j
                continue
            }
            if ("0"..."9").contains(c) {
                var j = i
                var isDouble = false
                while j < chars.count,
                    ("0"..."9").contains(chars[j]) || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                {
                    if chars[j] == "." {
                        // `1.size()` is not a thing; a dot must be followed by a digit to be a decimal point.
                        guard j + 1 < chars.count, ("0"..."9").contains(chars[j + 1]) else { break }
                    }
                    if chars[j] == "." || chars[j] == "e" || chars[j] == "E" { isDouble = true }
                    j += 1
                }
                let literal = String(String.UnicodeScalarView(chars[i..<j]))
                // A uint literal (`1u`) is treated as an int.
                if j < chars.count, chars[j] == "u" || chars[j] == "U" { j += 1 }
                if isDouble {
                    guard let d = Double(literal) else { throw CELError("invalid number \(literal)") }
                    out.append(.double(d))
                } else {
                    guard let n = Int64(literal) else { throw CELError("invalid integer \(literal)") }
                    out.append(.int(n))
                }
                i = j
                continue
            }
            if c == "\"" || c == "'" {
                var j = i + 1
                var s = String.UnicodeScalarView()
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count {
                        j += 1
                        switch chars[j] {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        case "r": s.append("\r")
                        default: s.append(chars[j])
                        }
                    } else {
                        s.append(chars[j])
                    }
                    j += 1
                }
                guard j < chars.count else { throw CELError("unterminated string literal") }
                out.append(.string(String(s)))
                i = j + 1
                continue
            }
            if i + 1 < chars.count {
                let pair = String(String.UnicodeScalarView([c, chars[i + 1]]))
                if twoCharSymbols.contains(pair) {
                    out.append(.symbol(pair))
                    i += 2
                    continue
                }
            }
            let single = String(c)
            guard "()[]{}.,:?!<>+-*/%".contains(single) else {
                throw CELError("Syntax error: token recognition error at: '\(single)'")
            }
            out.append(.symbol(single))
            i += 1
        }
        out.append(.end)
        return out
    }

    var current: Token { tokens[min(position, tokens.count - 1)] }

    mutating func parseAll() throws(CELError) -> CELExpr {
        if let lexError { throw lexError }
        let e = try parseConditional()
        guard current == .end else { throw CELError("Syntax error: unexpected \(describe(current))") }
        return e
    }

    func describe(_ t: Token) -> String {
        switch t {
        case .int(let i): "'\(i)'"
        case .double(let d): "'\(d)'"
        case .string(let s): "'\"\(s)\"'"
        case .identifier(let s): "'\(s)'"
        case .symbol(let s): "'\(s)'"
        case .end: "end of input"
        }
    }

    mutating func expect(_ symbol: String) throws(CELError) {
        guard current == .symbol(symbol) else {
            throw CELError("Syntax error: expected '\(symbol)', found \(describe(current))")
        }
        position += 1
    }

    mutating func accept(_ symbol: String) -> Bool {
        if current == .symbol(symbol) {
            position += 1
            return true
        }
        return false
    }

    mutating func parseConditional() throws(CELError) -> CELExpr {
        let condition = try parseOr()
        if accept("?") {
            let a = try parseConditional()
            try expect(":")
            let b = try parseConditional()
            return .conditional(condition, a, b)
        }
        return condition
    }

    mutating func parseOr() throws(CELError) -> CELExpr {
        var e = try parseAnd()
        while accept("||") { e = .binary("||", e, try parseAnd()) }
        return e
    }

    mutating func parseAnd() throws(CELError) -> CELExpr {
        var e = try parseRelation()
        while accept("&&") { e = .binary("&&", e, try parseRelation()) }
        return e
    }

    mutating func parseRelation() throws(CELError) -> CELExpr {
        var e = try parseAdditive()
        while true {
            if case .symbol(let s) = current, ["==", "!=", "<", "<=", ">", ">="].contains(s) {
                position += 1
                e = .binary(s, e, try parseAdditive())
            } else if current == .identifier("in") {
                position += 1
                e = .binary("in", e, try parseAdditive())
            } else {
                return e
            }
        }
    }

    mutating func parseAdditive() throws(CELError) -> CELExpr {
        var e = try parseMultiplicative()
        while case .symbol(let s) = current, s == "+" || s == "-" {
            position += 1
            e = .binary(s, e, try parseMultiplicative())
        }
        return e
    }

    mutating func parseMultiplicative() throws(CELError) -> CELExpr {
        var e = try parseUnary()
        while case .symbol(let s) = current, s == "*" || s == "/" || s == "%" {
            position += 1
            e = .binary(s, e, try parseUnary())
        }
        return e
    }

    mutating func parseUnary() throws(CELError) -> CELExpr {
        if accept("!") { return .unary("!", try parseUnary()) }
        if accept("-") {
            let operand = try parseUnary()
            if case .literal(.int(let i)) = operand { return .literal(.int(-i)) }
            if case .literal(.double(let d)) = operand { return .literal(.double(-d)) }
            return .unary("-", operand)
        }
        return try parseMember()
    }

    mutating func parseArguments() throws(CELError) -> [CELExpr] {
        var args: [CELExpr] = []
        if accept(")") { return args }
        repeat { args.append(try parseConditional()) } while accept(",")
        try expect(")")
        return args
    }

    mutating func parseMember() throws(CELError) -> CELExpr {
        var e = try parsePrimary()
        while true {
            if accept(".") {
                guard case .identifier(let name) = current else {
                    throw CELError("Syntax error: expected a field name, found \(describe(current))")
                }
                position += 1
                if accept("(") {
                    if ["all", "exists", "exists_one", "map", "filter"].contains(name) {
                        guard case .identifier(let variable) = current else {
                            throw CELError("\(name)() variable name must be a simple identifier")
                        }
                        position += 1
                        try expect(",")
                        let body = try parseConditional()
                        try expect(")")
                        e = .comprehension(kind: name, range: e, variable: variable, body: body)
                    } else {
                        e = .call(target: e, function: name, arguments: try parseArguments())
                    }
                } else {
                    e = .select(e, name)
                }
            } else if accept("[") {
                let index = try parseConditional()
                try expect("]")
                e = .index(e, index)
            } else {
                return e
            }
        }
    }

    mutating func parsePrimary() throws(CELError) -> CELExpr {
        let token = current
        position += 1
        switch token {
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .string(let s): return .literal(.string(s))
        case .identifier("true"): return .literal(true)
        case .identifier("false"): return .literal(false)
        case .identifier("null"): return .literal(.null)
        case .identifier(let name):
            if accept("(") {
                if name == "has" {
                    let arg = try parseConditional()
                    try expect(")")
                    guard case .select(let target, let field) = arg else {
                        throw CELError("invalid argument to has() macro")
                    }
                    return .has(target, field)
                }
                return .call(target: nil, function: name, arguments: try parseArguments())
            }
            return .identifier(name)
        case .symbol("("):
            let e = try parseConditional()
            try expect(")")
            return e
        case .symbol("["):
            var items: [CELExpr] = []
            if !accept("]") {
                repeat { items.append(try parseConditional()) } while accept(",")
                try expect("]")
            }
            return .list(items)
        case .symbol("{"):
            var entries: [(CELExpr, CELExpr)] = []
            if !accept("}") {
                repeat {
                    let k = try parseConditional()
                    try expect(":")
                    entries.append((k, try parseConditional()))
                } while accept(",")
                try expect("}")
            }
            return .map(entries)
        default:
            throw CELError("Syntax error: mismatched input \(describe(token))")
        }
    }
}

/// A compiled regular expression shared between threads. `Regex<AnyRegexOutput>` is not
/// `Sendable` only because its output type is not; the compiled program is immutable once
/// built (lowered lazily behind an atomic), and matching does not mutate it.
struct SharedRegex: @unchecked Sendable {
    private let regex: Regex<AnyRegexOutput>

    init?(_ pattern: String) {
        guard let regex = try? Regex(pattern) else { return nil }
        self.regex = regex
    }

    /// Whether the pattern matches somewhere in `text` (unanchored, as Go's regexp.MatchString).
    func matches(_ text: String) -> Bool { (try? regex.firstMatch(in: text)) != nil }
}

/// Regular expressions of CEL `matches`, compiled once per pattern: a rule is evaluated on every
/// write, and compiling its regex each time cost more than the rest of the evaluation.
enum CompiledPatterns {
    private static let cache = Locked<[String: SharedRegex]>([:])

    static func regex(_ pattern: String) throws(CELError) -> SharedRegex {
        if let regex = cache.withLock({ $0[pattern] }) { return regex }
        guard let regex = SharedRegex(pattern) else { throw CELError("invalid regular expression: \(pattern)") }
        cache.withLock { cache in
            if cache.count >= 256 { cache.removeAll() }  // patterns come from CRDs: a handful
            cache[pattern] = regex
        }
        return regex
    }
}
