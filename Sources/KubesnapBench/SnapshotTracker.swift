import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport

/// Follows every Snapshot through one list + watch (relisting after an error) and records when
/// each was first seen in each phase, verified, and deleted, so a benchmark waits on local state
/// instead of listing thousands of objects again and again.
final class SnapshotTracker: @unchecked Sendable {
    struct State: Sendable {
        var phase = ""
        var verificationStatus = ""
        var reason = ""
        var uid = ""
        var phaseSeen: [String: ContinuousClock.Instant] = [:]
        var verifiedAt: ContinuousClock.Instant?
        var deletedAt: ContinuousClock.Instant?
    }

    private let lock = NSLock()
    private var states: [String: State] = [:]
    private var synced = false
    private var lastError = ""
    private let client: KubeClient
    private let resource: APIResource

    init(client: KubeClient, resource: APIResource = Resources.snapshots) {
        self.client = client
        self.resource = resource
    }

    /// Runs until the task is cancelled.
    func run() async {
        while !Task.isCancelled {
            do {
                let list = try await client.listAll(resource, namespace: nil)
                applyList(list.items, at: .now)
                var resourceVersion = list.resourceVersion
                for try await event in client.watch(
                    resource, namespace: nil, options: WatchOptions(resourceVersion: resourceVersion))
                {
                    let now = ContinuousClock.now
                    lock.withLock {
                        switch event {
                        case .added(let object), .modified(let object):
                            record(object, deleted: false, at: now)
                        case .deleted(let object): record(object, deleted: true, at: now)
                        case .bookmark, .error: break
                        }
                    }
                    if let version = event.resourceVersion { resourceVersion = version }
                }
            } catch {
                if Task.isCancelled { return }
                lock.withLock { lastError = "\(error)" }
                try? await Task.sleep(for: .milliseconds(200))  // back off before relisting
            }
        }
    }

    private func applyList(_ items: [JSONValue], at now: ContinuousClock.Instant) {
        lock.withLock {
            let listed = Set(items.compactMap(Self.key))
            for (key, var state) in states where !listed.contains(key) && state.deletedAt == nil {
                state.deletedAt = now
                states[key] = state
            }
            for item in items { record(item, deleted: false, at: now) }
            synced = true
        }
    }

    private static func key(_ object: JSONValue) -> String? {
        guard let name = object.name else { return nil }
        return "\(object.namespace ?? "")/\(name)"
    }

    /// Called with the lock held.
    private func record(_ object: JSONValue, deleted: Bool, at now: ContinuousClock.Instant) {
        guard let key = Self.key(object) else { return }
        var state = states[key] ?? State()
        state.phase = object["status"]["phase"].stringValue ?? ""
        state.uid = object.uid ?? state.uid
        state.verificationStatus = object["status"]["verificationStatus"].stringValue ?? ""
        let ready = object["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }
        state.reason = ready?["reason"].stringValue ?? ""
        if state.phaseSeen[state.phase] == nil { state.phaseSeen[state.phase] = now }
        if !state.verificationStatus.isEmpty && state.verifiedAt == nil { state.verifiedAt = now }
        if deleted { state.deletedAt = now } else { state.deletedAt = nil }
        states[key] = state
    }

    var isSynced: Bool {
        lock.withLock { synced }
    }

    func snapshot() -> [String: State] {
        lock.withLock { states }
    }

    var error: String {
        lock.withLock { lastError }
    }

    /// Waits until `condition` holds over the states of `keys`; the description is shown on timeout.
    /// The condition sees a copy of the states (it may ask the tracker more, as `phases(of:)`).
    func wait(
        _ what: String, keys: [String], timeout: Duration, _ condition: @escaping (State?) -> Bool
    ) async throws {
        try await waitUntil(what, timeout: timeout, poll: .milliseconds(50)) {
            let states = snapshot()
            var missing = 0
            var example = ""
            for key in keys where !condition(states[key]) {
                missing += 1
                if example.isEmpty {
                    let state = states[key]
                    example =
                        "\(key): phase \(state?.phase ?? "(none)") \(state?.reason ?? "") verification \(state?.verificationStatus ?? "")"
                }
            }
            if missing == 0 { return (true, "") }
            return (
                false,
                "\(missing) of \(keys.count) not yet (e.g. \(example)); phases \(phases(of: keys))\(error.isEmpty ? "" : "; watch error: \(error)")"
            )
        }
    }

    /// The latest of `instant` over `keys`: when the watch saw the last of them get there (the
    /// moment a wait on it was met, free of its polling interval). Nil if one has none.
    func latest(_ keys: [String], _ instant: (State) -> ContinuousClock.Instant?) -> ContinuousClock.Instant? {
        lock.withLock {
            var latest: ContinuousClock.Instant?
            for key in keys {
                guard let state = states[key], let seen = instant(state) else { return nil }
                latest = max(latest ?? seen, seen)
            }
            return latest
        }
    }

    /// Histogram of phases among `keys`.
    func phases(of keys: [String]) -> [String: Int] {
        lock.withLock {
            var counts: [String: Int] = [:]
            for key in keys { counts[states[key]?.phase ?? "(none)", default: 0] += 1 }
            return counts
        }
    }
}

/// Runs a tracker (of `resource`) for the duration of `body`.
func withSnapshotTracker<T>(
    client: KubeClient, resource: APIResource = Resources.snapshots, _ body: (SnapshotTracker) async throws -> T
) async throws -> T {
    let tracker = SnapshotTracker(client: client, resource: resource)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await tracker.run() }
        defer { group.cancelAll() }
        try await waitUntil("the snapshot tracker's first list", timeout: .seconds(60)) {
            (tracker.isSynced, tracker.error)
        }
        return try await body(tracker)
    }
}
