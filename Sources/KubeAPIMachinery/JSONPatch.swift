import KubeJSON

/// Why a patch could not be applied. kube-apiserver's mapping (handlers/patch.go), which
/// `statusCode` and `reason` reproduce:
/// - a JSON Patch document that does not decode (not an array, unknown `op`, missing `path`)
///   -> 400 BadRequest;
/// - a JSON Patch that decodes but fails to apply (a failed `test`, a missing path for
///   `remove`/`replace`, an index out of range) -> 422 with reason `Invalid`; kube words the
///   message "the server rejected our request due to an error in our request" and drops the
///   json-patch library's text (`statusMessage` keeps kube's words, `detail` keeps ours so the
///   server may add it as a cause);
/// - a strategic merge patch with a bad directive -> 422 Invalid (kube: `interpretStrategicMergePatchError`).
public enum PatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The patch document itself is malformed (HTTP 400 BadRequest).
    case malformed(String)
    /// A `test` operation did not match (HTTP 422 Invalid).
    case testFailed(path: String)
    /// An operation could not be applied to this document (HTTP 422 Invalid).
    case cannotApply(String)
    /// A strategic merge patch is invalid for this document (HTTP 422 Invalid).
    case invalidStrategicMergePatch(String)

    /// The HTTP status kube-apiserver answers with.
    public var statusCode: Int {
        if case .malformed = self { return 400 }
        return 422
    }
    /// The `metav1.Status` reason.
    public var reason: String {
        if case .malformed = self { return "BadRequest" }
        return "Invalid"
    }
    /// The `metav1.Status` message as kube-apiserver words it.
    public var statusMessage: String {
        switch self {
        case .malformed(let m): return m
        case .testFailed, .cannotApply:
            return "the server rejected our request due to an error in our request"
        case .invalidStrategicMergePatch(let m): return m
        }
    }
    /// What went wrong, in the json-patch library's words (e.g. "testing value /x failed: test failed").
    public var detail: String {
        switch self {
        case .malformed(let m), .cannotApply(let m), .invalidStrategicMergePatch(let m): return m
        case .testFailed(let path): return "testing value \(path) failed: test failed"
        }
    }
    public var description: String { detail }
}

/// A parsed RFC 6901 JSON Pointer.
struct JSONPointer: Sendable {
    var tokens: [String]
    var text: String

    init(_ text: String) throws(PatchError) {
        self.text = text
        if text.isEmpty {
            tokens = []
            return
        }
        guard text.hasPrefix("/") else {
            throw .malformed("JSON pointer must be empty or start with a \"/\": \(text)")
        }
        tokens = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences("~1", "/").replacingOccurrences("~0", "~")
        }
    }

    static func escape(_ token: String) -> String {
        token.replacingOccurrences("~", "~0").replacingOccurrences("/", "~1")
    }
}

extension StringProtocol {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty else { return String(self) }
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        out += rest
        return out
    }

    func range(of target: String) -> Range<String.Index>? where Self == Substring {
        let t = Array(target)
        var i = startIndex
        while i < endIndex {
            var j = i
            var k = 0
            while k < t.count, j < endIndex, self[j] == t[k] {
                j = index(after: j)
                k += 1
            }
            if k == t.count { return i..<j }
            i = index(after: i)
        }
        return nil
    }
}

public enum Patch {
    /// RFC 6902 JSON Patch: add, remove, replace, move, copy, test; `-` appends; `~0`/`~1` escapes.
    public static func applyJSONPatch(_ patch: JSONValue, to document: JSONValue) throws(PatchError)
        -> JSONValue
    {
        guard case .array(let operations) = patch else {
            throw .malformed("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        }
        var doc = document
        for operation in operations {
            guard case .object(let op) = operation else {
                throw .malformed("invalid JSON Patch operation: \(operation)")
            }
            guard let name = op["op"]?.stringValue else {
                throw .malformed("missing \"op\" in JSON Patch operation")
            }
            guard let pathText = op["path"]?.stringValue else {
                throw .malformed("\(name) operation missing \"path\"")
            }
            let path = try JSONPointer(pathText)
            switch name {
            case "add":
                guard let value = op["value"] else { throw .malformed("add operation missing \"value\"") }
                try add(value, at: path, in: &doc)
            case "remove":
                _ = try remove(at: path, in: &doc, operation: "remove")
            case "replace":
                guard let value = op["value"] else { throw .malformed("replace operation missing \"value\"") }
                guard exists(path, in: doc) else {
                    throw .cannotApply(
                        "replace operation does not apply: doc is missing key: \(pathText): missing value")
                }
                if path.tokens.isEmpty {
                    doc = value
                } else {
                    _ = try remove(at: path, in: &doc, operation: "replace")
                    try add(value, at: path, in: &doc)
                }
            case "move":
                guard let fromText = op["from"]?.stringValue else {
                    throw .malformed("move operation missing \"from\"")
                }
                let from = try JSONPointer(fromText)
                if pathText.hasPrefix(fromText + "/") {
                    throw .cannotApply(
                        "move operation: \"from\" \(fromText) is a prefix of \"path\" \(pathText)")
                }
                let value = try remove(at: from, in: &doc, operation: "move")
                try add(value, at: path, in: &doc)
            case "copy":
                guard let fromText = op["from"]?.stringValue else {
                    throw .malformed("copy operation missing \"from\"")
                }
                let from = try JSONPointer(fromText)
                guard let value = get(from, in: doc) else {
                    throw .cannotApply(
                        "copy operation does not apply: doc is missing from path: \(fromText): missing value")
                }
                try add(value, at: path, in: &doc)
            case "test":
                let expected = op["value"] ?? .null
                // As evanphx/json-patch (kube's library): a missing value equals an expected null.
                let actual = get(path, in: doc) ?? .null
                guard semanticallyEqual(actual, expected) else { throw .testFailed(path: pathText) }
            default:
                throw .malformed("Unexpected kind: \(name)")
            }
        }
        return doc
    }

    /// JSON equality where `1` and `1.0` are the same number (as after Go's JSON decoding).
    static func semanticallyEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int, .double), (.double, .int), (.double, .double):
            return a.doubleValue == b.doubleValue
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { semanticallyEqual($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count
                && x.allSatisfy { key, value in y[key].map { semanticallyEqual(value, $0) } ?? false }
        default:
            return a == b
        }
    }

    static func get(_ pointer: JSONPointer, in doc: JSONValue) -> JSONValue? {
        var current = doc
        for token in pointer.tokens {
            switch current {
            case .object(let o):
                guard let next = o[token] else { return nil }
                current = next
            case .array(let a):
                guard let i = arrayIndex(token), i < a.count else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }

    static func exists(_ pointer: JSONPointer, in doc: JSONValue) -> Bool { get(pointer, in: doc) != nil }

    /// A decimal array index without sign or leading zeros.
    static func arrayIndex(_ token: String) -> Int? {
        guard !token.isEmpty, token.allSatisfy(\.isASCIIDigit), token == "0" || !token.hasPrefix("0") else {
            return nil
        }
        return Int(token)
    }

    static func add(_ value: JSONValue, at pointer: JSONPointer, in doc: inout JSONValue) throws(PatchError) {
        guard let last = pointer.tokens.last else {
            doc = value
            return
        }
        try modifyParent(of: pointer, in: &doc) { (parent) throws(PatchError) in
            switch parent {
            case .object(var o):
                parent = .null
                o[last] = value
                parent = .object(o)
            case .array(var a):
                let index: Int
                if last == "-" {
                    index = a.count
                } else if let i = arrayIndex(last), i <= a.count {
                    index = i
                } else {
                    throw .cannotApply("add operation does not apply: index out of range: \(pointer.text)")
                }
                parent = .null
                a.insert(value, at: index)
                parent = .array(a)
            default:
                throw .cannotApply(
                    "add operation does not apply: doc is missing path: \(pointer.text): missing value")
            }
        }
    }

    static func remove(at pointer: JSONPointer, in doc: inout JSONValue, operation: String) throws(PatchError)
        -> JSONValue
    {
        guard let last = pointer.tokens.last else {
            let old = doc
            doc = .null
            return old
        }
        var removed: JSONValue = .null
        try modifyParent(of: pointer, in: &doc) { (parent) throws(PatchError) in
            switch parent {
            case .object(var o):
                guard let old = o[last] else {
                    throw .cannotApply(
                        "error in \(operation) for path: '\(pointer.text)': Unable to remove nonexistent key: \(last): missing value"
                    )
                }
                removed = old
                parent = .null
                o.removeValue(forKey: last)
                parent = .object(o)
            case .array(var a):
                guard let i = arrayIndex(last), i < a.count else {
                    throw .cannotApply(
                        "error in \(operation) for path: '\(pointer.text)': index out of range")
                }
                removed = a[i]
                parent = .null
                a.remove(at: i)
                parent = .array(a)
            default:
                throw .cannotApply("error in \(operation) for path: '\(pointer.text)': missing value")
            }
        }
        return removed
    }

    /// Runs `body` on the container that holds the pointer's last token.
    static func modifyParent(
        of pointer: JSONPointer, in doc: inout JSONValue, _ body: (inout JSONValue) throws(PatchError) -> Void
    ) throws(PatchError) {
        try modify(&doc, tokens: pointer.tokens.dropLast(), pointer: pointer, body)
    }

    private static func modify(
        _ node: inout JSONValue, tokens: ArraySlice<String>, pointer: JSONPointer,
        _ body: (inout JSONValue) throws(PatchError) -> Void
    ) throws(PatchError) {
        guard let token = tokens.first else {
            try body(&node)
            return
        }
        switch node {
        case .object(var o):
            guard var child = o[token] else {
                throw .cannotApply("doc is missing path: \(pointer.text): missing value")
            }
            node = .null
            o[token] = nil
            defer {
                o[token] = child
                node = .object(o)
            }
            try modify(&child, tokens: tokens.dropFirst(), pointer: pointer, body)
        case .array(var a):
            guard let i = arrayIndex(token), i < a.count else {
                throw .cannotApply("doc is missing path: \(pointer.text): missing value")
            }
            var child = a[i]
            node = .null
            a[i] = .null
            defer {
                a[i] = child
                node = .array(a)
            }
            try modify(&child, tokens: tokens.dropFirst(), pointer: pointer, body)
        default:
            throw .cannotApply("doc is missing path: \(pointer.text): missing value")
        }
    }

    /// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, everything else replaces.
    public static func applyMergePatch(_ patch: JSONValue, to document: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var target: [String: JSONValue]
        if case .object(let o) = document { target = o } else { target = [:] }
        for (key, value) in patchMembers {
            if case .null = value {
                target.removeValue(forKey: key)
            } else {
                target[key] = applyMergePatch(value, to: target[key] ?? .null)
            }
        }
        return .object(target)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
