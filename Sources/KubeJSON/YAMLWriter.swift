/// Writes a `JSONValue` as block-style YAML in the layout of go-yaml v2 (kubectl `-o yaml`):
/// sorted keys, two-space indentation, sequences under a key not indented further.
struct YAMLWriter {
    var output = ""

    mutating func writeDocument(_ value: JSONValue) {
        switch value {
        case .object(let o) where !o.isEmpty: writeMapping(o, indent: 0)
        case .array(let a) where !a.isEmpty: writeSequence(a, indent: 0)
        default:
            let scalar = Self.scalarText(value, indent: 2)
            output += scalar.hasPrefix("|") ? scalar : scalar + "\n"
        }
    }

    private mutating func writeMapping(_ object: [String: JSONValue], indent: Int) {
        let pad = String(repeating: " ", count: indent)
        for key in object.keys.sorted() {
            guard let value = object[key] else { continue }
            output += pad + Self.keyText(key) + ":"
            writeValue(value, indent: indent, sequenceIndent: indent)
        }
    }

    /// Writes what follows `key:` or `- `: a scalar on the same line, a collection below.
    private mutating func writeValue(_ value: JSONValue, indent: Int, sequenceIndent: Int) {
        switch value {
        case .object(let o) where !o.isEmpty:
            output += "\n"
            writeMapping(o, indent: indent + 2)
        case .array(let a) where !a.isEmpty:
            output += "\n"
            writeSequence(a, indent: sequenceIndent)
        default:
            let scalar = Self.scalarText(value, indent: indent + 2)
            output += " " + scalar
            if !scalar.hasPrefix("|") { output += "\n" }
        }
    }

    private mutating func writeSequence(_ array: [JSONValue], indent: Int) {
        let pad = String(repeating: " ", count: indent)
        for item in array {
            switch item {
            case .object(let o) where !o.isEmpty:
                // The first member shares the line with the dash.
                var nested = YAMLWriter()
                nested.writeMapping(o, indent: indent + 2)
                output += pad + "- " + nested.output.dropFirst(indent + 2)
            case .array(let a) where !a.isEmpty:
                var nested = YAMLWriter()
                nested.writeSequence(a, indent: indent + 2)
                output += pad + "- " + nested.output.dropFirst(indent + 2)
            default:
                output += pad + "-"
                writeValue(item, indent: indent, sequenceIndent: indent)
            }
        }
    }

    /// A scalar (or empty collection). A literal block (`|`) comes back with its lines and
    /// final newline; anything else is one line without the newline.
    static func scalarText(_ value: JSONValue, indent: Int) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return ".nan" }
            if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
            return JSONValue.formatDouble(d)
        case .string(let s):
            if let block = literalBlock(s, indent: indent) { return block }
            return canBePlain(s) ? s : doubleQuoted(s)
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    static func keyText(_ key: String) -> String {
        canBePlain(key) ? key : doubleQuoted(key)
    }

    /// A literal block for multi-line text, or nil when the text cannot be one faithfully.
    static func literalBlock(_ s: String, indent: Int) -> String? {
        guard s.contains("\n") else { return nil }
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var trailingNewlines = 0
        while lines.count > 1, lines.last == "" {
            lines.removeLast()
            trailingNewlines += 1
        }
        guard let firstContent = lines.first(where: { !$0.isEmpty }) else { return nil }
        if firstContent.first == " " || firstContent.first == "\t" { return nil }
        for line in lines {
            if line.last == " " || line.last == "\t" { return nil }
            for scalar in line.unicodeScalars where !isPrintable(scalar) || scalar == "\r" {
                return nil
            }
        }
        let chomp = trailingNewlines == 0 ? "-" : trailingNewlines == 1 ? "" : "+"
        let pad = String(repeating: " ", count: indent)
        var out = "|" + chomp + "\n"
        for line in lines {
            out += line.isEmpty ? "\n" : pad + line + "\n"
        }
        if trailingNewlines > 1 {
            out += String(repeating: "\n", count: trailingNewlines - 1)
        }
        return out
    }

    private static let leadingIndicators: Set<Unicode.Scalar> = [
        "-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`",
        "<", "=", "~",
    ]

    /// Whether `s` may be written plain and read back as the same string.
    static func canBePlain(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return false }
        guard YAMLScalarResolver.resolvePlain(s) == .string(s) else { return false }
        // Strings that other YAML readers take for dates or numbers are quoted too.
        if first.properties.numericType != nil || first == "+" || first == "." { return false }
        if leadingIndicators.contains(first) { return false }
        if last == " " || last == ":" { return false }
        if first == " " { return false }
        for scalar in s.unicodeScalars {
            if !isPrintable(scalar) || scalar == "\t" || scalar == "\n" { return false }
        }
        if s.contains(": ") || s.contains(" #") { return false }
        return true
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: return true
        case 0..<0x20, 0x7F, 0x80...0x9F: return false
        case 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF: return false
        case 0xD800...0xDFFF: return false
        default: return true
        }
    }

    static func doubleQuoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value <= 0xFF {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else {
                    out += "\\u" + hex(scalar.value, width: 4)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
