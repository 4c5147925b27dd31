import CYAML

/// Builds `JSONValue` documents from libyaml's event stream (`yaml_parser_parse`).
///
/// Collections under construction live on an explicit stack, so deep nesting cannot overflow
/// the call stack; a depth limit still applies because a `JSONValue` is released recursively.
/// Aliases share the anchored value (copy-on-write), and go-yaml v2's excessive-aliasing rule
/// bounds how much an alias may expand, which stops "billion laughs" documents.
struct YAMLReader {
    /// The deepest nesting of collections accepted.
    static let maxDepth = 512

    /// One collection being built.
    private struct Frame {
        var isMapping: Bool
        var items: [JSONValue] = []
        var entries: [String: JSONValue] = [:]
        var pendingKey: PendingKey?
        var anchor: String?
        /// Nodes decoded for this collection, counting expanded aliases (go-yaml's decodeCount).
        var size = 1
        var line: Int
        var column: Int
    }

    private enum PendingKey {
        case key(String)
        case merge
    }

    /// A finished node handed to its parent.
    private struct Node {
        var value: JSONValue
        /// The resolved scalar, for map keys (also through an alias).
        var scalar: YAMLScalar?
        var isMergeKey = false
        var size: Int
        var line: Int
        var column: Int
    }

    private struct Anchored {
        var value: JSONValue
        var scalar: YAMLScalar?
        var size: Int
    }

    private var stack: [Frame] = []
    private var anchors: [String: Anchored] = [:]
    private var root: Node?
    private var decodeCount = 0
    private var aliasCount = 0
    private var documents: [(value: JSONValue, line: Int, column: Int)] = []

    /// Reads every document of `text`, skipping documents that are empty or null.
    static func readAll(_ text: String) throws(YAMLError) -> [(value: JSONValue, line: Int, column: Int)] {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return [] }
        bytes.append(0)  // never read (the length excludes it); keeps the pointer valid when empty
        var reader = YAMLReader()
        let result: Result<Void, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return .success(()) }
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            defer { parser.deallocate() }
            guard yaml_parser_initialize(parser) == 1 else {
                return .failure(YAMLError(message: "cannot initialise the YAML parser", line: 1, column: 1))
            }
            defer { yaml_parser_delete(parser) }
            yaml_parser_set_input_string(parser, base, buffer.count - 1)
            do throws(YAMLError) {
                try reader.run(parser, input: buffer)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return reader.documents
    }

    private mutating func run(
        _ parser: UnsafeMutablePointer<yaml_parser_t>, input: UnsafeBufferPointer<UInt8>
    ) throws(YAMLError) {
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(parser, &event) == 1 else { throw Self.parserError(parser, input: input) }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            let column = Int(event.start_mark.column) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]
                root = nil
                stack = []
                decodeCount = 0
                aliasCount = 0
            case YAML_DOCUMENT_END_EVENT:
                if let root, !root.value.isNull {
                    documents.append((root.value, root.line, root.column))
                }
                root = nil
            case YAML_SCALAR_EVENT:
                let data = event.data.scalar
                let text = Self.string(data.value, length: Int(data.length))
                let tag = Self.optionalString(data.tag)
                let plainImplicit = data.plain_implicit != 0
                let scalar: YAMLScalar
                do throws(YAMLTagMismatch) {
                    scalar = try YAMLScalarResolver.resolve(text, tag: tag, plainImplicit: plainImplicit)
                } catch {
                    throw YAMLError(message: error.message, line: line, column: column)
                }
                let isMerge = text == "<<" && (plainImplicit || tag == YAMLScalarResolver.mergeTag)
                decodeCount += 1
                let node = Node(
                    value: scalar.jsonValue, scalar: scalar, isMergeKey: isMerge, size: 1, line: line,
                    column: column)
                if let anchor = Self.optionalString(data.anchor) {
                    anchors[anchor] = Anchored(value: node.value, scalar: scalar, size: 1)
                }
                try deliver(node)
            case YAML_ALIAS_EVENT:
                let name = Self.optionalString(event.data.alias.anchor) ?? ""
                guard let anchored = anchors[name] else {
                    throw YAMLError(
                        message: "unknown anchor '\(name)' referenced", line: line, column: column)
                }
                decodeCount = Self.saturatingAdd(decodeCount, Self.saturatingAdd(1, anchored.size))
                aliasCount = Self.saturatingAdd(aliasCount, anchored.size)
                if aliasCount > 100 && decodeCount > 1000
                    && Double(aliasCount) / Double(decodeCount) > Self.allowedAliasRatio(decodeCount)
                {
                    throw YAMLError(
                        message: "document contains excessive aliasing", line: line, column: column)
                }
                try deliver(
                    Node(
                        value: anchored.value, scalar: anchored.scalar,
                        size: Self.saturatingAdd(1, anchored.size),
                        line: line, column: column))
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                if stack.count >= Self.maxDepth {
                    throw YAMLError(
                        message: "exceeded max depth of \(Self.maxDepth)", line: line, column: column)
                }
                decodeCount += 1
                let isMapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = Self.optionalString(
                    isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                stack.append(Frame(isMapping: isMapping, anchor: anchor, line: line, column: column))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else {
                    throw YAMLError(message: "unbalanced collection end", line: line, column: column)
                }
                let value: JSONValue = frame.isMapping ? .object(frame.entries) : .array(frame.items)
                if let anchor = frame.anchor {
                    anchors[anchor] = Anchored(value: value, scalar: nil, size: frame.size)
                }
                try deliver(
                    Node(value: value, scalar: nil, size: frame.size, line: frame.line, column: frame.column))
            default:
                break  // stream start, and libyaml's "no event"
            }
        }
    }

    /// Hands a finished node to the collection on top of the stack (or makes it the root).
    private mutating func deliver(_ node: Node) throws(YAMLError) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        stack[top].size = Self.saturatingAdd(stack[top].size, node.size)
        if !stack[top].isMapping {
            stack[top].items.append(node.value)
            return
        }
        switch stack[top].pendingKey {
        case nil:
            if node.isMergeKey {
                stack[top].pendingKey = .merge
                return
            }
            guard let scalar = node.scalar else {
                let kind = node.value.arrayValue != nil ? "slice" : "map"
                throw YAMLError(
                    message: "unsupported map key of type \(kind): a key must be a scalar", line: node.line,
                    column: node.column)
            }
            guard let key = scalar.mapKey else {
                throw YAMLError(
                    message:
                        "unsupported map key \(scalar == .null ? "null" : "of this size"): a key must be a string, number or bool",
                    line: node.line, column: node.column)
            }
            stack[top].pendingKey = .key(key)
        case .key(let key):
            stack[top].entries[key] = node.value
            stack[top].pendingKey = nil
        case .merge:
            // go-yaml v2 writes merged members in document order, so a later key wins over an
            // earlier one, and within a sequence of maps the first map wins.
            stack[top].pendingKey = nil
            switch node.value {
            case .object(let members):
                stack[top].entries.merge(members) { _, merged in merged }
            case .array(let maps):
                for map in maps.reversed() {
                    guard case .object(let members) = map else {
                        throw Self.mergeError(node)
                    }
                    stack[top].entries.merge(members) { _, merged in merged }
                }
            default:
                throw Self.mergeError(node)
            }
        }
    }

    private static func mergeError(_ node: Node) -> YAMLError {
        YAMLError(
            message: "map merge requires map or sequence of maps as the value", line: node.line,
            column: node.column)
    }

    /// go-yaml v2's allowed share of alias-expanded nodes: 99% for small documents, down to
    /// 10% for documents of four million nodes and more.
    private static func allowedAliasRatio(_ decodeCount: Int) -> Double {
        let low = 400_000.0, high = 4_000_000.0
        let count = Double(decodeCount)
        if count <= low { return 0.99 }
        if count >= high { return 0.10 }
        return 0.99 - 0.89 * ((count - low) / (high - low))
    }

    private static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private static func optionalString(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    private static func parserError(
        _ parser: UnsafeMutablePointer<yaml_parser_t>, input: UnsafeBufferPointer<UInt8>
    ) -> YAMLError {
        let p = parser.pointee
        let problem = p.problem.map { String(cString: $0) } ?? "invalid YAML"
        var message = problem
        if let context = p.context.map({ String(cString: $0) }) {
            message = "\(context): \(problem)"
        }
        if p.error == YAML_READER_ERROR {
            // Reader errors carry a byte offset, not a mark: count lines and characters up to it.
            var line = 1, column = 1
            for byte in input.prefix(min(Int(p.problem_offset), input.count)) {
                if byte == 0x0A {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return YAMLError(message: message, line: line, column: column)
        }
        if p.error == YAML_MEMORY_ERROR {
            return YAMLError(message: "out of memory", line: 1, column: 1)
        }
        return YAMLError(
            message: message, line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
    }
}
