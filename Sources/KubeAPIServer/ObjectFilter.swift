import KubeJSON

/// Which objects a list, watch or deletecollection selects: namespace, labels, fields.
struct ObjectFilter: Sendable {
    var namespace: String?
    var labels: (@Sendable ([String: String]) -> Bool)?
    var fields: (@Sendable (JSONValue) -> Bool)?

    static let everything = ObjectFilter()

    func matches(_ object: JSONValue) -> Bool {
        if let namespace, (object.namespace ?? "") != namespace { return false }
        if let labels {
            var map: [String: String] = [:]
            for (k, v) in object["metadata"]["labels"].objectValue ?? [:] { map[k] = v.stringValue ?? "" }
            if !labels(map) { return false }
        }
        if let fields, !fields(object) { return false }
        return true
    }
}

/// A stable identity for a stored object.
struct ObjectRef: Hashable, Sendable {
    var resourceKey: String
    var namespace: String
    var name: String
}

/// A fixed-capacity FIFO of past events (oldest dropped first).
struct EventRing {
    private var storage: [StoredEvent?]
    private var start = 0
    private(set) var count = 0

    init(capacity: Int) { storage = Array(repeating: nil, count: max(1, capacity)) }

    mutating func append(_ event: StoredEvent) {
        if count < storage.count {
            storage[(start + count) % storage.count] = event
            count += 1
        } else {
            storage[start] = event
            start = (start + 1) % storage.count
        }
    }

    var first: StoredEvent? { count == 0 ? nil : storage[start] }

    /// Events with a revision above `revision`, oldest first.
    func after(_ revision: Int64) -> [StoredEvent] {
        var out: [StoredEvent] = []
        // Binary search for the first event above `revision`.
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if let e = storage[(start + mid) % storage.count], e.revision <= revision { low = mid + 1 } else { high = mid }
        }
        var i = low
        while i < count {
            if let e = storage[(start + i) % storage.count] { out.append(e) }
            i += 1
        }
        return out
    }

    var all: [StoredEvent] { after(Int64.min) }
}
