import KubeJSON

/// A server-side apply that would change fields another manager owns (HTTP 409 Conflict,
/// reason `Conflict`, one cause of type `FieldManagerConflict` per field), worded as
/// kube-apiserver does so kubectl prints `conflict with "X": .spec.y`.
public struct ApplyConflict: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Conflict: Sendable, Equatable {
        /// The other manager as kube prints it: `"name"` or `"name" using v1 at <time>`.
        public var manager: String
        /// `.spec.replicas`
        public var field: String
    }
    public var conflicts: [Conflict]

    public var statusCode: Int { 409 }
    public var reason: String { "Conflict" }

    /// `Apply failed with 1 conflict: conflict with "m": .spec.x`, or for several the list form.
    public var message: String {
        if conflicts.count == 1 {
            return
                "Apply failed with 1 conflict: conflict with \(conflicts[0].manager): \(conflicts[0].field)"
        }
        var byManager: [String: [String]] = [:]
        for c in conflicts { byManager[c.manager, default: []].append(c.field) }
        var lines: [String] = []
        for manager in byManager.keys.sorted() {
            lines.append("conflicts with \(manager):")
            for field in byManager[manager] ?? [] { lines.append("- \(field)") }
        }
        return "Apply failed with \(conflicts.count) conflicts: " + lines.joined(separator: "\n")
    }

    /// The `details.causes` of the Status: `{"reason":"FieldManagerConflict","message":"conflict with \"m\"","field":".spec.x"}`.
    public var causes: [JSONValue] {
        conflicts.map {
            [
                "reason": "FieldManagerConflict", "message": .string("conflict with \($0.manager)"),
                "field": .string($0.field),
            ]
        }
    }
    public var description: String { message }
}

/// Server-side apply over `metadata.managedFields` (`fieldsV1` with `f:` keys). Maps and scalars
/// are tracked field by field; lists are atomic (owned as a whole) unless they are
/// `x-kubernetes-list-type: map`, whose elements are tracked by their keys (`k:{"name":"app"}`).
public enum ServerSideApply {
    /// Field names and list-element keys (`k:{"name":"a"}`) from the object root.
    typealias FieldPath = [String]

    /// Fields the API server owns itself and never records in managedFields.
    static let ignoredMetadata: Set<String> = [
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
        "selfLink",
        "deletionTimestamp", "deletionGracePeriodSeconds",
    ]

    /// The list-map keys of a kind: dotted field paths (list elements transparent) to key names.
    /// For CRDs pass `CRDSchema.listMapKeys`; nil derives them from the built-in merge keys of
    /// `kind` (containers by name, ...).
    struct Keys {
        var table: [String: [String]]?
        var kind: String

        func keys(for path: FieldPath) -> [String]? {
            let names = path.filter { !$0.hasPrefix("k:") }
            if let table { return table[names.joined(separator: ".")] }
            if case .mergeByKey(let key) = StrategicMergeSchema.strategy(kind: kind, path: names) {
                return [key]
            }
            return nil
        }
    }

    /// Applies `applied` (the apply configuration) for `manager` to `live` (nil = create), keeping
    /// `metadata.managedFields`; a field another manager owns with a different value throws
    /// unless `force`, which takes ownership. Fields this manager applied before and no longer
    /// applies are removed from the object when no other manager owns them.
    public static func apply(
        _ applied: JSONValue, to live: JSONValue?, manager: String, force: Bool, now: String,
        listMapKeys: [String: [String]]? = nil
    ) throws(ApplyConflict) -> JSONValue {
        var configuration = applied
        configuration["metadata"].removeValue(forKey: "managedFields")
        let keys = Keys(
            table: listMapKeys, kind: applied["kind"].stringValue ?? live?["kind"].stringValue ?? "")
        let appliedFields = fieldSet(of: configuration, keys)
        let apiVersion = applied["apiVersion"].stringValue ?? live?["apiVersion"].stringValue ?? ""

        guard let live else {
            var result = configuration
            let entries = [
                ManagedEntry(
                    manager: manager, operation: "Apply", apiVersion: apiVersion, time: now, subresource: "",
                    fields: appliedFields)
            ]
            result["metadata"]["managedFields"] = .array(entries.map(\.json))
            return result
        }

        var entries = managedEntries(of: live)
        let ownIndex = entries.firstIndex {
            $0.manager == manager && $0.operation == "Apply" && $0.subresource == ""
        }
        // Conflicts: another entry owns an overlapping leaf whose value would change.
        var conflicts: [ApplyConflict.Conflict] = []
        var taken: [(entry: Int, path: FieldPath)] = []
        let appliedLeaves = appliedFields.filter { !isElementMarker($0) }.sorted {
            $0.joined(separator: ".") < $1.joined(separator: ".")
        }
        for (i, other) in entries.enumerated() where i != ownIndex {
            for path in appliedLeaves {
                // An empty map in the configuration owns the map, not its members.
                if value(at: path, in: configuration)?.objectValue != nil,
                    value(at: path, in: live)?.objectValue != nil
                {
                    continue
                }
                for owned in other.fields where !isElementMarker(owned) && overlaps(owned, path) {
                    let compared = owned.count > path.count ? owned : path
                    let before = value(at: compared, in: live)
                    let after = value(at: compared, in: configuration)
                    let same =
                        before.flatMap { b in after.map { Patch.semanticallyEqual(b, $0) } }
                        ?? (before == nil && after == nil)
                    if !same {
                        let conflict = ApplyConflict.Conflict(
                            manager: other.printedName,
                            field: printed(owned.count < path.count ? path : owned))
                        if !conflicts.contains(conflict) { conflicts.append(conflict) }
                        taken.append((i, owned))
                    }
                }
            }
        }
        if !conflicts.isEmpty, !force { throw ApplyConflict(conflicts: conflicts) }
        for (i, path) in taken { entries[i].fields.remove(path) }

        var result = live
        merge(configuration, into: &result, path: [], keys)

        // Fields dropped from this manager's configuration go away unless someone else owns them.
        if let ownIndex {
            let removed = entries[ownIndex].fields.subtracting(appliedFields).sorted { $0.count < $1.count }
            for path in removed {
                let ownedElsewhere = entries.enumerated().contains { i, e in
                    i != ownIndex && e.fields.contains { overlaps($0, path) }
                }
                let stillApplied = appliedFields.contains {
                    $0 == path
                        || (isPrefix($0, of: path) && !isElementMarker($0)
                            && value(at: $0, in: configuration)?.objectValue == nil)
                        || (isPrefix(path, of: $0))
                }
                if !ownedElsewhere && !stillApplied { remove(path, from: &result) }
            }
            entries[ownIndex].fields = appliedFields
            entries[ownIndex].time = now
            entries[ownIndex].apiVersion = apiVersion
        } else {
            entries.append(
                ManagedEntry(
                    manager: manager, operation: "Apply", apiVersion: apiVersion, time: now, subresource: "",
                    fields: appliedFields))
        }
        entries.removeAll { $0.fields.isEmpty }
        result["metadata"]["managedFields"] = .array(entries.map(\.json))
        return result
    }

    /// Records a non-apply write (create, update, patch) by `manager` as kube does for every
    /// write: the fields it changed become owned by its `Update` entry and are taken from other
    /// managers. `old` nil means create. Returns `new` with `metadata.managedFields` set.
    public static func recordUpdate(
        old: JSONValue?, new: JSONValue, manager: String, now: String, subresource: String = "",
        listMapKeys: [String: [String]]? = nil
    ) -> JSONValue {
        var object = new
        var entries = old.map(managedEntries(of:)) ?? []
        if old == nil, case .array(let sent)? = new["metadata"].objectValue?["managedFields"], !sent.isEmpty {
            entries = managedEntries(of: new)
        }
        let keys = Keys(table: listMapKeys, kind: new["kind"].stringValue ?? "")
        object["metadata"].removeValue(forKey: "managedFields")
        var previous = old ?? .emptyObject
        previous["metadata"].removeValue(forKey: "managedFields")
        // Only where the two differ: equal subtrees own the same fields before and after.
        let (before, after) = differingFieldSets(previous, object, keys)
        var changed = Set<FieldPath>()
        for path in after where !isElementMarker(path) {
            let b = value(at: path, in: previous)
            let a = value(at: path, in: object)
            if b == nil || !Patch.semanticallyEqual(b ?? .null, a ?? .null) { changed.insert(path) }
        }
        // New list elements are owned by the writer too.
        for path in after where isElementMarker(path) && !before.contains(path) { changed.insert(path) }
        let removed = before.subtracting(after)
        let apiVersion = new["apiVersion"].stringValue ?? ""
        for i in entries.indices where !changed.isEmpty || !removed.isEmpty {
            let kept = entries[i].fields.filter { owned in
                !changed.contains { !isElementMarker($0) && overlaps($0, owned) && !isElementMarker(owned) }
                    && !removed.contains { isPrefix($0, of: owned) }
            }
            if kept.count != entries[i].fields.count { entries[i].fields = kept }
        }
        if !changed.isEmpty {
            if let own = entries.firstIndex(where: {
                $0.manager == manager && $0.operation == "Update" && $0.subresource == subresource
            }) {
                entries[own].fields.formUnion(changed)
                entries[own].time = now
                entries[own].apiVersion = apiVersion
            } else {
                entries.append(
                    ManagedEntry(
                        manager: manager, operation: "Update", apiVersion: apiVersion, time: now,
                        subresource: subresource, fields: changed))
            }
        }
        entries.removeAll { $0.fields.isEmpty }
        if !entries.isEmpty { object["metadata"]["managedFields"] = .array(entries.map(\.json)) }
        return object
    }

    // MARK: Field sets

    struct ManagedEntry {
        var manager: String
        var operation: String
        var apiVersion: String { didSet { source = nil } }
        var time: String { didSet { source = nil } }
        var subresource: String
        var fields: Set<FieldPath> { didSet { source = nil } }
        /// The entry as read from the object, while unchanged: written back as it was rather
        /// than encoded again.
        var source: JSONValue?

        init(
            manager: String, operation: String, apiVersion: String, time: String, subresource: String,
            fields: Set<FieldPath>, source: JSONValue? = nil
        ) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.time = time
            self.subresource = subresource
            self.fields = fields
            self.source = source
        }

        var printedName: String {
            var s = FieldError.goQuote(manager)
            if !subresource.isEmpty { s += " with subresource \(FieldError.goQuote(subresource))" }
            if operation == "Update" {
                s += time.isEmpty ? " using \(apiVersion)" : " using \(apiVersion) at \(time)"
            }
            return s
        }

        var json: JSONValue {
            if let source { return source }
            var o: [String: JSONValue] = [
                "manager": .string(manager), "operation": .string(operation),
                "apiVersion": .string(apiVersion),
                "fieldsType": "FieldsV1", "fieldsV1": ServerSideApply.encode(fields),
            ]
            if !time.isEmpty { o["time"] = .string(time) }
            if !subresource.isEmpty { o["subresource"] = .string(subresource) }
            return .object(o)
        }
    }

    static func managedEntries(of object: JSONValue) -> [ManagedEntry] {
        guard case .array(let list) = object["metadata"]["managedFields"] else { return [] }
        return list.compactMap { e in
            guard let manager = e["manager"].stringValue else { return nil }
            return ManagedEntry(
                manager: manager, operation: e["operation"].stringValue ?? "Update",
                apiVersion: e["apiVersion"].stringValue ?? "",
                time: e["time"].stringValue ?? "", subresource: e["subresource"].stringValue ?? "",
                fields: decode(e["fieldsV1"]), source: e)
        }
    }

    static func isElementMarker(_ path: FieldPath) -> Bool { path.last?.hasPrefix("k:") ?? false }

    static func isPrefix(_ a: FieldPath, of b: FieldPath) -> Bool {
        a.count < b.count && Array(b.prefix(a.count)) == a
    }

    /// One path is a prefix of (or equal to) the other.
    static func overlaps(_ a: FieldPath, _ b: FieldPath) -> Bool {
        a.count <= b.count ? Array(b.prefix(a.count)) == a : Array(a.prefix(b.count)) == b
    }

    /// The fields of an object: scalars, atomic lists and empty maps as leaves, list-map
    /// elements as `k:` markers plus their own fields; server-owned metadata skipped.
    static func fieldSet(of object: JSONValue, _ keys: Keys) -> Set<FieldPath> {
        var out = Set<FieldPath>()
        guard case .object(let root) = object else { return out }
        for (key, value) in root where key != "apiVersion" && key != "kind" {
            if key == "metadata", case .object(let meta) = value {
                for (mk, mv) in meta where !ignoredMetadata.contains(mk) {
                    collect(mv, ["metadata", mk], keys, &out)
                }
            } else {
                collect(value, [key], keys, &out)
            }
        }
        return out
    }

    /// `fieldSet` of `previous` and of `object`, each restricted to the subtrees where the two
    /// differ: the rest owns the same fields in both, so what an update changed or removed is
    /// all in these parts (a finalizer's removal looks at metadata.finalizers, not at the spec).
    static func differingFieldSets(_ previous: JSONValue, _ object: JSONValue, _ keys: Keys)
        -> (before: Set<FieldPath>, after: Set<FieldPath>)
    {
        var before = Set<FieldPath>(), after = Set<FieldPath>()
        func both(_ a: JSONValue?, _ b: JSONValue?, _ path: FieldPath) {
            if let a, let b, a == b { return }
            if case .object(let x)? = a, case .object(let y)? = b, !x.isEmpty, !y.isEmpty {
                for k in Set(x.keys).union(y.keys) { both(x[k], y[k], path + [k]) }
                return
            }
            if let a { collect(a, path, keys, &before) }
            if let b { collect(b, path, keys, &after) }
        }
        let a = previous.objectValue ?? [:], b = object.objectValue ?? [:]
        for key in Set(a.keys).union(b.keys) where key != "apiVersion" && key != "kind" {
            guard key == "metadata" else {
                both(a[key], b[key], [key])
                continue
            }
            switch (a[key], b[key]) {
            case (.object(let x)?, .object(let y)?):
                for k in Set(x.keys).union(y.keys) where !ignoredMetadata.contains(k) {
                    both(x[k], y[k], ["metadata", k])
                }
            case let (x, y):  // not a map on one side: each as fieldSet sees it
                if let x { before.formUnion(fieldSet(of: ["metadata": x], keys)) }
                if let y { after.formUnion(fieldSet(of: ["metadata": y], keys)) }
            }
        }
        return (before, after)
    }

    private static func collect(
        _ value: JSONValue, _ path: FieldPath, _ keys: Keys, _ out: inout Set<FieldPath>
    ) {
        switch value {
        case .object(let o) where !o.isEmpty:
            for (k, v) in o { collect(v, path + [k], keys, &out) }
        case .array(let elements):
            // A list-map is never owned as a whole (an empty one owns nothing).
            guard let names = keys.keys(for: path),
                let components = elements.map({ elementKey($0, names) }) as [String?]?,
                !components.contains(nil)
            else {
                out.insert(path)
                return
            }
            for (element, component) in zip(elements, components) {
                guard let component else { continue }
                let elementPath = path + [component]
                out.insert(elementPath)
                if case .object(let o) = element {
                    for (k, v) in o { collect(v, elementPath + [k], keys, &out) }
                }
            }
        default:
            out.insert(path)
        }
    }

    /// `k:{"name":"app"}` for a list-map element, nil when a key is missing.
    static func elementKey(_ element: JSONValue, _ names: [String]) -> String? {
        guard case .object(let o) = element else { return nil }
        var key: [String: JSONValue] = [:]
        for name in names {
            guard let v = o[name] else { return nil }
            key[name] = v
        }
        return "k:" + JSONValue.object(key).serialized()
    }

    /// The value at a path; `k:` components select list elements.
    static func value(at path: FieldPath, in object: JSONValue) -> JSONValue? {
        var current = object
        for component in path {
            if component.hasPrefix("k:") {
                guard case .array(let a) = current, let element = a.first(where: { matches($0, component) })
                else { return nil }
                current = element
            } else {
                guard case .object(let o) = current, let next = o[component] else { return nil }
                current = next
            }
        }
        return current
    }

    static func matches(_ element: JSONValue, _ component: String) -> Bool {
        guard let key = try? JSONValue.parse(String(component.dropFirst(2))), case .object(let k) = key else {
            return false
        }
        return k.allSatisfy { name, v in Patch.semanticallyEqual(element[name], v) }
    }

    /// `.spec.replicas`, `.spec.containers[name="app"].image` (structured-merge-diff's path syntax).
    static func printed(_ path: FieldPath) -> String {
        path.map { component -> String in
            guard component.hasPrefix("k:"), let key = try? JSONValue.parse(String(component.dropFirst(2))),
                case .object(let o) = key
            else {
                return "." + component
            }
            return "[" + o.keys.sorted().map { "\($0)=\(o[$0]?.description ?? "")" }.joined(separator: ",")
                + "]"
        }.joined()
    }

    /// `{"f:spec":{"f:replicas":{}}}`; list-map elements as `"k:{...}":{".":{},...}`.
    static func encode(_ fields: Set<FieldPath>) -> JSONValue {
        var root: JSONValue = .emptyObject
        for path in fields.sorted(by: { $0.count > $1.count }) {
            var keys = path.map { $0.hasPrefix("k:") ? $0 : "f:" + $0 }
            guard let last = keys.popLast() else { continue }
            var node = root[path: keys]
            if node.objectValue == nil { node = .emptyObject }
            if node[last].objectValue == nil {
                node[last] = last.hasPrefix("k:") ? [".": [:]] : .emptyObject
            } else {
                node[last]["."] = .emptyObject
            }
            root[path: keys] = node
        }
        return root
    }

    /// Decodes `fieldsV1`; `v:`/`i:` members (set or positional list elements) make their list
    /// owned atomically.
    static func decode(_ fields: JSONValue) -> Set<FieldPath> {
        var out = Set<FieldPath>()
        func walk(_ node: JSONValue, _ path: FieldPath) {
            guard case .object(let o) = node, !o.isEmpty else {
                if !path.isEmpty { out.insert(path) }
                return
            }
            for (key, child) in o {
                if key == "." {
                    if !path.isEmpty { out.insert(path) }
                } else if key.hasPrefix("f:") {
                    walk(child, path + [String(key.dropFirst(2))])
                } else if key.hasPrefix("k:") {
                    out.insert(path + [key])
                    walk(child, path + [key])
                } else if !path.isEmpty {
                    out.insert(path)
                }
            }
        }
        walk(fields, [])
        return out
    }

    /// Maps merge recursively, list-maps merge by key, scalars and other lists replace.
    static func merge(_ patch: JSONValue, into target: inout JSONValue, path: FieldPath, _ keys: Keys) {
        switch (patch, target) {
        case (.object(let p), .object(var t)):
            target = .null
            for (k, v) in p {
                var existing = t[k] ?? .null
                if existing.isNull, v.objectValue != nil { existing = .emptyObject }
                merge(v, into: &existing, path: path + [k], keys)
                t[k] = existing
            }
            target = .object(t)
        case (.array(let p), .array(var t)):
            guard let names = keys.keys(for: path) else {
                target = patch
                return
            }
            target = .null
            for element in p {
                guard let component = elementKey(element, names) else {
                    t.append(element)
                    continue
                }
                if let i = t.firstIndex(where: { matches($0, component) }) {
                    merge(element, into: &t[i], path: path + [component], keys)
                } else {
                    t.append(element)
                }
            }
            target = .array(t)
        default:
            target = patch
        }
    }

    static func remove(_ path: FieldPath, from object: inout JSONValue) {
        guard let first = path.first else { return }
        let rest = Array(path.dropFirst())
        if first.hasPrefix("k:") {
            guard case .array(var a) = object, let i = a.firstIndex(where: { matches($0, first) }) else {
                return
            }
            object = .null
            if rest.isEmpty {
                a.remove(at: i)
            } else {
                remove(rest, from: &a[i])
            }
            object = .array(a)
            return
        }
        if rest.isEmpty {
            object.removeValue(forKey: first)
            return
        }
        guard let child = object.objectValue?[first] else { return }
        var updated = child
        remove(rest, from: &updated)
        if case .object(let o) = updated, o.isEmpty, first != "metadata", first != "spec" {
            object.removeValue(forKey: first)
        } else {
            object[first] = updated
        }
    }
}
