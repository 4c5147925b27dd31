import Foundation
import KubeJSON

/// Writes protobuf wire format.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ number: Int, _ wire: Int) { varint(UInt64(number) << 3 | UInt64(wire)) }

    mutating func fixed(_ value: UInt64, _ width: Int) {
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    mutating func lengthDelimited(_ number: Int, _ payload: [UInt8]) {
        tag(number, 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ number: Int, _ text: String) { lengthDelimited(number, Array(text.utf8)) }
}

/// The other way of `ProtobufTranscoder`: the JSON object the server holds, as kube-apiserver's
/// protobuf reply (`k8s\0`, `runtime.Unknown`, the object by the same generated tables). Fields
/// are written in field-number order as Go's generated marshallers write them; JSON members that
/// no table names (a stored object may carry fields newer than the tables) are left out, as a
/// Go server's typed decoding would have dropped them. A value of the wrong JSON type for its
/// field is an error: the caller answers JSON instead.
extension ProtobufTranscoder {
    /// The message for a reply object, by its `apiVersion` and `kind`. Status shows as `v1` in
    /// every group (kube-apiserver's own form), and is one message.
    static func rootMessage(apiVersion: String, kind: String) -> ProtoMessage? {
        let key = kind == "Status" ? "meta.k8s.io/v1/Status" : "\(apiVersion)/\(kind)"
        guard let name = ProtoTables.roots[key] else { return nil }
        return ProtoTables.messages[name]
    }

    /// Encodes a whole reply body: magic, envelope, object.
    static func encodeBody(_ object: JSONValue) throws(ProtobufError) -> [UInt8] {
        let apiVersion = object["apiVersion"].stringValue ?? "", kind = object["kind"].stringValue ?? ""
        guard let message = rootMessage(apiVersion: apiVersion, kind: kind) else {
            throw ProtobufError(message: "no protobuf table for \(apiVersion)/\(kind)")
        }
        var typeMeta = WireWriter()
        typeMeta.string(1, apiVersion)
        typeMeta.string(2, kind)
        var envelope = WireWriter()
        envelope.bytes = magic
        envelope.lengthDelimited(1, typeMeta.bytes)
        envelope.lengthDelimited(2, try encode(message, object, depth: 0))
        envelope.string(3, "")  // contentEncoding
        envelope.string(4, "")  // contentType
        return envelope.bytes
    }

    /// One frame of a protobuf watch (`application/vnd.kubernetes.protobuf;stream=watch`): a
    /// 4-byte big-endian length, then `meta/v1 WatchEvent` {type = 1, object = 2 (RawExtension
    /// {raw = 1}: the object's whole body with its envelope)}, itself without an envelope, as
    /// the raw stream serializer writes it.
    static func watchFrame(type: String, object: JSONValue) throws(ProtobufError) -> [UInt8] {
        var raw = WireWriter()
        raw.lengthDelimited(1, try encodeBody(object))
        var event = WireWriter()
        event.string(1, type)
        event.lengthDelimited(2, raw.bytes)
        let n = UInt32(event.bytes.count)
        return [UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] + event.bytes
    }

    static func encode(_ message: ProtoMessage, _ value: JSONValue, depth: Int) throws(ProtobufError) -> [UInt8] {
        guard depth < maxDepth else { throw ProtobufError(message: "\(message.name): nested more than \(maxDepth) deep") }
        guard case .object(let members) = value else {
            throw ProtobufError(message: "\(message.name): want a JSON object, have \(value)")
        }
        var w = WireWriter()
        for field in message.fields.sorted(by: { $0.number < $1.number }) {
            let where_ = "\(message.name).\(field.jsonName)"
            let fieldValue: JSONValue? = field.inline ? value : members[field.jsonName]
            guard let fieldValue, fieldValue != .null else { continue }
            switch field.shape {
            case .single(let kind):
                try put(kind, field.number, fieldValue, into: &w, where_, depth: depth)
            case .repeated(let kind):
                guard case .array(let items) = fieldValue else { throw ProtobufError(message: "\(where_): want a list") }
                for item in items { try put(kind, field.number, item, into: &w, where_, depth: depth) }
            case .map(let keyKind, let valueKind):
                guard case .object(let map) = fieldValue else { throw ProtobufError(message: "\(where_): want an object") }
                for key in map.keys.sorted() {  // Go's marshallers write map keys sorted
                    var entry = WireWriter()
                    try put(keyKind, 1, .string(key), into: &entry, where_, depth: depth)
                    if let v = map[key], v != .null { try put(valueKind, 2, v, into: &entry, where_, depth: depth) }
                    w.lengthDelimited(field.number, entry.bytes)
                }
            }
        }
        return w.bytes
    }

    /// One value of `kind` as field `number`.
    static func put(_ kind: ProtoKind, _ number: Int, _ value: JSONValue, into w: inout WireWriter, _ where_: String, depth: Int) throws(ProtobufError) {
        func integer() throws(ProtobufError) -> Int64 {
            switch value {
            case .int(let i): return i
            case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
            default: throw ProtobufError(message: "\(where_): want an integer, have \(value)")
            }
        }
        func text() throws(ProtobufError) -> String {
            guard case .string(let s) = value else { throw ProtobufError(message: "\(where_): want a string, have \(value)") }
            return s
        }
        switch kind {
        case .bool:
            guard case .bool(let b) = value else { throw ProtobufError(message: "\(where_): want a boolean, have \(value)") }
            w.tag(number, 0)
            w.varint(b ? 1 : 0)
        case .int32, .int64:
            w.tag(number, 0)
            w.varint(UInt64(bitPattern: try integer()))
        case .uint32, .uint64:
            let i = try integer()
            guard i >= 0 else { throw ProtobufError(message: "\(where_): \(i) is negative") }
            w.tag(number, 0)
            w.varint(UInt64(i))
        case .sint32, .sint64:
            let i = try integer()
            w.tag(number, 0)
            w.varint(UInt64(bitPattern: (i << 1) ^ (i >> 63)))
        case .fixed32:
            w.tag(number, 5)
            w.fixed(UInt64(UInt32(truncatingIfNeeded: try integer())), 4)
        case .fixed64:
            w.tag(number, 1)
            w.fixed(UInt64(bitPattern: try integer()), 8)
        case .double, .float:
            let d: Double
            switch value {
            case .int(let i): d = Double(i)
            case .double(let x): d = x
            default: throw ProtobufError(message: "\(where_): want a number, have \(value)")
            }
            if kind == .double {
                w.tag(number, 1)
                w.fixed(d.bitPattern, 8)
            } else {
                w.tag(number, 5)
                w.fixed(UInt64(Float(d).bitPattern), 4)
            }
        case .string:
            w.string(number, try text())
        case .bytes:
            guard let data = Data(base64Encoded: try text()) else { throw ProtobufError(message: "\(where_): not base64") }
            w.lengthDelimited(number, Array(data))
        case .message(let name):
            guard let message = ProtoTables.messages[name] else { throw ProtobufError(message: "\(where_): no table for message \(name)") }
            w.lengthDelimited(number, try encode(message, value, depth: depth + 1))
        case .time, .microTime:
            var t = WireWriter()
            let (seconds, nanos) = try parseTime(try text(), where_)
            t.tag(1, 0)
            t.varint(UInt64(bitPattern: seconds))
            if nanos != 0 {
                t.tag(2, 0)
                t.varint(UInt64(nanos))
            }
            w.lengthDelimited(number, t.bytes)
        case .duration:
            var t = WireWriter()
            t.tag(1, 0)
            t.varint(UInt64(bitPattern: try parseGoDuration(try text(), where_)))
            w.lengthDelimited(number, t.bytes)
        case .quantity:
            var t = WireWriter()
            switch value {
            case .int(let i): t.string(1, String(i))
            default: t.string(1, try text())
            }
            w.lengthDelimited(number, t.bytes)
        case .intOrString:
            var t = WireWriter()
            switch value {
            case .string(let s):
                t.tag(1, 0)
                t.varint(1)
                t.string(3, s)
            default:
                t.tag(1, 0)
                t.varint(0)
                t.tag(2, 0)
                t.varint(UInt64(bitPattern: try integer()))
            }
            w.lengthDelimited(number, t.bytes)
        case .rawExtension:
            var t = WireWriter()
            t.lengthDelimited(1, value.serializedBytes())
            w.lengthDelimited(number, t.bytes)
        case .stringList:
            guard case .array(let items) = value else { throw ProtobufError(message: "\(where_): want a list of strings") }
            var t = WireWriter()
            for item in items {
                guard case .string(let s) = item else { throw ProtobufError(message: "\(where_): want a list of strings") }
                t.string(1, s)
            }
            w.lengthDelimited(number, t.bytes)
        }
    }

    /// An RFC 3339 time as seconds since the epoch and nanoseconds, the fraction read exactly.
    static func parseTime(_ text: String, _ where_: String) throws(ProtobufError) -> (Int64, Int32) {
        guard let date = RFC3339.parse(text) else { throw ProtobufError(message: "\(where_): \"\(text)\" is not an RFC 3339 time") }
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var nanos: Int32 = 0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
            let padded = String(digits.prefix(9)) + String(repeating: "0", count: max(0, 9 - digits.count))
            nanos = Int32(padded) ?? 0
        }
        return (seconds, nanos)
    }

    /// Go's `time.ParseDuration`: a sequence of decimal numbers with units ns, us (µs), ms, s, m, h.
    static func parseGoDuration(_ text: String, _ where_: String) throws(ProtobufError) -> Int64 {
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" || rest.first == "+" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        if rest == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 6e10), ("h", 3.6e12)]
        var total = 0.0
        guard !rest.isEmpty else { throw ProtobufError(message: "\(where_): \"\(text)\" is not a duration") }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest = rest.dropFirst(unit.count)
            guard let value = Double(number), let scale = units.first(where: { $0.0 == unit })?.1 else {
                throw ProtobufError(message: "\(where_): \"\(text)\" is not a duration")
            }
            total += value * scale
        }
        guard total < 9.2e18 else { throw ProtobufError(message: "\(where_): \"\(text)\" is too long a duration") }
        return (negative ? -1 : 1) * Int64(total.rounded())
    }
}
