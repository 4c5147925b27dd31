extension JSONValue {
    /// Options for writing JSON text.
    public struct WriteOptions: Sendable, OptionSet {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Indent with two spaces and put each member on its own line.
        public static let pretty = WriteOptions(rawValue: 1)
    }

    /// The value as compact (or pretty) JSON text, object keys sorted (as Go sorts map keys).
    public func serialized(options: WriteOptions = []) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, pretty: options.contains(.pretty), indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// The value as UTF-8 JSON bytes.
    public func serializedBytes(options: WriteOptions = []) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out, pretty: options.contains(.pretty), indent: 0)
        return out
    }

    /// Appends the value as JSON to `out`.
    public func write(to out: inout [UInt8], pretty: Bool = false, indent: Int = 0) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .int(let i): out.append(contentsOf: Array(String(i).utf8))
        case .double(let d): out.append(contentsOf: Array(JSONValue.formatDouble(d).utf8))
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            if a.isEmpty {
                out.append(contentsOf: [0x5B, 0x5D])
                return
            }
            out.append(0x5B)
            for (i, element) in a.enumerated() {
                if i > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                element.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(&out, indent) }
            out.append(0x5D)
        case .object(let o):
            if o.isEmpty {
                out.append(contentsOf: [0x7B, 0x7D])
                return
            }
            out.append(0x7B)
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(0x2C) }
                if pretty { newline(&out, indent + 1) }
                JSONValue.writeString(key, to: &out)
                out.append(0x3A)
                if pretty { out.append(0x20) }
                o[key]!.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { newline(&out, indent) }
            out.append(0x7D)
        }
    }

    private func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        for _ in 0..<(indent * 2) { out.append(0x20) }
    }

    /// Formats a double the way Go's encoding/json does for float64 in the common range:
    /// shortest representation, no trailing `.0` for integral values.
    static func formatDouble(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e21 {
            if abs(d) < 9.2e18 { return String(Int64(d)) }
        }
        var s = "\(d)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0x3C, 0x3E, 0x26:
                // Go escapes <, > and & in JSON strings; kubectl output matches that.
                out.append(contentsOf: Array(String(format: b).utf8))
            case 0..<0x20:
                out.append(contentsOf: Array(String(format: b).utf8))
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}

extension String {
    /// `\u00XX` for one byte.
    fileprivate init(format byte: UInt8) {
        let hex = Array("0123456789abcdef")
        self = "\\u00" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
    }
}
