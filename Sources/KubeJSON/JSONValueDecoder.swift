/// Decodes `Decodable` values straight from a `JSONValue` tree, with no JSON text in between
/// (serializing the tree for Foundation's JSONDecoder to scan again cost a reconcile more than
/// the rest of its decoding).
///
/// It reads what JSONDecoder reads: numbers into any integer type when they are whole and fit,
/// into Double and Float; null or a missing key as nil for `decodeIfPresent`; unknown keys are
/// ignored. Errors are `JSONValueDecodingError`, naming the field path (`spec.source.path`).
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, codingPath: [any CodingKey] = []) {
        self.value = value
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw JSONValueDecodingError.mismatch(codingPath, expected: "an object", found: value)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw JSONValueDecodingError.mismatch(codingPath, expected: "a list", found: value)
        }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    /// `value` as `T` (a JSONValue is handed over as it is).
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, at path: [any CodingKey]) throws -> T {
        if T.self == JSONValue.self { return value as! T }
        let decoder = JSONValueDecoder(value, codingPath: path)
        switch type {
        case is Bool.Type: return try decoder.decode(Bool.self) as! T
        case is String.Type: return try decoder.decode(String.self) as! T
        case is Double.Type: return try decoder.decode(Double.self) as! T
        case is Int.Type: return try decoder.decode(Int.self) as! T
        case is Int64.Type: return try decoder.decode(Int64.self) as! T
        default: return try T(from: decoder)
        }
    }

    private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [any CodingKey]
        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func member(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else {
                throw JSONValueDecodingError(path: codingPath + [key], message: "required, but missing")
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { (members[key.stringValue] ?? .null) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.decode(type, from: try member(key), at: codingPath + [key])
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            guard let value = members[key.stringValue], value != .null else { return nil }
            return try JSONValueDecoder.decode(type, from: value, at: codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try JSONValueDecoder(try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(try member(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            JSONValueDecoder(members["super"] ?? .null, codingPath: codingPath + [JSONKey("super")])
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            JSONValueDecoder(members[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    private struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        private mutating func next() throws -> (JSONValue, [any CodingKey]) {
            guard !isAtEnd else {
                throw JSONValueDecodingError(path: codingPath + [JSONKey(currentIndex)], message: "the list has no more elements")
            }
            defer { currentIndex += 1 }
            return (elements[currentIndex], codingPath + [JSONKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, elements[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next()
            return try JSONValueDecoder.decode(type, from: value, at: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            let (value, path) = try next()
            return try JSONValueDecoder(value, codingPath: path).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try JSONValueDecoder(value, codingPath: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (value, path) = try next()
            return JSONValueDecoder(value, codingPath: path)
        }
    }
}

extension JSONValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let b) = value else { throw JSONValueDecodingError.mismatch(codingPath, expected: "a boolean", found: value) }
        return b
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let s) = value else { throw JSONValueDecodingError.mismatch(codingPath, expected: "a string", found: value) }
        return s
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw JSONValueDecodingError.mismatch(codingPath, expected: "a number", found: value)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode(_ type: Int.Type) throws -> Int { try integer() }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONValueDecoder.decode(type, from: value, at: codingPath)
    }

    /// A whole number that fits `T` (a number written as 3.0 is 3, as JSONDecoder reads it).
    private func integer<T: FixedWidthInteger>() throws -> T {
        switch value {
        case .int(let i):
            if let fitting = T(exactly: i) { return fitting }
        case .double(let d):
            if let fitting = T(exactly: d) { return fitting }
        default:
            throw JSONValueDecodingError.mismatch(codingPath, expected: "an integer", found: value)
        }
        throw JSONValueDecodingError(path: codingPath, message: "\(value) is not an integer that fits \(T.self)")
    }
}

/// A value that does not fit the type it is read as, at a field path.
public struct JSONValueDecodingError: Error, CustomStringConvertible, Sendable {
    /// The field, as `spec.items[2].name`.
    public let field: String
    public let message: String
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }

    init(path: [any CodingKey], message: String) {
        var field = ""
        for key in path {
            if let index = key.intValue {
                field += "[\(index)]"
            } else {
                field += field.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        self.field = field
        self.message = message
    }

    /// The same, from a DecodingError (as a type's own `init(from:)` throws them).
    init(_ error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let context):
            self.init(path: context.codingPath + [key], message: "required, but missing")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            self.init(path: context.codingPath, message: context.debugDescription)
        @unknown default:
            self.init(path: [], message: "\(error)")
        }
    }

    static func mismatch(_ path: [any CodingKey], expected: String, found value: JSONValue) -> JSONValueDecodingError {
        let found: String
        switch value {
        case .null: found = "null"
        case .bool: found = "a boolean"
        case .int, .double: found = "a number"
        case .string: found = "a string"
        case .array: found = "a list"
        case .object: found = "an object"
        }
        return JSONValueDecodingError(path: path, message: "expected \(expected), found \(found)")
    }
}

/// A coding key for list indexes and fixed names.
private struct JSONKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ string: String) { stringValue = string; intValue = nil }
    init(_ index: Int) { stringValue = "\(index)"; intValue = index }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(intValue) }
}
