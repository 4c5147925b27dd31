import Foundation

/// A YAML scalar after tag resolution, before it becomes a `JSONValue`.
///
/// Floats and integers stay apart here because a mapping key is turned into a string from its
/// resolved type (sigs.k8s.io/yaml formats a float key `1e6` as `1e+06` but an int key `12` as
/// `12`), while a value goes through JSON, where an integral float is written as an integer.
enum YAMLScalar: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    /// An integer above `Int64.max` (Go's uint64).
    case uint(UInt64)
    case float(Double)
    case string(String)

    /// The value kubectl ends up with after sigs.k8s.io/yaml turned the YAML into JSON text and
    /// that text was read back: integral floats below 1e21 become integers, uint64 becomes a
    /// float.
    var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .double(Double(u))
        case .string(let s): return .string(s)
        case .float(let d): return YAMLScalar.jsonNumber(d)
        }
    }

    /// A float as Go's encoding/json writes it and a JSON reader reads it back.
    static func jsonNumber(_ d: Double) -> JSONValue {
        guard d.isFinite, d == d.rounded(), abs(d) < 1e21 else { return .double(d) }
        if abs(d) < 9_007_199_254_740_992 { return .int(Int64(d)) }  // 2^53: exact
        // Go writes the shortest digits padded with zeros ("9223372036854775000"); read them
        // back the same way so huge integral floats match kubectl exactly.
        let digits = ShortestDigits(d)
        let text =
            (d < 0 ? "-" : "") + digits.digits
            + String(repeating: "0", count: max(0, digits.pointPosition - digits.digits.count))
        if let i = Int64(text) { return .int(i) }
        return .double(d)
    }

    /// The map key sigs.k8s.io/yaml makes of this scalar; nil when it refuses the key.
    var mapKey: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .float(let d): return YAMLScalar.goFormatFloat32G(d)
        case .null, .uint: return nil
        }
    }

    /// strconv.FormatFloat(d, 'g', -1, 32), with go-yaml's spellings of infinities and NaN.
    static func goFormatFloat32G(_ d: Double) -> String {
        let f = Float(d)
        if f.isNaN { return ".nan" }
        if f.isInfinite { return f < 0 ? "-.inf" : ".inf" }
        let sign = f.sign == .minus ? "-" : ""
        if f == 0 { return sign + "0" }
        return sign + ShortestDigits(f).goFormatG()
    }
}

/// The shortest decimal digits that read back as the same binary float, and where the decimal
/// point goes (`digits` = "15", `pointPosition` = 1 means 1.5). Taken from Swift's own shortest
/// formatting, which uses the same round-trip rule as Go's strconv.
struct ShortestDigits {
    var digits: String
    var pointPosition: Int

    init<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) {
        var text = value.magnitude.description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        var integerPart = text
        var fraction = ""
        if let dot = text.firstIndex(of: ".") {
            integerPart = String(text[..<dot])
            fraction = String(text[text.index(after: dot)...])
        }
        var all = integerPart + fraction
        var point = integerPart.count + exponent
        while all.hasPrefix("0") && all.count > 1 {
            all.removeFirst()
            point -= 1
        }
        while all.hasSuffix("0") && all.count > 1 { all.removeLast() }
        digits = all
        pointPosition = point
    }

    /// Go's strconv 'g' format with the shortest precision (magnitude only): exponent form
    /// when the exponent is below -4 or at least 6, as in `1e+06`, `1.5e-05`.
    func goFormatG() -> String {
        let exponent = pointPosition - 1
        if exponent < -4 || exponent >= 6 {
            var s = String(digits.prefix(1))
            if digits.count > 1 { s += "." + digits.dropFirst() }
            let e = String(abs(exponent))
            return s + (exponent < 0 ? "e-" : "e+") + (e.count < 2 ? "0" : "") + e
        }
        if pointPosition <= 0 {
            return "0." + String(repeating: "0", count: -pointPosition) + digits
        }
        if digits.count <= pointPosition {
            return digits + String(repeating: "0", count: pointPosition - digits.count)
        }
        let split = digits.index(digits.startIndex, offsetBy: pointPosition)
        return digits[..<split] + "." + digits[split...]
    }
}

/// Why an explicitly tagged scalar could not be read (`!!int abc`).
struct YAMLTagMismatch: Error {
    var message: String
}

/// YAML 1.1 tag resolution as go-yaml v2 does it (sigs.k8s.io/yaml, and so kubectl, uses a
/// fork of go-yaml v2). Notable consequences, all checked against kubectl v1.32:
/// - `y`, `Y`, `n`, `N` are booleans (go-yaml v2's table lists them with yes/no), as are
///   yes/no/on/off/true/false in lower, Capitalised and UPPER case; `t`, `yEs` are strings.
/// - Integers follow Go's strconv.ParseInt with base 0 after all `_` are removed: `0x1F`,
///   `0o17`, `017`, `0b101`, `+5`, `1_000`. `08` is not octal, so it falls through to a float
///   (8). Above Int64.max a number is a uint64, above that a float.
/// - A float must match `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`; `1e400`
///   overflows and stays a string. `.inf`, `-.inf`, `.nan` (three case spellings) are floats.
/// - Timestamps such as `2001-12-14` stay strings (go-yaml v2 keeps them as strings when
///   decoding into interface{}).
enum YAMLScalarResolver {
    static let tagPrefix = "tag:yaml.org,2002:"
    static let strTag = tagPrefix + "str"
    static let intTag = tagPrefix + "int"
    static let floatTag = tagPrefix + "float"
    static let boolTag = tagPrefix + "bool"
    static let nullTag = tagPrefix + "null"
    static let timestampTag = tagPrefix + "timestamp"
    static let binaryTag = tagPrefix + "binary"
    static let mergeTag = tagPrefix + "merge"

    private static let words: [String: YAMLScalar] = {
        var table: [String: YAMLScalar] = [:]
        for w in ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"] {
            table[w] = .bool(true)
        }
        for w in ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"] {
            table[w] = .bool(false)
        }
        for w in ["", "~", "null", "Null", "NULL"] { table[w] = .null }
        for w in [".nan", ".NaN", ".NAN"] { table[w] = .float(.nan) }
        for w in [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"] { table[w] = .float(.infinity) }
        for w in ["-.inf", "-.Inf", "-.INF"] { table[w] = .float(-.infinity) }
        return table
    }()

    /// Resolves one scalar. `tag` is the full tag from libyaml (nil when none was written);
    /// `plainImplicit` is true for untagged plain scalars.
    static func resolve(_ text: String, tag: String?, plainImplicit: Bool) throws(YAMLTagMismatch)
        -> YAMLScalar
    {
        let tag = tag ?? ""
        if tag.isEmpty && !plainImplicit { return .string(text) }
        switch tag {
        case "": return resolvePlain(text)
        case strTag: return .string(text)
        case binaryTag:
            let cleaned = text.filter { $0 != "\n" && $0 != "\r" }
            guard let data = Data(base64Encoded: cleaned) else {
                throw YAMLTagMismatch(message: "!!binary value contains invalid base64 data")
            }
            return .string(String(decoding: data, as: UTF8.self))
        case timestampTag: return .string(text)
        case boolTag, intTag, floatTag, nullTag:
            let resolved = resolvePlain(text)
            switch (tag, resolved) {
            case (boolTag, .bool), (intTag, .int), (intTag, .uint), (floatTag, .float), (nullTag, .null):
                return resolved
            case (floatTag, .int(let i)): return .float(Double(i))
            case (floatTag, .uint(let u)): return .float(Double(u))
            default:
                throw YAMLTagMismatch(
                    message: "cannot decode \(shortTag(resolved)) `\(text)` as a \(shortTag(tag))")
            }
        default:
            // Unknown and local tags (`!foo`, `!`) leave the text as it is, as go-yaml does.
            return .string(text)
        }
    }

    private static func shortTag(_ scalar: YAMLScalar) -> String {
        switch scalar {
        case .null: return "!!null"
        case .bool: return "!!bool"
        case .int, .uint: return "!!int"
        case .float: return "!!float"
        case .string: return "!!str"
        }
    }

    private static func shortTag(_ tag: String) -> String {
        tag.hasPrefix(tagPrefix) ? "!!" + tag.dropFirst(tagPrefix.count) : tag
    }

    /// Resolution of an untagged plain scalar.
    static func resolvePlain(_ text: String) -> YAMLScalar {
        let utf8 = text.utf8
        guard let first = utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "y"), UInt8(ascii: "Y"), UInt8(ascii: "n"), UInt8(ascii: "N"),
            UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"),
            UInt8(ascii: "o"), UInt8(ascii: "O"), UInt8(ascii: "~"):
            return words[text] ?? .string(text)
        case UInt8(ascii: "."):
            if let word = words[text] { return word }
            // strconv.ParseFloat on the text as written (underscores are not allowed here).
            if matchesDotFloat(Array(utf8)), let d = Double(text), d.isFinite { return .float(d) }
            return .string(text)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            if let word = words[text] { return word }
            let plain = Array(utf8.filter { $0 != UInt8(ascii: "_") })
            if let number = goParseInteger(plain) { return number }
            if matchesYAMLFloat(plain), let d = Double(String(decoding: plain, as: UTF8.self)), d.isFinite {
                return .float(d)
            }
            return .string(text)
        default:
            return .string(text)
        }
    }

    /// strconv.ParseInt(s, 0, 64), then strconv.ParseUint(s, 0, 64) for unsigned overflow.
    static func goParseInteger(_ bytes: [UInt8]) -> YAMLScalar? {
        var index = 0
        var negative = false
        var signed = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            signed = true
            index += 1
        }
        var base: UInt64 = 10
        if index < bytes.count, bytes[index] == UInt8(ascii: "0"), index + 1 < bytes.count {
            switch bytes[index + 1] {
            case UInt8(ascii: "x"), UInt8(ascii: "X"): base = 16; index += 2
            case UInt8(ascii: "o"), UInt8(ascii: "O"): base = 8; index += 2
            case UInt8(ascii: "b"), UInt8(ascii: "B"): base = 2; index += 2
            default: base = 8; index += 1
            }
        }
        guard index < bytes.count else { return nil }
        var magnitude: UInt64 = 0
        while index < bytes.count {
            let b = bytes[index]
            let digit: UInt64
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt64(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt64(b - UInt8(ascii: "A") + 10)
            default: return nil
            }
            guard digit < base else { return nil }
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: base)
            let (m2, o2) = m1.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            magnitude = m2
            index += 1
        }
        if negative {
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            if magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            return nil
        }
        if magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
        // ParseUint takes no sign.
        return signed ? nil : .uint(magnitude)
    }

    /// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
    static func matchesYAMLFloat(_ b: [UInt8]) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
            return i - start
        }
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            if digits() == 0 { return false }
        } else {
            if digits() == 0 { return false }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                _ = digits()
            }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            if digits() == 0 { return false }
        }
        return i == b.count
    }

    /// What strconv.ParseFloat accepts for a text starting with '.': `.5`, `.5e3`.
    static func matchesDotFloat(_ b: [UInt8]) -> Bool {
        guard b.first == UInt8(ascii: ".") else { return false }
        return matchesYAMLFloat(b)
    }
}
