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
///
/// The `hotCapacity` objects written or read most recently are also kept parsed ("hot"), and a
/// hot object written again is not serialized in between: in a burst each object is written by
/// its watch events and read by its reconciles several times within moments (adopting 1,000
/// Snapshots parsed and serialized each about five times, a tenth of the operator's CPU). An
/// object leaving the hot set is serialized once.
public final class Store: Sendable {
    /// How many objects are kept parsed: a Snapshot's tree is about 3 KiB, so at most about
    /// 3 MiB, enough for a burst of 1,000 objects to stay parsed from their first event to their
    /// last (with 256, adopting 1,000 Snapshots still parsed each object about twice).
    public static let hotCapacity = 1024

    /// The built-in index of objects by `metadata.namespace` ("" for cluster-scoped objects).
    public static let namespaceIndex = "namespace"

    private struct Entry {
        /// The object as compact JSON (keys sorted, so equal objects have equal text); empty
        /// while the object is hot and was not serialized yet.
        var json: [UInt8] = []
        /// The object parsed, while it is hot.
        var parsed: JSONValue?
        /// Which write or read made it hot (its place in `State.hotOrder`).
        var stamp: UInt64 = 0
        var indexValues: [String: [String]]

        var object: JSONValue {
            if let parsed { return parsed }
            // The text was written by JSONValue's own serializer: it parses.
            return (try? JSONValue.parse(json)) ?? .null
        }

        /// Leaves the hot set: serialized if it was not, the tree dropped.
        mutating func cool() {
            guard let parsed else { return }
            if json.isEmpty {
                let text = parsed.serializedBytes()
                // An exact-size copy: the serializer's buffer grows by doubling.
                json = [UInt8](unsafeUninitializedCapacity: text.count) { buffer, count in
                    _ = buffer.initialize(from: text)
                    count = text.count
                }
            }
            self.parsed = nil
        }
    }

    private struct State {
        var objects: [ObjectKey: Entry] = [:]
        var indexers: [String: IndexFunction] = [:]
        var indexes: [String: [String: Set<ObjectKey>]] = [:]
        /// Hot objects, oldest first, by the stamp that made them hot (a slot whose object was
        /// written or removed since is stale and skipped); `hotHead` is the oldest slot.
        var hotOrder: [(key: ObjectKey, stamp: UInt64)] = []
        var hotHead = 0
        var hotCount = 0
        var nextStamp: UInt64 = 0

        /// Makes `objects[key]` (parsed as `object`) hot, cooling the oldest beyond capacity.
        mutating func makeHot(_ key: ObjectKey, _ object: JSONValue) {
            guard var entry = objects[key] else { return }
            if entry.parsed == nil { hotCount += 1 }
            nextStamp += 1
            entry.parsed = object
            entry.stamp = nextStamp
            objects[key] = entry
            hotOrder.append((key, nextStamp))
            while hotCount > Store.hotCapacity, hotHead < hotOrder.count {
                let (oldKey, stamp) = hotOrder[hotHead]
                hotHead += 1
                if var old = objects[oldKey], old.stamp == stamp, old.parsed != nil {
                    old.cool()
                    objects[oldKey] = old
                    hotCount -= 1
                }
            }
            // Drop used and stale slots now and then (an object written again and again leaves
            // one stale slot per write).
            if hotOrder.count - hotHead > 4 * Store.hotCapacity || (hotHead > 64 && hotHead * 2 > hotOrder.count) {
                let objects = self.objects
                hotOrder = hotOrder[hotHead...].filter { objects[$0.key]?.stamp == $0.stamp && objects[$0.key]?.parsed != nil }
                hotHead = 0
            }
        }
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

    /// The cached object for `key` (a cold one is parsed, outside the lock, and made hot).
    public func get(_ key: ObjectKey) -> JSONValue? {
        guard let entry = state.withLockedValue({ $0.objects[key] }) else { return nil }
        if let parsed = entry.parsed { return parsed }
        let object = entry.object
        state.withLockedValue { state in
            // Unless it was written or removed meanwhile.
            if let current = state.objects[key], current.stamp == entry.stamp, current.parsed == nil {
                state.makeHot(key, object)
            }
        }
        return object
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

    /// Bytes of JSON text held for the cached objects (keys and indexes apart; a hot object not
    /// serialized yet holds none).
    public var storedTextBytes: Int { state.withLockedValue { $0.objects.values.reduce(0) { $0 + $1.json.count } } }

    /// Objects kept parsed right now (at most `hotCapacity`).
    public var hotCount: Int { state.withLockedValue { $0.hotCount } }

    /// Slots in the hot set's order, stale ones included (bounded; for tests).
    var hotSlotCount: Int { state.withLockedValue { $0.hotOrder.count - $0.hotHead } }

    /// Whether `key`'s object is kept parsed (for tests).
    func isHot(_ key: ObjectKey) -> Bool { state.withLockedValue { $0.objects[key]?.parsed != nil } }

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
        state.objects[key] = Entry(indexValues: values)
        state.makeHot(key, object)
        return old
    }

    private static func delete(_ key: ObjectKey, _ state: inout State) -> JSONValue? {
        guard let entry = state.objects.removeValue(forKey: key) else { return nil }
        if entry.parsed != nil { state.hotCount -= 1 }
        for (name, values) in entry.indexValues {
            for value in values {
                state.indexes[name]?[value]?.remove(key)
                if state.indexes[name]?[value]?.isEmpty == true { state.indexes[name]?[value] = nil }
            }
        }
        return entry.object
    }
}
