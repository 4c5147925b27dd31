/// Encodes `Encodable` values straight into a `JSONValue` tree: what JSONEncoder would write,
/// as parsing it back would give (a whole number is `.int` whatever its Swift type, as the
/// API server hands it back), without the text in between.
enum JSONValueEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Node()
        try root.encode(value, at: [])
        return root.resolved
    }

    /// One value being built; containers fill it in place.
    fileprivate final class Node {
        enum Content {
            case unset
            case value(JSONValue)
            case object([String: Node])
            case array([Node])
        }

        var content = Content.unset

        var resolved: JSONValue {
            switch content {
            case .unset: return .emptyObject  // an encode(to:) that opened no container
            case .value(let value): return value
            case .object(let members): return .object(members.mapValues(\.resolved))
            case .array(let elements): return .array(elements.map(\.resolved))
            }
        }

        func encode<T: Encodable>(_ value: T, at path: [any CodingKey]) throws {
            switch value {
            case let json as JSONValue: content = .value(json)
            case let string as String: content = .value(.string(string))
            case let bool as Bool: content = .value(.bool(bool))
            case let int as Int: content = .value(.int(Int64(int)))
            case let int as Int64: content = .value(.int(int))
            case let double as Double: content = .value(try Self.number(double, at: path))
            default: try value.encode(to: NodeEncoder(node: self, codingPath: path))
            }
        }

        /// A finite number: whole ones as `.int` (JSON text does not keep `1.0` apart from `1`).
        static func number(_ double: Double, at path: [any CodingKey]) throws -> JSONValue {
            guard double.isFinite else {
                throw EncodingError.invalidValue(
                    double, .init(codingPath: path, debugDescription: "\(double) is not a JSON number"))
            }
            if let whole = Int64(exactly: double) { return .int(whole) }
            return .double(double)
        }

        static func integer<T: FixedWidthInteger>(_ value: T) -> JSONValue {
            if let fitting = Int64(exactly: value) { return .int(fitting) }
            return .double(Double(value))  // beyond Int64: as the parser reads such digits
        }

        /// This node as an object (kept if it is one already: nested encodes share it).
        func object() -> Node {
            if case .object = content { return self }
            content = .object([:])
            return self
        }

        func member(_ key: String) -> Node {
            guard case .object(var members) = content else { return Node() }
            if let node = members[key] { return node }
            content = .unset  // (the dictionary is then not copied to add the member)
            let node = Node()
            members[key] = node
            content = .object(members)
            return node
        }

        func array() -> Node {
            if case .array = content { return self }
            content = .array([])
            return self
        }

        func appended() -> Node {
            guard case .array(var elements) = content else { return Node() }
            content = .unset  // (the array is then not copied to append)
            let node = Node()
            elements.append(node)
            content = .array(elements)
            return node
        }

        var count: Int {
            if case .array(let elements) = content { return elements.count }
            return 0
        }
    }
}

private struct NodeEncoder: Encoder {
    let node: JSONValueEncoder.Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(node: node.object(), codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(node: node.array(), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleContainer(node: node, codingPath: codingPath) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONValueEncoder.Node
    let codingPath: [any CodingKey]

    func encodeNil(forKey key: Key) throws { node.member(key.stringValue).content = .value(.null) }

    func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try node.member(key.stringValue).encode(value, at: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(node: node.member(key.stringValue).object(), codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedContainer(node: node.member(key.stringValue).array(), codingPath: codingPath + [key])
    }

    func superEncoder() -> any Encoder { NodeEncoder(node: node.member("super"), codingPath: codingPath) }

    func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONValueEncoder.Node
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    func encodeNil() throws { node.appended().content = .value(.null) }

    func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(node.count)]
        try node.appended().encode(value, at: path)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(node.count)]
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: node.appended().object(), codingPath: path))
    }

    func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(node.count)]
        return UnkeyedContainer(node: node.appended().array(), codingPath: path)
    }

    func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(node.count)]
        return NodeEncoder(node: node.appended(), codingPath: path)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: JSONValueEncoder.Node
    let codingPath: [any CodingKey]

    func encodeNil() throws { node.content = .value(.null) }
    func encode(_ value: Bool) throws { node.content = .value(.bool(value)) }
    func encode(_ value: String) throws { node.content = .value(.string(value)) }
    func encode(_ value: Double) throws { node.content = .value(try JSONValueEncoder.Node.number(value, at: codingPath)) }
    func encode(_ value: Float) throws { try encode(Double(value)) }
    func encode(_ value: Int) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: Int8) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: Int16) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: Int32) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: Int64) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: UInt) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: UInt8) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: UInt16) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: UInt32) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode(_ value: UInt64) throws { node.content = .value(JSONValueEncoder.Node.integer(value)) }
    func encode<T: Encodable>(_ value: T) throws { try node.encode(value, at: codingPath) }
}

private struct IndexKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ index: Int) { stringValue = "\(index)"; intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}
