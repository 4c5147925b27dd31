/// The tables of the table-driven protobuf transcoder: for each Kubernetes message, its fields by
/// number with their JSON names and kinds. `GeneratedMessages.swift` fills them in; it is made by
/// `scripts/gen-protobuf-tables.py` from k8s.io/api's and k8s.io/apimachinery's `generated.proto`
/// (structure) and their Go types' json tags (names, `omitempty`, `inline`, pointers).
enum ProtoTables {}

/// What one value of a field is on the wire and in JSON.
indirect enum ProtoKind: Sendable, Equatable {
    case string, bytes, bool
    case int32, int64, uint32, uint64, sint32, sint64, fixed32, fixed64, double, float
    /// A nested message, by its full proto name (a key of `ProtoTables.messages`).
    case message(String)
    /// meta/v1 Time: `{seconds=1, nanos=2}`, JSON an RFC 3339 string in seconds, null when zero.
    case time
    /// meta/v1 MicroTime: as `time`, JSON with six fractional digits.
    case microTime
    /// meta/v1 Duration: `{duration=1}` nanoseconds, JSON Go's duration string (`1h0m0s`).
    case duration
    /// resource.Quantity: `{string=1}`, JSON that string.
    case quantity
    /// intstr.IntOrString: `{type=1, intVal=2, strVal=3}`, JSON an integer or a string.
    case intOrString
    /// runtime.RawExtension and meta/v1 FieldsV1: `{raw=1}` holding JSON, inlined.
    case rawExtension
    /// A message `{repeated string items = 1}` whose Go type is `[]string` (ExtraValue).
    case stringList
}

/// Singular, repeated or a map.
enum ProtoShape: Sendable, Equatable {
    case single(ProtoKind)
    case repeated(ProtoKind)
    case map(key: ProtoKind, value: ProtoKind)
}

/// The Go json-tag facts about a field that decide how it shows in JSON.
enum ProtoFieldFlag: Sendable, Equatable {
    /// `json:",omitempty"`: an empty string, zero, false, empty list or map, or nil pointer is left out.
    case omitEmpty
    /// `json:",inline"` (an embedded struct): its fields go into the parent object.
    case inline
    /// A Go pointer: absent is nil (omitted or null), present is kept even when zero.
    case pointer
}

/// One field of a message.
struct ProtoField: Sendable {
    let number: Int
    let jsonName: String
    let shape: ProtoShape
    let omitEmpty: Bool
    let inline: Bool
    let pointer: Bool

    init(_ number: Int, _ jsonName: String, _ shape: ProtoShape, _ flags: [ProtoFieldFlag]) {
        self.number = number
        self.jsonName = jsonName
        self.shape = shape
        omitEmpty = flags.contains(.omitEmpty)
        inline = flags.contains(.inline)
        pointer = flags.contains(.pointer)
    }
}

/// One message: its short name (for error messages) and its fields in Go struct order.
struct ProtoMessage: Sendable {
    let name: String
    let fields: [ProtoField]
    let byNumber: [Int: Int]

    init(name: String, fields: [ProtoField]) {
        self.name = name
        self.fields = fields
        var byNumber: [Int: Int] = [:]
        for (i, f) in fields.enumerated() { byNumber[f.number] = i }
        self.byNumber = byNumber
    }
}
