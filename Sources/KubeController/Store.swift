import KubeClient
import KubeJSON

/// Computes the index values of an object, e.g. "snapshots by repository":
/// `{ ["\($0.metadata.namespace ?? "")/\($0.spec.repository)"] }` (namespace-qualify values that
/// are only unique within a namespace).
public typealias IndexFunction<Object> = @Sendable (Object) -> [String]

/// The in-memory cache of one kind, fed by its informer: typed objects by key, by namespace, and
/// by any index a reconciler declares. Reconcilers read from here, never from the API server,
/// and never see the JSON the objects came as.
///
/// An object is decoded once, when it enters the cache. While it is "hot" (among the
/// `hotCapacity` objects written or read most recently) the decoded value is kept; an object
/// leaving the hot set is kept as compact JSON text of its typed form instead (encoded once), and
/// decoded again when it is read: a decoded object costs a heap allocation per long string and
/// per collection, two to three times its text, and an operator reads one object per reconcile
/// but keeps every object of its kinds for as long as it runs. CacheMemoryTests prints the cost
/// per object.
///
/// In a burst each object is written by its watch events and read by its reconciles several
/// times within moments: with 1,024 hot objects a burst of 1,000 stays decoded from its first
/// event to its last, and is encoded once, when it cools.
public final class Store<Object: KubeResource>: Sendable {
    /// How many objects are kept decoded: enough for a burst of 1,000 objects to stay decoded
    /// from their first event to their last (with 256, adopting 1,000 Snapshots still decoded
    /// each object about twice).
    public static var hotCapacity: Int { 1024 }

    /// The built-in index of objects by `metadata.namespace` ("" for cluster-scoped objects).
    public static var namespaceIndex: String { "namespace" }

    /// A decoded object, boxed: an entry holds a pointer, not the object's inline size (a
    /// Snapshot struct is hundreds of bytes, paid by every cold entry too when held inline).
    private final class Decoded: Sendable {
        let object: Object
        init(_ object: Object) { self.object = object }
    }

    /// What the cache keeps per object: 32 bytes besides its text and index values.
    private struct Entry {
        /// The object as compact JSON of its typed form; empty while the object is hot and was
        /// not encoded yet.
        var json: [UInt8] = []
        /// The object decoded, while it is hot.
        private var decoded: Decoded?
        /// Which write or read made it hot (its place in `State.hotOrder`).
        var stamp: UInt64 = 0
        /// The object's values of every index, in `State.indexNames` order, packed in one
        /// string (see `IndexValues`): one allocation instead of a dictionary of arrays.
        var indexValues: IndexValues

        init(indexValues: IndexValues) { self.indexValues = indexValues }

        var parsed: Object? {
            get { decoded?.object }
            set { decoded = newValue.map(Decoded.init) }
        }

        /// The object (nil only if its own encoding does not decode, which `cool` rules out).
        var object: Object? {
            if let parsed { return parsed }
            return try? JSONValue.parse(json).decode(Object.self)
        }

        /// Leaves the hot set: encoded if it was not, the decoded value dropped. An object whose
        /// encoding does not decode back stays hot (no kind does; the cache never loses one).
        mutating func cool() -> Bool {
            guard let parsed else { return true }
            if json.isEmpty {
                guard let value = try? JSONValue(encoding: parsed),
                    (try? value.decode(Object.self)) == parsed
                else { return false }
                let text = value.serializedBytes()
                // An exact-size copy: the serializer's buffer grows by doubling.
                json = [UInt8](unsafeUninitializedCapacity: text.count) { buffer, count in
                    _ = buffer.initialize(from: text)
                    count = text.count
                }
            }
            self.parsed = nil
            return true
        }
    }

    private struct State {
        var objects: [ObjectKey: Entry] = [:]
        var indexers: [String: IndexFunction<Object>] = [:]
        /// The indexes in the order their values are packed in an entry.
        var indexNames: [String] = []
        var indexes: [String: [String: Set<ObjectKey>]] = [:]
        /// Hot objects, oldest first, by the stamp that made them hot (a slot whose object was
        /// written or removed since is stale and skipped); `hotHead` is the oldest slot.
        var hotOrder: [(key: ObjectKey, stamp: UInt64)] = []
        var hotHead = 0
        var hotCount = 0
        var nextStamp: UInt64 = 0

        /// Makes `objects[key]` (decoded as `object`) hot, cooling the oldest beyond capacity.
        mutating func makeHot(_ key: ObjectKey, _ object: Object) {
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
                if var old = objects[oldKey], old.stamp == stamp, old.parsed != nil, old.cool() {
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

    private let state: Locked<State>

    public init() {
        var initial = State()
        initial.indexers[Self.namespaceIndex] = { [$0.metadata.namespace ?? ""] }
        initial.indexNames = [Self.namespaceIndex]
        state = Locked(initial)
    }

    /// Declares an index; objects already cached are indexed at once.
    public func addIndex(_ name: String, _ function: @escaping IndexFunction<Object>) {
        state.withLock { state in
            if state.indexers[name] == nil { state.indexNames.append(name) }
            state.indexers[name] = function
            state.indexes[name] = [:]
            let position = state.indexNames.firstIndex(of: name) ?? 0
            for (key, var entry) in state.objects {
                guard let object = entry.object else { continue }
                let values = function(object)
                entry.indexValues = entry.indexValues.replacing(position, with: values, count: state.indexNames.count)
                state.objects[key] = entry
                for value in values { state.indexes[name, default: [:]][value, default: []].insert(key) }
            }
        }
    }

    /// The cached object for `key` (a cold one is decoded, outside the lock, and made hot).
    public func get(_ key: ObjectKey) -> Object? {
        guard let entry = state.withLock({ $0.objects[key] }) else { return nil }
        if let parsed = entry.parsed { return parsed }
        guard let object = entry.object else { return nil }
        state.withLock { state in
            // Unless it was written or removed meanwhile.
            if let current = state.objects[key], current.stamp == entry.stamp, current.parsed == nil {
                state.makeHot(key, object)
            }
        }
        return object
    }

    /// Every cached object, sorted by key.
    public func list() -> [Object] {
        state.withLock { state in state.objects.sorted { $0.key < $1.key }.map(\.value) }.compactMap(\.object)
    }

    /// Calls `body` with every cached object, decoding one at a time (a list of every decoded
    /// object at once would cost what the compact cache saves).
    public func forEach(_ body: (Object) throws -> Void) rethrows {
        let entries = state.withLock { Array($0.objects.values) }
        for entry in entries {
            if let object = entry.object { try body(object) }
        }
    }

    /// The cached objects of one namespace, sorted by key.
    public func list(namespace: String) -> [Object] {
        byIndex(Self.namespaceIndex, namespace)
    }

    /// The cached objects whose index `name` contains `value`, sorted by key.
    public func byIndex(_ name: String, _ value: String) -> [Object] {
        state.withLock { state in
            (state.indexes[name]?[value] ?? []).sorted().compactMap { state.objects[$0] }
        }.compactMap(\.object)
    }

    /// The keys whose index `name` contains `value`, sorted.
    public func keys(index name: String, value: String) -> [ObjectKey] {
        state.withLock { ($0.indexes[name]?[value] ?? []).sorted() }
    }

    /// Every cached key, sorted.
    public var keys: [ObjectKey] { state.withLock { $0.objects.keys.sorted() } }

    public var count: Int { state.withLock { $0.objects.count } }

    /// Bytes of JSON text held for the cached objects (keys and indexes apart; a hot object not
    /// encoded yet holds none).
    public var storedTextBytes: Int { state.withLock { $0.objects.values.reduce(0) { $0 + $1.json.count } } }

    /// Objects kept decoded right now (at most `hotCapacity`).
    public var hotCount: Int { state.withLock { $0.hotCount } }

    /// Slots in the hot set's order, stale ones included (bounded; for tests).
    var hotSlotCount: Int { state.withLock { $0.hotOrder.count - $0.hotHead } }

    /// Whether `key`'s object is kept decoded (for tests).
    func isHot(_ key: ObjectKey) -> Bool { state.withLock { $0.objects[key]?.parsed != nil } }

    // MARK: - mutations (the informer's)

    /// Inserts or replaces an object; returns the previous one.
    @discardableResult
    func upsert(_ object: Object) -> Object? {
        guard let key = ObjectKey(object.metadata) else { return nil }
        return state.withLock { state in Self.upsert(key, object, &state) }
    }

    /// Removes an object; returns what was cached.
    @discardableResult
    func delete(_ key: ObjectKey) -> Object? {
        state.withLock { state in Self.delete(key, &state) }
    }

    /// Replaces the whole content (after a list); returns what changed.
    func replace(with objects: [Object]) -> [InformerEvent<Object>] {
        var seen = Set<ObjectKey>()
        return merge(page: objects, seen: &seen) + removeAll(except: seen)
    }

    /// One page of a list: upserts its objects, adds their keys to `seen`, returns what changed.
    /// After the last page, `removeAll(except: seen)` completes the replacement, so a list is
    /// held in memory a page at a time.
    func merge(page objects: [Object], seen: inout Set<ObjectKey>) -> [InformerEvent<Object>] {
        state.withLock { state in
            var events: [InformerEvent<Object>] = []
            for object in objects {
                guard let key = ObjectKey(object.metadata) else { continue }
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
    func removeAll(except keep: Set<ObjectKey>) -> [InformerEvent<Object>] {
        state.withLock { state in
            var events: [InformerEvent<Object>] = []
            for key in state.objects.keys where !keep.contains(key) {
                if let old = Self.delete(key, &state) { events.append(.deleted(old)) }
            }
            return events
        }
    }

    private static func upsert(_ key: ObjectKey, _ object: Object, _ state: inout State) -> Object? {
        let old = delete(key, &state)
        var values: [[String]] = []
        values.reserveCapacity(state.indexNames.count)
        for name in state.indexNames {
            let indexValues = state.indexers[name].map { $0(object) } ?? []
            values.append(indexValues)
            for value in indexValues { state.indexes[name, default: [:]][value, default: []].insert(key) }
        }
        state.objects[key] = Entry(indexValues: IndexValues(values))
        state.makeHot(key, object)
        return old
    }

    private static func delete(_ key: ObjectKey, _ state: inout State) -> Object? {
        guard let entry = state.objects.removeValue(forKey: key) else { return nil }
        if entry.parsed != nil { state.hotCount -= 1 }
        for (position, values) in entry.indexValues.unpacked().enumerated() where position < state.indexNames.count {
            let name = state.indexNames[position]
            for value in values {
                state.indexes[name]?[value]?.remove(key)
                if state.indexes[name]?[value]?.isEmpty == true { state.indexes[name]?[value] = nil }
            }
        }
        return entry.object
    }
}

/// An object's values of every index, packed in one string: the indexes' value lists in order,
/// separated by U+0001, the values of one index by U+0000 (index values are names, never
/// control characters). Most objects' values fit a small string and take no allocation at all.
struct IndexValues: Sendable, Equatable {
    private var packed: String

    init(_ lists: [[String]]) {
        packed = lists.map { $0.joined(separator: "\u{0}") }.joined(separator: "\u{1}")
        // An index with one empty value and an index with none pack alike: the empty value is
        // marked so that it survives.
        if lists.contains(where: { $0 == [""] }) {
            packed = lists.map { $0.map { $0.isEmpty ? "\u{2}" : $0 }.joined(separator: "\u{0}") }.joined(separator: "\u{1}")
        }
    }

    func unpacked() -> [[String]] {
        packed.split(separator: "\u{1}", omittingEmptySubsequences: false).map { list in
            list.isEmpty ? [] : list.split(separator: "\u{0}", omittingEmptySubsequences: false).map { $0 == "\u{2}" ? "" : String($0) }
        }
    }

    /// The same with the values of index `position` replaced (of `count` indexes in all).
    func replacing(_ position: Int, with values: [String], count: Int) -> IndexValues {
        var lists = unpacked()
        while lists.count < count { lists.append([]) }
        lists[position] = values
        return IndexValues(lists)
    }
}
