import KubeJSON

/// How a list field merges in a strategic merge patch (the `patchStrategy`/`patchMergeKey`
/// struct tags of the Go API types).
enum ListMergeStrategy: Sendable, Equatable {
    /// The patch's list replaces the live list (no `patchStrategy:"merge"`).
    case replace
    /// Objects merged by the value of `key`.
    case mergeByKey(String)
    /// A list of scalars merged as a set (`metadata.finalizers`).
    case mergePrimitives
}

/// The merge keys of the built-in kinds kubesnap's API server serves (core/v1, apps/v1,
/// batch/v1, rbac, coordination): a table keyed by field path, arrays transparent.
enum StrategicMergeSchema {
    /// Where the PodSpec lives in each kind that embeds one.
    static func podSpecPrefix(kind: String) -> [String]? {
        switch kind {
        case "Pod": return ["spec"]
        case "PodTemplate": return ["template", "spec"]
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
            return ["spec", "template", "spec"]
        case "CronJob": return ["spec", "jobTemplate", "spec", "template", "spec"]
        default: return nil
        }
    }

    static let podSpecLists: [String: ListMergeStrategy] = [
        "containers": .mergeByKey("name"),
        "initContainers": .mergeByKey("name"),
        "ephemeralContainers": .mergeByKey("name"),
        "volumes": .mergeByKey("name"),
        "imagePullSecrets": .mergeByKey("name"),
        "hostAliases": .mergeByKey("ip"),
        "topologySpreadConstraints": .mergeByKey("topologyKey"),
        "resourceClaims": .mergeByKey("name"),
        "schedulingGates": .mergeByKey("name"),
    ]
    static let containerLists: [String: ListMergeStrategy] = [
        "ports": .mergeByKey("containerPort"),
        "env": .mergeByKey("name"),
        "volumeMounts": .mergeByKey("mountPath"),
        "volumeDevices": .mergeByKey("devicePath"),
    ]

    static func strategy(kind: String, path: [String]) -> ListMergeStrategy {
        if path.count >= 2, path[path.count - 2] == "metadata" {
            switch path[path.count - 1] {
            case "finalizers": return .mergePrimitives
            case "ownerReferences": return .mergeByKey("uid")
            default: break
            }
        }
        if path == ["status", "conditions"] { return .mergeByKey("type") }
        if let prefix = podSpecPrefix(kind: kind), path.count > prefix.count,
            Array(path.prefix(prefix.count)) == prefix
        {
            let rest = Array(path.dropFirst(prefix.count))
            if rest.count == 1, let s = podSpecLists[rest[0]] { return s }
            if rest.count == 2, ["containers", "initContainers", "ephemeralContainers"].contains(rest[0]),
                let s = containerLists[rest[1]]
            {
                return s
            }
        }
        switch (kind, path) {
        case ("Service", ["spec", "ports"]): return .mergeByKey("port")
        case ("ServiceAccount", ["secrets"]): return .mergeByKey("name")
        case ("Endpoints", ["subsets"]): return .replace
        default: return .replace
        }
    }
}

extension Patch {
    /// Strategic merge patch as kube-apiserver applies it for built-in kinds (`kubectl patch`'s
    /// default type and client-side `kubectl apply`): maps merge, lists with a merge key merge
    /// element by element, other lists are replaced; directives `$patch: replace|delete|merge`,
    /// `$deleteFromPrimitiveList/<f>`, `$setElementOrder/<f>` and `$retainKeys` are honoured.
    /// `kind` selects the merge keys (for example containers by name).
    public static func applyStrategicMergePatch(
        _ patch: JSONValue, to document: JSONValue, apiVersion: String, kind: String
    ) throws(PatchError) -> JSONValue {
        guard case .object(let patchMap) = patch else {
            throw .malformed("strategic merge patch must be a JSON object")
        }
        let original = document.objectValue ?? [:]
        let merged = try StrategicMerger(kind: kind).mergeMap(original, patchMap, path: [])
        return merged.map(JSONValue.object) ?? .emptyObject
    }
}

struct StrategicMerger {
    let kind: String

    static let directive = "$patch"
    static let deleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/"
    static let setElementOrderPrefix = "$setElementOrder/"
    static let retainKeys = "$retainKeys"

    /// Merges `patch` into `original`; nil means the map is deleted (`$patch: delete`).
    func mergeMap(_ original: [String: JSONValue], _ patch: [String: JSONValue], path: [String])
        throws(PatchError)
        -> [String: JSONValue]?
    {
        var patch = patch
        if let directive = patch.removeValue(forKey: Self.directive) {
            switch directive.stringValue {
            case "replace": return try stripDirectives(patch, path: path)
            case "delete": return nil
            case "merge": break
            default:
                throw .invalidStrategicMergePatch(
                    "Unknown patch type: \(directive.stringValue ?? directive.description)")
            }
        }
        var result = original
        if let retain = patch.removeValue(forKey: Self.retainKeys) {
            guard case .array(let keys) = retain else {
                throw .invalidStrategicMergePatch("$retainKeys must be a list of strings, got \(retain)")
            }
            let keep = Set(keys.compactMap(\.stringValue))
            for key in result.keys where !keep.contains(key) { result.removeValue(forKey: key) }
        }
        var elementOrders: [String: [JSONValue]] = [:]
        for (key, value) in patch {
            if key.hasPrefix(Self.deleteFromPrimitiveListPrefix) {
                let field = String(key.dropFirst(Self.deleteFromPrimitiveListPrefix.count))
                guard case .array(let remove) = value else {
                    throw .invalidStrategicMergePatch("\(key) must be a list, got \(value)")
                }
                if case .array(let items) = result[field] {
                    result[field] = .array(items.filter { item in !remove.contains(item) })
                }
            } else if key.hasPrefix(Self.setElementOrderPrefix) {
                let field = String(key.dropFirst(Self.setElementOrderPrefix.count))
                guard case .array(let order) = value else {
                    throw .invalidStrategicMergePatch("\(key) must be a list, got \(value)")
                }
                elementOrders[field] = order
            }
        }
        for (key, value) in patch where !key.hasPrefix("$") {
            let childPath = path + [key]
            if case .null = value {
                result.removeValue(forKey: key)
                continue
            }
            let merged = try mergeValue(result[key], value, path: childPath)
            result[key] = merged
            if merged == nil { result.removeValue(forKey: key) }
        }
        for (field, order) in elementOrders {
            guard case .array(let items) = result[field] else { continue }
            result[field] = .array(reorder(items, by: order, path: path + [field]))
        }
        return result
    }

    private func mergeValue(_ original: JSONValue?, _ patch: JSONValue, path: [String]) throws(PatchError)
        -> JSONValue?
    {
        switch patch {
        case .object(let patchMap):
            if case .object(let originalMap)? = original {
                return try mergeMap(originalMap, patchMap, path: path).map(JSONValue.object)
            }
            return try mergeMap([:], patchMap, path: path).map(JSONValue.object)
        case .array(let patchItems):
            let originalItems: [JSONValue]
            if case .array(let items)? = original { originalItems = items } else { originalItems = [] }
            return .array(try mergeList(originalItems, patchItems, path: path))
        default:
            return patch
        }
    }

    private func mergeList(_ original: [JSONValue], _ patch: [JSONValue], path: [String]) throws(PatchError)
        -> [JSONValue]
    {
        let strategy = StrategicMergeSchema.strategy(kind: kind, path: path)
        // A `{"$patch": "replace"}` element replaces the whole list with the other elements.
        if patch.contains(where: { $0[Self.directive].stringValue == "replace" }) {
            return try patch.filter { $0[Self.directive].isNull }.map { (item) throws(PatchError) in
                try stripDirectives(item, path: path)
            }
        }
        switch strategy {
        case .replace:
            return try patch.map { (item) throws(PatchError) in try stripDirectives(item, path: path) }
        case .mergePrimitives:
            var result = original
            for item in patch where !result.contains(item) { result.append(item) }
            return result
        case .mergeByKey(let mergeKey):
            var result = original
            for item in patch {
                guard case .object(var patchElement) = item else {
                    // Scalars in a keyed list: set semantics.
                    if !result.contains(item) { result.append(item) }
                    continue
                }
                let directive = patchElement[Self.directive]?.stringValue
                if directive == "merge" { patchElement.removeValue(forKey: Self.directive) }
                guard let keyValue = patchElement[mergeKey] else {
                    throw .invalidStrategicMergePatch(
                        "map: \(JSONValue.object(patchElement)) does not contain declared merge key: \(mergeKey)"
                    )
                }
                let index = result.firstIndex { $0[mergeKey] == keyValue }
                if directive == "delete" {
                    result.removeAll { $0[mergeKey] == keyValue }
                    continue
                }
                if let index, case .object(let existing) = result[index] {
                    if let merged = try mergeMap(existing, patchElement, path: path) {
                        result[index] = .object(merged)
                    } else {
                        result.remove(at: index)
                    }
                } else if let fresh = try mergeMap([:], patchElement, path: path) {
                    result.append(.object(fresh))
                }
            }
            return result
        }
    }

    /// Orders `items` as `$setElementOrder` says; items it does not name keep their relative
    /// order after the named ones.
    private func reorder(_ items: [JSONValue], by order: [JSONValue], path: [String]) -> [JSONValue] {
        let key: String?
        if case .mergeByKey(let k) = StrategicMergeSchema.strategy(kind: kind, path: path) {
            key = k
        } else {
            key = nil
        }
        func identity(_ item: JSONValue) -> JSONValue { key.map { item[$0] } ?? item }
        func orderIdentity(_ entry: JSONValue) -> JSONValue { key.map { entry[$0] } ?? entry }
        var remaining = items
        var ordered: [JSONValue] = []
        for entry in order {
            let id = orderIdentity(entry)
            if let i = remaining.firstIndex(where: { identity($0) == id }) {
                ordered.append(remaining.remove(at: i))
            }
        }
        return ordered + remaining
    }

    /// A patch value taken as is, with directives removed and nulls dropped.
    private func stripDirectives(_ value: JSONValue, path: [String]) throws(PatchError) -> JSONValue {
        switch value {
        case .object(let o): return try .object(stripDirectives(o, path: path))
        case .array(let a):
            return .array(
                try a.filter { $0[Self.directive].stringValue != "delete" }.map { (item) throws(PatchError) in
                    try stripDirectives(item, path: path)
                })
        default: return value
        }
    }

    private func stripDirectives(_ map: [String: JSONValue], path: [String]) throws(PatchError) -> [String:
        JSONValue]
    {
        var out: [String: JSONValue] = [:]
        for (key, value) in map where !key.hasPrefix("$") {
            if case .null = value { continue }
            out[key] = try stripDirectives(value, path: path + [key])
        }
        return out
    }
}
