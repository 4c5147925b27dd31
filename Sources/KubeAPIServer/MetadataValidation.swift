import KubeJSON

/// Checks of metadata every kind shares: types (a 400 like kube's decode errors) and label
/// syntax (422 causes naming `metadata.labels`).
enum MetadataValidation {
    static func check(_ object: JSONValue, _ info: ResourceInfo) throws(APIError) {
        let meta = object["metadata"]
        func decodeError(_ field: String, _ expected: String) -> APIError {
            APIError.badRequest("\(info.kind) in version \"\(info.preferredVersion)\" cannot be handled as a \(info.kind): json: cannot unmarshal \(field) into Go struct field ObjectMeta.metadata.\(field) of type \(expected)")
        }
        for field in ["labels", "annotations"] {
            switch meta[field] {
            case .null: break
            case .object(let map):
                if map.values.contains(where: { $0.stringValue == nil && !$0.isNull }) { throw decodeError(field, "string") }
            default: throw decodeError(field, "map[string]string")
            }
        }
        switch meta["finalizers"] {
        case .null: break
        case .array(let items) where items.allSatisfy({ $0.stringValue != nil }): break
        default: throw decodeError("finalizers", "[]string")
        }
        switch meta["ownerReferences"] {
        case .null, .array: break
        default: throw decodeError("ownerReferences", "[]v1.OwnerReference")
        }
        var causes: [APIError.Cause] = []
        for (key, value) in (meta["labels"].objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let text = value.stringValue ?? ""
            if !isQualifiedName(key) {
                causes.append(.init(reason: "FieldValueInvalid", field: "metadata.labels", message: "Invalid value: \"\(key)\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"))
            }
            if !text.isEmpty && !isLabelValue(text) {
                causes.append(.init(reason: "FieldValueInvalid", field: "metadata.labels", message: "Invalid value: \"\(text)\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
            }
        }
        for (i, owner) in (meta["ownerReferences"].arrayValue ?? []).enumerated() {
            for field in ["apiVersion", "kind", "name", "uid"] where (owner[field].stringValue ?? "").isEmpty {
                causes.append(.init(reason: "FieldValueRequired", field: "metadata.ownerReferences[\(i)].\(field)", message: "Required value"))
            }
        }
        if !causes.isEmpty {
            throw APIError.invalid(kind: info.kind, group: info.group, name: object.name ?? "", causes)
        }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    static func isLabelValue(_ s: Substring) -> Bool {
        let bytes = Array(s.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
        return isAlnum(first) && isAlnum(last) && bytes.allSatisfy { isAlnum($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
    }

    static func isLabelValue(_ s: String) -> Bool { isLabelValue(Substring(s)) }

    /// `[prefix/]name`: prefix a DNS subdomain, name a label-value-like part.
    static func isQualifiedName(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return isLabelValue(parts[0])
        case 2:
            let prefix = parts[0]
            return !prefix.isEmpty && prefix.utf8.count <= 253
                && prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(ObjectStore.isLabel)
                && isLabelValue(parts[1])
        default: return false
        }
    }
}
