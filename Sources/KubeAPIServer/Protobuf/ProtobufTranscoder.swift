import Foundation
import KubeJSON

/// A protobuf body that cannot be turned into JSON: what is wrong, and where.
struct ProtobufError: Error, Sendable {
    let message: String
}

/// Turns Kubernetes protobuf bodies (`application/vnd.kubernetes.protobuf`: the `k8s\0` magic, a
/// `runtime.Unknown` envelope, the object) into the JSON object a JSON body would have been.
///
/// Why a table-driven transcoder and not swift-protobuf: the server needs only ~20 kinds, each
/// turned into the untyped JSON it already stores, so generated Swift structs would be converted
/// to JSON at once anyway; swift-protobuf would add a large dependency and a 9.5-minute plugin
/// build for that. The tables (`GeneratedMessages.swift`) are generated once by
/// `scripts/gen-protobuf-tables.py` from the `.proto` files and Go json tags; adding a kind is one
/// line there. The JSON follows Go's encoder over the decoded Go struct: absent non-pointer
/// fields are their zero value, `omitempty` leaves empty ones out, nil pointers are omitted or
/// null. Unknown field numbers, wrong wire types, bad lengths and truncation are errors.
enum ProtobufTranscoder {
    /// The four bytes before every Kubernetes protobuf body.
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]
    static let maxDepth = 64

    /// Decodes a whole body: magic, envelope, object. The result has `apiVersion` and `kind`.
    static func decodeBody(_ body: [UInt8]) throws(ProtobufError) -> JSONValue {
        guard body.count >= 4, Array(body[0..<4]) == magic else {
            throw ProtobufError(message: "missing the k8s\\0 prefix of a Kubernetes protobuf body")
        }
        var apiVersion = "", kind = "", contentEncoding = "", contentType = ""
        var raw: Range<Int> = 4..<4
        var r = WireReader(bytes: body, range: 4..<body.count)
        while !r.atEnd {
            let (number, wire) = try r.tag(in: "runtime.Unknown")
            switch (number, wire) {
            case (1, 2):
                var t = WireReader(bytes: body, range: try r.lengthDelimited(in: "runtime.Unknown"))
                while !t.atEnd {
                    let (n, w) = try t.tag(in: "runtime.TypeMeta")
                    switch (n, w) {
                    case (1, 2): apiVersion = try t.string(in: "runtime.TypeMeta")
                    case (2, 2): kind = try t.string(in: "runtime.TypeMeta")
                    default: throw unknown("runtime.TypeMeta", n, w)
                    }
                }
            case (2, 2): raw = try r.lengthDelimited(in: "runtime.Unknown")
            case (3, 2): contentEncoding = try r.string(in: "runtime.Unknown")
            case (4, 2): contentType = try r.string(in: "runtime.Unknown")
            default: throw unknown("runtime.Unknown", number, wire)
            }
        }
        guard contentEncoding.isEmpty else {
            throw ProtobufError(message: "unsupported contentEncoding \"\(contentEncoding)\" in runtime.Unknown")
        }
        guard contentType.isEmpty || contentType.hasPrefix("application/vnd.kubernetes.protobuf") else {
            throw ProtobufError(message: "unsupported contentType \"\(contentType)\" in runtime.Unknown")
        }
        guard let message = rootMessage(apiVersion: apiVersion, kind: kind) else {
            throw ProtobufError(message: "no kind \"\(kind)\" is registered for version \"\(apiVersion)\" in the protobuf tables")
        }
        var object = try decode(message, body, raw, depth: 0)
        object["apiVersion"] = .string(apiVersion)
        object["kind"] = .string(kind)
        return object
    }

    /// One field's occurrences on the wire: varints/fixed values as bits, or byte ranges.
    enum Raw { case bits(UInt64), bytes(Range<Int>) }

    static func decode(_ message: ProtoMessage, _ bytes: [UInt8], _ range: Range<Int>, depth: Int) throws(ProtobufError) -> JSONValue {
        guard depth < maxDepth else { throw ProtobufError(message: "\(message.name): messages nested more than \(maxDepth) deep") }
        var seen = [[Raw]](repeating: [], count: message.fields.count)
        var r = WireReader(bytes: bytes, range: range)
        while !r.atEnd {
            let (number, wire) = try r.tag(in: message.name)
            guard let index = message.byNumber[number] else { throw unknown(message.name, number, wire) }
            let field = message.fields[index]
            let expected = wireType(field.shape)
            let packable = { if case .repeated(let k) = field.shape { return wireType(.single(k)) != 2 } else { return false } }()
            switch wire {
            case 0:
                guard expected == 0 else { throw mismatch(message.name, field, wire) }
                seen[index].append(.bits(try r.varint(in: message.name)))
            case 1:
                guard expected == 1 else { throw mismatch(message.name, field, wire) }
                seen[index].append(.bits(try r.fixed(8, in: message.name)))
            case 5:
                guard expected == 5 else { throw mismatch(message.name, field, wire) }
                seen[index].append(.bits(try r.fixed(4, in: message.name)))
            case 2:
                let sub = try r.lengthDelimited(in: message.name)
                if expected == 2 {
                    seen[index].append(.bytes(sub))
                } else if packable {
                    var p = WireReader(bytes: bytes, range: sub)
                    while !p.atEnd {
                        switch expected {
                        case 0: seen[index].append(.bits(try p.varint(in: message.name)))
                        case 1: seen[index].append(.bits(try p.fixed(8, in: message.name)))
                        default: seen[index].append(.bits(try p.fixed(4, in: message.name)))
                        }
                    }
                } else {
                    throw mismatch(message.name, field, wire)
                }
            default:
                throw ProtobufError(message: "\(message.name): field \(number) has wire type \(wire), which Kubernetes does not use")
            }
        }
        var object: [String: JSONValue] = [:]
        for (index, field) in message.fields.enumerated() {
            let where_ = "\(message.name).\(field.jsonName)"
            let occurrences = seen[index]
            var value: JSONValue?
            switch field.shape {
            case .single(let kind):
                if let last = occurrences.last {
                    value = try single(kind, last, bytes, where_, depth: depth)
                } else if field.pointer {
                    value = field.omitEmpty ? nil : .null
                } else {
                    value = try zero(kind, depth: depth)
                }
                if field.omitEmpty, !field.pointer, let v = value, isEmptyScalar(v, kind) { value = nil }
            case .repeated(let kind):
                if occurrences.isEmpty {
                    value = field.omitEmpty ? nil : .null
                } else {
                    var items: [JSONValue] = []
                    items.reserveCapacity(occurrences.count)
                    for o in occurrences { items.append(try single(kind, o, bytes, where_, depth: depth)) }
                    value = .array(items)
                }
            case .map(let keyKind, let valueKind):
                if occurrences.isEmpty {
                    value = field.omitEmpty ? nil : .null
                } else {
                    var map: [String: JSONValue] = [:]
                    for o in occurrences {
                        guard case .bytes(let entry) = o else { throw ProtobufError(message: "\(where_): a map entry is not length-delimited") }
                        let (k, v) = try mapEntry(keyKind, valueKind, bytes, entry, where_, depth: depth)
                        map[k] = v
                    }
                    value = .object(map)
                }
            }
            guard let value else { continue }
            if field.inline, case .object(let inner) = value {
                object.merge(inner) { a, _ in a }
            } else {
                object[field.jsonName] = value
            }
        }
        return .object(object)
    }

    static func mapEntry(_ keyKind: ProtoKind, _ valueKind: ProtoKind, _ bytes: [UInt8], _ range: Range<Int>, _ where_: String, depth: Int) throws(ProtobufError) -> (String, JSONValue) {
        var key: Raw?, value: Raw?
        var r = WireReader(bytes: bytes, range: range)
        while !r.atEnd {
            let (n, w) = try r.tag(in: where_)
            let expected = n == 1 ? wireType(.single(keyKind)) : n == 2 ? wireType(.single(valueKind)) : -1
            guard expected == w else { throw unknown("\(where_) map entry", n, w) }
            let raw: Raw
            switch w {
            case 0: raw = .bits(try r.varint(in: where_))
            case 1: raw = .bits(try r.fixed(8, in: where_))
            case 5: raw = .bits(try r.fixed(4, in: where_))
            default: raw = .bytes(try r.lengthDelimited(in: where_))
            }
            if n == 1 { key = raw } else { value = raw }
        }
        let k: JSONValue
        if let key { k = try single(keyKind, key, bytes, where_, depth: depth) } else { k = try zero(keyKind, depth: depth) }
        guard case .string(let keyString) = k else { throw ProtobufError(message: "\(where_): map keys must be strings") }
        let v: JSONValue
        if let value { v = try single(valueKind, value, bytes, where_, depth: depth) } else { v = try zero(valueKind, depth: depth) }
        return (keyString, v)
    }

    /// The wire type a field's values use: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
    static func wireType(_ shape: ProtoShape) -> Int {
        let kind: ProtoKind
        switch shape {
        case .single(let k), .repeated(let k): kind = k
        case .map: return 2
        }
        switch kind {
        case .bool, .int32, .int64, .uint32, .uint64, .sint32, .sint64: return 0
        case .fixed64, .double: return 1
        case .fixed32, .float: return 5
        default: return 2
        }
    }

    static func single(_ kind: ProtoKind, _ raw: Raw, _ bytes: [UInt8], _ where_: String, depth: Int) throws(ProtobufError) -> JSONValue {
        switch (kind, raw) {
        case (.bool, .bits(let b)): return .bool(b != 0)
        case (.int32, .bits(let b)): return .int(Int64(Int32(truncatingIfNeeded: b)))
        case (.int64, .bits(let b)): return .int(Int64(bitPattern: b))
        case (.uint32, .bits(let b)), (.fixed32, .bits(let b)): return .int(Int64(UInt32(truncatingIfNeeded: b)))
        case (.uint64, .bits(let b)), (.fixed64, .bits(let b)):
            guard b <= UInt64(Int64.max) else { throw ProtobufError(message: "\(where_): \(b) does not fit in an int64") }
            return .int(Int64(b))
        case (.sint32, .bits(let b)):
            let u = UInt32(truncatingIfNeeded: b)
            return .int(Int64(Int32(bitPattern: (u >> 1) ^ (0 &- (u & 1)))))
        case (.sint64, .bits(let b)): return .int(Int64(bitPattern: (b >> 1) ^ (0 &- (b & 1))))
        case (.double, .bits(let b)): return number(Double(bitPattern: b), where_)
        case (.float, .bits(let b)): return number(Double(Float(bitPattern: UInt32(truncatingIfNeeded: b))), where_)
        case (.string, .bytes(let r)): return .string(try utf8(bytes, r, where_))
        case (.bytes, .bytes(let r)): return .string(Data(bytes[r]).base64EncodedString())
        case (.message(let name), .bytes(let r)):
            guard let message = ProtoTables.messages[name] else { throw ProtobufError(message: "\(where_): no table for message \(name)") }
            return try decode(message, bytes, r, depth: depth + 1)
        case (_, .bytes(let r)):
            return try special(kind, bytes, r, where_)
        default:
            throw ProtobufError(message: "\(where_): wrong wire type")
        }
    }

    static func number(_ d: Double, _ where_: String) -> JSONValue {
        if d.isFinite, d.rounded() == d, abs(d) < 1e15 { return .int(Int64(d)) }
        return .double(d)
    }

    static func utf8(_ bytes: [UInt8], _ r: Range<Int>, _ where_: String) throws(ProtobufError) -> String {
        guard let s = String(validating: bytes[r], as: UTF8.self) else {
            throw ProtobufError(message: "\(where_): a string is not valid UTF-8")
        }
        return s
    }

    /// The special messages with their own JSON forms.
    static func special(_ kind: ProtoKind, _ bytes: [UInt8], _ range: Range<Int>, _ where_: String) throws(ProtobufError) -> JSONValue {
        var ints: [Int: UInt64] = [:]
        var strings: [Int: Range<Int>] = [:]
        var items: [JSONValue] = []
        var r = WireReader(bytes: bytes, range: range)
        let wanted: [Int: Int]  // field -> wire type
        switch kind {
        case .time, .microTime: wanted = [1: 0, 2: 0]
        case .duration: wanted = [1: 0]
        case .quantity, .rawExtension, .stringList: wanted = [1: 2]
        case .intOrString: wanted = [1: 0, 2: 0, 3: 2]
        default: throw ProtobufError(message: "\(where_): wrong wire type")
        }
        while !r.atEnd {
            let (n, w) = try r.tag(in: where_)
            guard wanted[n] == w else { throw unknown(where_, n, w) }
            if w == 0 { ints[n] = try r.varint(in: where_) } else {
                let sub = try r.lengthDelimited(in: where_)
                if kind == .stringList { items.append(.string(try utf8(bytes, sub, where_))) } else { strings[n] = sub }
            }
        }
        func int(_ n: Int) -> Int64 { Int64(bitPattern: ints[n] ?? 0) }
        switch kind {
        case .time, .microTime:
            return formatTime(seconds: int(1), nanos: Int64(Int32(truncatingIfNeeded: int(2))), micro: kind == .microTime)
        case .duration: return .string(goDuration(int(1)))
        case .quantity:
            guard let s = strings[1] else { return .string("0") }
            return .string(try utf8(bytes, s, where_))
        case .intOrString:
            if int(1) == 1 {
                guard let s = strings[3] else { return .string("") }
                return .string(try utf8(bytes, s, where_))
            }
            return .int(Int64(Int32(truncatingIfNeeded: int(2))))
        case .stringList: return .array(items)
        default:  // rawExtension
            guard let raw = strings[1], !raw.isEmpty else { return .null }
            do { return try JSONValue.parse(bytes[raw]) } catch {
                throw ProtobufError(message: "\(where_): the embedded object is not JSON: \(error.message)")
            }
        }
    }

    /// What Go's encoder writes for a field absent from the wire (its Go zero value).
    static func zero(_ kind: ProtoKind, depth: Int) throws(ProtobufError) -> JSONValue {
        switch kind {
        case .string: return .string("")
        case .bytes: return .null
        case .bool: return .bool(false)
        case .int32, .int64, .uint32, .uint64, .sint32, .sint64, .fixed32, .fixed64, .double, .float, .intOrString: return .int(0)
        case .time, .microTime, .rawExtension, .stringList: return .null
        case .duration: return .string("0s")
        case .quantity: return .string("0")
        case .message(let name):
            guard let message = ProtoTables.messages[name] else { throw ProtobufError(message: "no table for message \(name)") }
            return try decode(message, [], 0..<0, depth: depth + 1)
        }
    }

    static func isEmptyScalar(_ value: JSONValue, _ kind: ProtoKind) -> Bool {
        switch (kind, value) {
        case (.message, _), (.quantity, _), (.intOrString, _), (.time, _), (.microTime, _), (.duration, _): return false  // structs: omitempty does not apply
        case (_, .string(let s)): return s.isEmpty
        case (_, .int(let i)): return i == 0
        case (_, .double(let d)): return d == 0
        case (_, .bool(let b)): return !b
        case (_, .null): return true
        case (_, .array(let a)): return a.isEmpty
        default: return false
        }
    }

    static func unknown(_ message: String, _ number: Int, _ wire: Int) -> ProtobufError {
        ProtobufError(message: "\(message): unknown field number \(number) (wire type \(wire))")
    }

    static func mismatch(_ message: String, _ field: ProtoField, _ wire: Int) -> ProtobufError {
        ProtobufError(message: "\(message): field \(field.number) (\(field.jsonName)) has wire type \(wire), want \(wireType(field.shape))")
    }

    // MARK: Formatting

    /// RFC 3339 in UTC as meta/v1 Time (seconds) or MicroTime (microseconds) writes it; zero is null.
    static func formatTime(seconds: Int64, nanos: Int64, micro: Bool) -> JSONValue {
        if seconds == 0 && nanos == 0 { return .null }
        return .string(RFC3339.format(seconds: Int(seconds), microseconds: micro ? Int(max(0, nanos) / 1000) : nil))
    }

    /// Go's `time.Duration.String()`.
    static func goDuration(_ nanos: Int64) -> String {
        if nanos == 0 { return "0s" }
        let negative = nanos < 0
        let u = nanos.magnitude
        var text: String
        func frac(_ v: UInt64, _ digits: Int) -> String {
            let whole = v / pow10(digits), rest = v % pow10(digits)
            var s = String(whole)
            if rest != 0 {
                var r = String(rest)
                r = String(repeating: "0", count: digits - r.count) + r
                while r.hasSuffix("0") { r.removeLast() }
                s += "." + r
            }
            return s
        }
        if u < 1000 { text = "\(u)ns" } else if u < 1_000_000 { text = frac(u, 3) + "µs" } else if u < 1_000_000_000 { text = frac(u, 6) + "ms" } else {
            let totalSeconds = u / 1_000_000_000
            let h = totalSeconds / 3600, m = totalSeconds / 60 % 60
            let s = frac(u % 60_000_000_000, 9) + "s"
            text = h > 0 ? "\(h)h\(m)m\(s)" : m > 0 ? "\(m)m\(s)" : s
        }
        return negative ? "-" + text : text
    }

    static func pow10(_ n: Int) -> UInt64 { var v: UInt64 = 1; for _ in 0..<n { v *= 10 }; return v }
}
