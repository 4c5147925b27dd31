import KubeClient
import KubeJSON

/// Writes `status` through the status subresource, and only when it changed: a reconcile that
/// finds nothing new (a resync, a repeated event) makes no write.
///
/// The write is a JSON merge patch holding just the difference plus `metadata.resourceVersion`
/// as a precondition; on 409 Conflict the object is read again and the status recomputed on that
/// fresh state (up to `maxConflictRetries` times), so another writer's status change is never
/// overwritten with a stale view.
///
/// Right after a write the informer cache may still hold the previous version for a moment; the
/// writer remembers its recent writes, so a reconcile that reads that stale version compares
/// against what it wrote instead of making a write that would only meet a conflict.
public struct StatusWriter<Object: HasStatus>: Sendable {
    public typealias Status = Object.Status
    public let resource: APIResource
    public let maxConflictRetries: Int
    private let client: KubeClient
    private let fieldManager: String
    private let derive: @Sendable (Object, inout Status) -> Void
    private let recentWrites = RecentWrites<Object>()

    /// `derive` sets the status fields that follow from the object itself (a policy in force,
    /// its defaults applied), on every write, so they never lag behind.
    public init(
        client: KubeClient, fieldManager: String, maxConflictRetries: Int = 5,
        derive: @escaping @Sendable (Object, inout Status) -> Void = { _, _ in }
    ) {
        self.client = client
        self.resource = Object.apiResource
        self.fieldManager = fieldManager
        self.maxConflictRetries = maxConflictRetries
        self.derive = derive
    }

    /// Sets the status of `object` (as read from the cache) to `status`. Returns the updated
    /// object, or nil when nothing needed writing (or the object is gone).
    @discardableResult
    public func write(_ status: Status, for object: Object) async throws -> Object? {
        try await update(object) { $0 = status }
    }

    /// Applies `mutate` to the status of `object` (as read from the cache; an absent status is
    /// `Status()`) and writes the difference if there is one. On a conflict, `mutate` runs again
    /// on the freshly read object's status.
    @discardableResult
    public func update(_ object: Object, _ mutate: (inout Status) throws -> Void) async throws -> Object? {
        guard let key = ObjectKey(object) else {
            throw ControllerError.invalidObject("object without metadata.name")
        }
        var current = recentWrites.latest(for: key, object)
        for _ in 0...maxConflictRetries {
            let before = current.status ?? Status()
            var desired = before
            try mutate(&desired)
            derive(current, &desired)
            if desired == before { return nil }
            let old: JSONValue
            let new: JSONValue
            do {
                old = try current.status.map { try JSONValue(encoding: $0) } ?? [:]
                new = try JSONValue(encoding: desired)
            } catch {
                throw ControllerError.invalidObject("cannot encode the status of \(resource) \(key): \(error)")
            }
            if old == new { return nil }
            var patch: JSONValue = ["status": Self.mergePatch(from: old, to: new)]
            if let rv = current.metadata.resourceVersion { patch["metadata"] = ["resourceVersion": .string(rv)] }
            do {
                let written = try await client.patch(
                    Object.self, namespace: key.namespaceOrNil, name: key.name, patchType: .merge, patch,
                    subresource: "status", options: PatchOptions(fieldManager: fieldManager))
                recentWrites.record(key, before: current, after: written)
                return written
            } catch {
                if error.isNotFound { return nil }
                guard error.isConflict else {
                    throw ControllerError.api(
                        operation: "write status of \(resource) \(key)", underlying: error)
                }
            }
            do {
                current = try await client.get(Object.self, namespace: key.namespaceOrNil, name: key.name)
            } catch {
                if error.isNotFound { return nil }
                throw ControllerError.api(
                    operation: "read \(resource) \(key) after a conflict", underlying: error)
            }
        }
        throw ControllerError.conflict("status of \(resource) \(key) kept changing")
    }

    /// The RFC 7386 merge patch that turns `old` into `new` (null removes a member).
    public static func mergePatch(from old: JSONValue, to new: JSONValue) -> JSONValue {
        guard case .object(let o) = old, case .object(let n) = new else { return new }
        var patch: [String: JSONValue] = [:]
        for (key, value) in n {
            if let previous = o[key] {
                if previous != value { patch[key] = mergePatch(from: previous, to: value) }
            } else {
                patch[key] = value
            }
        }
        for key in o.keys where n[key] == nil { patch[key] = .null }
        return .object(patch)
    }
}

/// The last status write per object: which version it replaced and what it produced.
private final class RecentWrites<Object: KubeResource>: Sendable {
    private struct Write {
        var uid: String?
        var before: String
        var after: Object
    }

    private static var capacity: Int { 4096 }
    private let writes = Locked<[ObjectKey: Write]>([:])

    /// `object`, or the result of this writer's own write when `object` is the version that
    /// write replaced (the cache has not caught up yet).
    func latest(for key: ObjectKey, _ object: Object) -> Object {
        guard let rv = object.metadata.resourceVersion else { return object }
        return writes.withLock { writes in
            guard let write = writes[key], write.before == rv, write.uid == object.metadata.uid else { return object }
            return write.after
        }
    }

    func record(_ key: ObjectKey, before: Object, after: Object) {
        guard let rv = before.metadata.resourceVersion else { return }
        writes.withLock { writes in
            if writes.count >= Self.capacity { writes.removeAll(keepingCapacity: true) }
            writes[key] = Write(uid: before.metadata.uid, before: rv, after: after)
        }
    }
}
