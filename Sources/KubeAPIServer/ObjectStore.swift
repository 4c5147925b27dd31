import Foundation
import KubeJSON

/// The server's objects: one table per resource (namespace -> name -> object), one global
/// increasing revision, a bounded event history for watch resumption, the live watchers, and
/// the registry of served resources (built-ins plus established CRDs). Every write is logged
/// through `DurableLog`; callers wait for the returned ticket before answering.
actor ObjectStore {
    var registry: [String: ResourceInfo] = [:]
    var tables: [String: [String: [String: JSONValue]]] = [:]
    var sortedIDCache: [String: [String]] = [:]
    var revision: Int64
    var history: EventRing
    var watchers: [Int: Watcher] = [:]
    var nextWatcherID = 0
    /// owner uid -> dependents (objects whose ownerReferences name that uid).
    var dependents: [String: Set<ObjectRef>] = [:]
    let log: DurableLog
    var lastTicket: UInt64 = 0
    let backlogLimit: Int
    /// Compiled CRD schemas per "resourceKey/version".
    var schemaCache: [String: CustomResourceSchema] = [:]
    /// Work the built-in controllers (GC, namespace and CRD cleanup) still have to do.
    var reactions: [Reaction] = []
    /// Owners in foreground deletion, by uid, waiting for their dependents to go.
    var foregroundOwners: [String: ObjectRef] = [:]

    final class Watcher {
        let resourceKey: String
        let filter: ObjectFilter
        let bookmarks: Bool
        let mailbox: WatchMailbox
        init(resourceKey: String, filter: ObjectFilter, bookmarks: Bool, mailbox: WatchMailbox) {
            self.resourceKey = resourceKey
            self.filter = filter
            self.bookmarks = bookmarks
            self.mailbox = mailbox
        }
    }

    enum Reaction {
        case removed(ObjectRef, JSONValue)
        case markedDeleting(ObjectRef)
        case checkNamespace(String)
        case checkForeground(String)
        case checkCRD(String)
    }

    init(loaded: LoadedState, log: DurableLog, historyLimit: Int, backlogLimit: Int) {
        self.log = log
        self.backlogLimit = backlogLimit
        revision = loaded.revision
        history = EventRing(capacity: historyLimit)
        for event in loaded.history { history.append(event) }
        for info in BuiltinResources.all { registry[info.servingKey] = info }
        for (key, objects) in loaded.objects {
            var table: [String: [String: JSONValue]] = [:]
            for object in objects {
                table[object.namespace ?? "", default: [:]][object.name ?? ""] = object
                let ref = ObjectRef(resourceKey: key, namespace: object.namespace ?? "", name: object.name ?? "")
                for owner in object["metadata"]["ownerReferences"].arrayValue ?? [] {
                    if let uid = owner["uid"].stringValue { dependents[uid, default: []].insert(ref) }
                }
            }
            tables[key] = table
        }
        for crd in (tables[BuiltinResources.crdKey] ?? [:]).values.flatMap(\.values) {
            if let info = ResourceInfo.fromCRD(crd), registry[info.key] == nil { registry[info.key] = info }
        }
    }

    // MARK: Registry

    func resource(group: String, version: String, resource: String) -> ResourceInfo? {
        guard let info = registry["\(group)/\(resource)"], info.versions.contains(version) else { return nil }
        return info
    }

    func resource(group: String, kind: String) -> ResourceInfo? {
        registry.values.first { $0.group == group && $0.kind == kind }
    }

    func allResources() -> [ResourceInfo] {
        registry.values.sorted { ($0.group, $0.resource) < ($1.group, $1.resource) }
    }

    func customResourceDefinitions() -> [JSONValue] {
        (tables[BuiltinResources.crdKey] ?? [:]).values.flatMap(\.values)
    }

    var currentRevision: Int64 { revision }

    // MARK: Reads

    func object(_ key: String, namespace: String, name: String) -> JSONValue? {
        tables[key]?[namespace]?[name]
    }

    func get(_ info: ResourceInfo, namespace: String?, name: String) throws(APIError) -> JSONValue {
        guard let object = tables[info.key]?[namespace ?? ""]?[name] else {
            throw APIError.notFound(info.resource, group: info.group, name: name)
        }
        return object
    }

    struct ListResult: Sendable {
        var items: [JSONValue]
        var revision: Int64
        var continueToken: String?
        var remaining: Int64?
    }

    /// Object ids ("namespace/name") of a resource in key order, cached until the key set changes.
    private func sortedIDs(_ key: String) -> [String] {
        if let cached = sortedIDCache[key] { return cached }
        var ids: [String] = []
        for (ns, objects) in tables[key] ?? [:] {
            for name in objects.keys { ids.append(ns + "/" + name) }
        }
        ids.sort()
        sortedIDCache[key] = ids
        return ids
    }

    func list(
        _ info: ResourceInfo, filter: ObjectFilter, limit: Int?, continueToken: String?,
        resourceVersion: String?, resourceVersionMatch: String?
    ) throws(APIError) -> ListResult {
        if let rvText = resourceVersion, !rvText.isEmpty {
            guard let rv = Int64(rvText) else {
                throw APIError(code: 400, reason: "BadRequest", message: "invalid resource version \"\(rvText)\"")
            }
            switch resourceVersionMatch ?? "" {
            case "Exact":
                if rv > revision { throw tooLarge(rv) }
                if rv < revision {
                    throw APIError.gone("The resourceVersion for the provided list is too old.")
                }
            case "NotOlderThan", "":
                if rv > revision && rv != 0 { throw tooLarge(rv) }
            default:
                throw APIError.badRequest("resourceVersionMatch: Unsupported value: \"\(resourceVersionMatch ?? "")\"")
            }
        } else if let match = resourceVersionMatch, !match.isEmpty {
            throw APIError.invalid(
                kind: "ListOptions", group: "meta.k8s.io", name: "",
                [.init(reason: "FieldValueForbidden", field: "resourceVersionMatch", message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")])
        }
        var startAfter: String?
        var listRevision = revision
        if let token = continueToken, !token.isEmpty {
            guard let data = Data(base64Encoded: token), let decoded = try? JSONValue.parse(Array(data)),
                let start = decoded["start"].stringValue, let rv = decoded["rv"].intValue
            else {
                throw APIError.badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
            }
            startAfter = start
            listRevision = rv
        }
        let ids = sortedIDs(info.key)
        var index = 0
        if let startAfter {
            var low = 0, high = ids.count
            while low < high {
                let mid = (low + high) / 2
                if ids[mid] <= startAfter { low = mid + 1 } else { high = mid }
            }
            index = low
        }
        let table = tables[info.key] ?? [:]
        var items: [JSONValue] = []
        var lastID: String?
        let max = (limit ?? 0) > 0 ? limit! : Int.max
        if let ns = filter.namespace, startAfter == nil, limit == nil {
            // Fast path: one namespace, no paging.
            let objects = table[ns] ?? [:]
            for name in objects.keys.sorted() {
                if let o = objects[name], filter.matches(o) { items.append(o) }
            }
            return ListResult(items: items, revision: listRevision, continueToken: nil, remaining: nil)
        }
        while index < ids.count {
            let id = ids[index]
            index += 1
            guard let slash = id.firstIndex(of: "/") else { continue }
            let ns = String(id[..<slash])
            if let wanted = filter.namespace, wanted != ns { continue }
            guard let object = table[ns]?[String(id[id.index(after: slash)...])], filter.matches(object) else { continue }
            items.append(object)
            lastID = id
            if items.count >= max { break }
        }
        var token: String?
        var remaining: Int64?
        if items.count >= max, index < ids.count, let lastID {
            let t: JSONValue = ["rv": .int(listRevision), "start": .string(lastID)]
            token = Data(t.serializedBytes()).base64EncodedString()
            if filter.labels == nil && filter.fields == nil && filter.namespace == nil {
                remaining = Int64(ids.count - index)
            }
        }
        return ListResult(items: items, revision: listRevision, continueToken: token, remaining: remaining)
    }

    private func tooLarge(_ rv: Int64) -> APIError {
        APIError(
            code: 504, reason: "Timeout",
            message: "Too large resource version: \(rv), current: \(revision)",
            details: ["causes": [["reason": "ResourceVersionTooLarge", "message": .string("Too large resource version")]], "retryAfterSeconds": 1])
    }

    // MARK: Watch

    /// Starts a watch. `from` nil = send the current objects as ADDED first ("" / "0").
    /// Throws 410 Expired when `from` is older than the kept history.
    func watch(
        _ info: ResourceInfo, filter: ObjectFilter, from: Int64?, bookmarks: Bool
    ) throws(APIError) -> (id: Int, events: WatchMailbox, finish: @Sendable () -> Void) {
        var initial: [StoredEvent] = []
        if let from {
            let oldest = history.first.map { $0.revision - 1 } ?? revision
            if from < oldest {
                throw APIError.gone("too old resource version: \(from) (\(oldest))")
            }
            for event in history.after(from) where event.resourceKey == info.key {
                if let e = filtered(event, filter) { initial.append(e) }
            }
        } else {
            for (ns, objects) in tables[info.key] ?? [:] {
                if let wanted = filter.namespace, wanted != ns { continue }
                for object in objects.values where filter.matches(object) {
                    initial.append(StoredEvent(type: "ADDED", resourceKey: info.key, object: object, old: nil, revision: revision))
                }
            }
        }
        let mailbox = WatchMailbox(limit: backlogLimit + initial.count, initial: initial)
        nextWatcherID += 1
        watchers[nextWatcherID] = Watcher(resourceKey: info.key, filter: filter, bookmarks: bookmarks, mailbox: mailbox)
        return (nextWatcherID, mailbox, { mailbox.finish() })
    }

    func stopWatch(_ id: Int) {
        watchers.removeValue(forKey: id)?.mailbox.finish()
    }

    /// Ends every watch (fault injection; clients re-watch): cleanly, or `abruptly` as a
    /// broken connection does (mid-stream, no final chunk).
    func closeAllWatches(abruptly: Bool = false) {
        for (_, w) in watchers {
            if abruptly { w.mailbox.cut() } else { w.mailbox.finish() }
        }
        watchers.removeAll()
    }

    /// Sends a BOOKMARK with the current revision to watchers that asked for bookmarks.
    func sendBookmarks() {
        for (id, w) in watchers where w.bookmarks {
            let event = StoredEvent(
                type: "BOOKMARK", resourceKey: w.resourceKey,
                object: ["metadata": ["resourceVersion": .string(String(revision))]], old: nil, revision: revision)
            deliver(event, to: id, w)
        }
    }

    var watcherCount: Int { watchers.count }

    /// The event as a watcher with `filter` sees it (selectors turn changes into ADDED/DELETED), or nil.
    private func filtered(_ event: StoredEvent, _ filter: ObjectFilter) -> StoredEvent? {
        let now = filter.matches(event.object)
        guard event.type == "MODIFIED", let old = event.old else { return now ? event : nil }
        let before = filter.matches(old)
        switch (before, now) {
        case (true, true): return event
        case (false, true):
            var e = event
            e.type = "ADDED"
            return e
        case (true, false):
            var e = event
            e.type = "DELETED"
            return e
        case (false, false): return nil
        }
    }

    private func deliver(_ event: StoredEvent, to id: Int, _ watcher: Watcher) {
        if !watcher.mailbox.add(event) {
            // Too slow (or gone): close it so its backlog cannot grow; the client re-watches.
            watcher.mailbox.finish()
            watchers.removeValue(forKey: id)
        }
    }

    // MARK: Commit

    /// Records one change: new revision, table, owner index, history, log, watchers, registry.
    /// Returns the object as stored (with its new resourceVersion) and as JSON.
    @discardableResult
    func commit(_ type: String, _ info: ResourceInfo, _ object: JSONValue, old: JSONValue?) -> CommittedObject {
        revision += 1
        var stored = object
        stored["metadata"]["resourceVersion"] = .string(String(revision))
        let ns = stored.namespace ?? ""
        let name = stored.name ?? ""
        let ref = ObjectRef(resourceKey: info.key, namespace: ns, name: name)
        if let old { indexOwners(of: old, ref: ref, adding: false) }
        if type == "DELETED" {
            tables[info.key]?[ns]?.removeValue(forKey: name)
            if tables[info.key]?[ns]?.isEmpty == true { tables[info.key]?.removeValue(forKey: ns) }
            sortedIDCache.removeValue(forKey: info.key)
        } else {
            if old == nil { sortedIDCache.removeValue(forKey: info.key) }
            tables[info.key, default: [:]][ns, default: [:]][name] = stored
            indexOwners(of: stored, ref: ref, adding: true)
        }
        // Serialized once: the log, every watcher and the write's answer share these bytes.
        let encoded = stored.serializedBytes()
        var event = StoredEvent(type: type, resourceKey: info.key, object: stored, old: old, revision: revision)
        history.append(event)
        lastTicket = log.append(event.logRecord(encodedObject: encoded))
        event.encodedObject = encoded
        for (id, w) in watchers where w.resourceKey == info.key {
            if let e = filtered(event, w.filter) { deliver(e, to: id, w) }
        }
        if info.key == BuiltinResources.crdKey {
            crdChanged(stored, removed: type == "DELETED")
        }
        return CommittedObject(object: stored, encoded: encoded)
    }

    func indexOwners(of object: JSONValue, ref: ObjectRef, adding: Bool) {
        for owner in object["metadata"]["ownerReferences"].arrayValue ?? [] {
            guard let uid = owner["uid"].stringValue else { continue }
            if adding {
                dependents[uid, default: []].insert(ref)
            } else {
                dependents[uid]?.remove(ref)
                if dependents[uid]?.isEmpty == true { dependents.removeValue(forKey: uid) }
            }
        }
    }

    private func crdChanged(_ crd: JSONValue, removed: Bool) {
        guard let info = ResourceInfo.fromCRD(crd) else { return }
        for key in schemaCache.keys where key.hasPrefix(info.key + "/") { schemaCache.removeValue(forKey: key) }
        if removed {
            registry.removeValue(forKey: info.key)
            tables.removeValue(forKey: info.key)
            sortedIDCache.removeValue(forKey: info.key)
            for (id, w) in watchers where w.resourceKey == info.key {
                w.mailbox.finish()
                watchers.removeValue(forKey: id)
            }
        } else if registry[info.key]?.crdName != nil || registry[info.key] == nil {
            registry[info.key] = info
        }
    }
}
