import KubeJSON
import NIOConcurrencyHelpers

/// Computes the index values of an object, e.g. "snapshots by repository":
/// `{ [$0["spec"]["repository"].stringValue].compactMap { $0 } }` (namespace-qualify values that
/// are only unique within a namespace: the controller helpers index as `namespace/value`).
public typealias IndexFunction = @Sendable (JSONValue) -> [String]

/// The in-memory cache of one kind, fed by its informer: objects by key, by namespace, and by
/// any index a reconciler declares. Reconcilers read from here, never from the API server.
///
/// Objects are kept as compact JSON text (after the informer's transform, which drops
/// `metadata.managedFields` by default) and parsed on read: a parsed `JSONValue` tree costs
/// several times its text (a hash table per JSON object, a heap string per long value), and an
/// operator reads one object per reconcile but keeps every object of its kinds for as long as it
/// runs. `get(_:as:)` decodes a typed view on read. CacheMemoryTests prints the cost per object.
public final class Store: Sendable {
    /// The built-in index of objects by `metadata.namespace` ("" for cluster-scoped objects).
    public static let namespaceIndex = "namespace"

    private struct Entry {
        /// The object as compact JSON (keys sorted, so equal objects have equal text).
        var json: [UInt8]
        var indexValues: [String: [String]]

        init(_ object: JSONValue, indexValues: [String: [String]]) {
            let text = object.serializedBytes()
            // An exact-size copy: the serializer's buffer grows by doubling.
            json = [UInt8](unsafeUninitializedCapacity: text.count) { buffer, count in
                _ = buffer.initialize(from: text)
                count = text.count
            }
            self.indexValues = indexValues
        }

        var object: JSONValue {
            // The text was written by JSONValue's own serializer: it parses.
            (try? JSONValue.parse(json)) ?? .null
        }
    }

    private struct State {
        var objects: [ObjectKey: Entry] = [:]
        var indexers: [String: IndexFunction] = [:]
        var indexes: [String: [String: Set<ObjectKey>]] = [:]
    }

    private let state: NIOLockedValueBox<State>

    public init() {
        var initial = State()
        initial.indexers[Self.namespaceIndex] = { [$0.namespace ?? ""] }
        state = NIOLockedValueBox(initial)
    }

    /// Declares an index; objects already cached are indexed at once.
    public func addIndex(_ name: String, _ function: @escaping IndexFunction) {
        state.withLockedValue { state in
            state.indexers[name] = function
            state.indexes[name] = [:]
            for (key, var entry) in state.objects {
                let values = function(entry.object)
                entry.indexValues[name] = values
                state.objects[key] = entry
                for value in values { state.indexes[name, default: [:]][value, default: []].insert(key) }
            }
        }
    }

    /// The cached object for `key`.
    public func get(_ key: ObjectKey) -> JSONValue? {
        state.withLockedValue { $0.objects[key] }?.object
    }

    /// The cached object for `key`, decoded.
    public func get<T: Decodable>(_ key: ObjectKey, as type: T.Type) throws(ControllerError) -> T? {
        guard let object = get(key) else { return nil }
        do {
            return try object.decode(T.self)
        } catch {
            throw .decoding(key: key, underlying: "\(error)")
        }
    }

    /// Every cached object, sorted by key.
    public func list() -> [JSONValue] {
        state.withLockedValue { state in state.objects.sorted { $0.key < $1.key }.map(\.value) }.map(\.object)
    }

    /// Calls `body` with every cached object, parsing one at a time (a list of every parsed
    /// object at once would cost what the compact cache saves).
    public func forEach(_ body: (JSONValue) throws -> Void) rethrows {
        let entries = state.withLockedValue { Array($0.objects.values) }
        for entry in entries { try body(entry.object) }
    }

    /// The cached objects of one namespace, sorted by key.
    public func list(namespace: String) -> [JSONValue] {
        byIndex(Self.namespaceIndex, namespace)
    }

    /// The cached objects whose index `name` contains `value`, sorted by key.
    public func byIndex(_ name: String, _ value: String) -> [JSONValue] {
        state.withLockedValue { state in
            (state.indexes[name]?[value] ?? []).sorted().compactMap { state.objects[$0] }
        }.map(\.object)
    }

    /// The keys whose index `name` contains `value`, sorted.
    public func keys(index name: String, value: String) -> [ObjectKey] {
        state.withLockedValue { ($0.indexes[name]?[value] ?? []).sorted() }
    }

    /// Every cached key, sorted.
    public var keys: [ObjectKey] { state.withLockedValue { $0.objects.keys.sorted() } }

    public var count: Int { state.withLockedValue { $0.objects.count } }

    /// Bytes of JSON text held for the cached objects (keys and indexes apart).
    public var storedTextBytes: Int { state.withLockedValue { $0.objects.values.reduce(0) { $0 + $1.json.count } } }

    // MARK: - mutations (the informer's)

    /// Inserts or replaces an object; returns the previous one.
    @discardableResult
    func upsert(_ object: JSONValue) -> JSONValue? {
        guard let key = ObjectKey(object) else { return nil }
        return state.withLockedValue { state in Self.upsert(key, object, &state) }
    }

    /// Removes an object; returns what was cached.
    @discardableResult
    func delete(_ key: ObjectKey) -> JSONValue? {
        state.withLockedValue { state in Self.delete(key, &state) }
    }

    /// Replaces the whole content (after a list); returns what changed.
    func replace(with objects: [JSONValue]) -> [InformerEvent] {
        var seen = Set<ObjectKey>()
        return merge(page: objects, seen: &seen) + removeAll(except: seen)
    }

    /// One page of a list: upserts its objects, adds their keys to `seen`, returns what changed.
    /// After the last page, `removeAll(except: seen)` completes the replacement, so a list is
    /// held in memory a page at a time.
    func merge(page objects: [JSONValue], seen: inout Set<ObjectKey>) -> [InformerEvent] {
        state.withLockedValue { state in
            var events: [InformerEvent] = []
            for object in objects {
                guard let key = ObjectKey(object) else { continue }
                seen.insert(key)
                if let old = Self.upsert(key, object, &state) {
                    if old != object { events.append(.updated(old: old, new: object)) }
                } else {
                    events.append(.added(object))
                }
            }
            return events
        }
    }

    /// Removes every object whose key is not in `keep`; returns the deletions.
    func removeAll(except keep: Set<ObjectKey>) -> [InformerEvent] {
        state.withLockedValue { state in
            var events: [InformerEvent] = []
            for key in state.objects.keys where !keep.contains(key) {
                if let old = Self.delete(key, &state) { events.append(.deleted(old)) }
            }
            return events
        }
    }

    private static func upsert(_ key: ObjectKey, _ object: JSONValue, _ state: inout State) -> JSONValue? {
        let old = delete(key, &state)
        var values: [String: [String]] = [:]
        for (name, function) in state.indexers {
            let indexValues = function(object)
            values[name] = indexValues
            for value in indexValues { state.indexes[name, default: [:]][value, default: []].insert(key) }
        }
        state.objects[key] = Entry(object, indexValues: values)
        return old
    }

    private static func delete(_ key: ObjectKey, _ state: inout State) -> JSONValue? {
        guard let entry = state.objects.removeValue(forKey: key) else { return nil }
        for (name, values) in entry.indexValues {
            for value in values {
                state.indexes[name]?[value]?.remove(key)
                if state.indexes[name]?[value]?.isEmpty == true { state.indexes[name]?[value] = nil }
            }
        }
        return entry.object
    }
}
