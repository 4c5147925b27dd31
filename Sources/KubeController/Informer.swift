import KubeClient
import KubeJSON
import Logging

/// How an informer lists and watches.
public struct InformerOptions: Sendable {
    /// nil = all namespaces.
    public var namespace: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Page size of the initial list and of relists (`limit`/`continue`).
    public var pageSize: Int = 500
    /// Re-deliver every cached object as `.resync` this often (no API call); nil = never.
    public var resyncPeriod: Duration?
    /// Applied to every object before it is cached or delivered; drops `metadata.managedFields`
    /// by default to keep the cache small.
    public var transform: @Sendable (JSONValue) -> JSONValue = InformerOptions.dropManagedFields
    /// Server-side watch timeout; the watch is then resumed from the last resourceVersion seen.
    public var watchTimeoutSeconds: Int = 300
    /// Backoff after a failed list or a broken watch (client-go's reflector: 800 ms up to 30 s).
    public var initialBackoff: Duration = .milliseconds(800)
    public var maxBackoff: Duration = .seconds(30)

    public init(
        namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
        resyncPeriod: Duration? = nil
    ) {
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resyncPeriod = resyncPeriod
    }

    /// The default transform: drops `metadata.managedFields` (before the object is decoded).
    public static let dropManagedFields: @Sendable (JSONValue) -> JSONValue = { object in
        guard object["metadata"]["managedFields"] != .null else { return object }
        var copy = object
        var metadata = copy["metadata"]
        metadata.removeValue(forKey: "managedFields")
        copy["metadata"] = metadata
        return copy
    }
}

/// What a manager and a controller need of an informer whatever its kind.
public protocol AnyInformer: AnyObject, Sendable {
    var resource: APIResource { get }
    var hasSynced: Bool { get }
    @discardableResult func waitForSync() async -> Bool
    func run() async
    func unsubscribe(_ id: UInt64)
}

/// Lists then watches one resource into a `Store` and tells subscribers what changed — kube-rs'
/// watcher as an explicit state machine:
///
///     list (paged) --ok--> watching(rv) --stream ends--> watching(last rv seen)
///          ^                   |  \--broken stream--> backoff --> watching(last rv seen)
///          |                   \--410 Gone--> list (relist; the cache is replaced, and the
///          \--list fails--> backoff           differences are delivered as events)
///
/// Watches ask for bookmarks so the resourceVersion to resume from stays fresh on quiet kinds.
/// Only one `run()` at a time.
public final class Informer<Object: KubeResource>: Sendable, AnyInformer {
    /// The phase of the list/watch state machine.
    public enum Phase: Sendable, Equatable {
        case initialList
        case watching(resourceVersion: String)
        case relisting
        case stopped
    }

    public let resource: APIResource
    public let options: InformerOptions
    /// The cache this informer fills.
    public let store = Store<Object>()
    private let client: KubeClient
    private let logger: Logger
    private let synced = Latch()
    private let metrics: InformerMetrics?

    private struct State {
        var handlers: [UInt64: @Sendable (InformerEvent<Object>) -> Void] = [:]
        var nextID: UInt64 = 0
        var phase: Phase = .initialList
        var restarts = 0
        var relists = 0
    }

    private let state = Locked(State())

    public init(
        client: KubeClient, resource: APIResource = Object.apiResource, options: InformerOptions = .init(),
        metrics: MetricsRegistry? = nil,
        logger: Logger = Logger(label: "controller.informer")
    ) {
        self.client = client
        self.resource = resource
        self.options = options
        self.metrics = metrics.map { InformerMetrics(registry: $0) }
        var logger = logger
        logger[metadataKey: "resource"] = "\(resource)"
        self.logger = logger
    }

    /// The default transform: drops `metadata.managedFields`.
    /// True once the first list is in the cache.
    public var hasSynced: Bool { synced.isOpen }

    /// Waits until the first list is in the cache (or the task is cancelled); returns `hasSynced`.
    @discardableResult
    public func waitForSync() async -> Bool {
        await synced.wait()
        return synced.isOpen
    }

    public var phase: Phase { state.withLock { $0.phase } }

    /// How many times the watch was re-established (any cause) and how many relists happened.
    public var restartCount: Int { state.withLock { $0.restarts } }
    public var relistCount: Int { state.withLock { $0.relists } }

    /// Declares an index on the cache (see `Store.addIndex`).
    public func addIndex(_ name: String, _ function: @escaping IndexFunction<Object>) {
        store.addIndex(name, function)
    }

    /// Delivers every event to `handler`, starting with an `.added` for each object already
    /// cached. Handlers run on the informer's task: they must be quick (enqueue a key).
    /// Returns an id for `unsubscribe`.
    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (InformerEvent<Object>) -> Void) -> UInt64 {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.handlers[state.nextID] = handler
            return state.nextID
        }
        store.forEach { handler(.added($0)) }
        return id
    }

    public func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.handlers.removeValue(forKey: id) }
    }

    /// Lists and watches until the task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let period = options.resyncPeriod {
                group.addTask { await self.resyncLoop(every: period) }
            }
            group.addTask { await self.listWatchLoop() }
            await group.next()
            group.cancelAll()
        }
        state.withLock { $0.phase = .stopped }
    }

    // MARK: - the state machine

    private func listWatchLoop() async {
        var backoff = Backoff(initial: options.initialBackoff, max: options.maxBackoff)
        var resourceVersion: String?  // nil: a list is needed
        while !Task.isCancelled {
            guard let rv = resourceVersion else {
                do {
                    resourceVersion = try await listAll()
                    backoff.reset()
                } catch {
                    if Task.isCancelled { return }
                    if let status = error.status, status.code == 403 {
                        // The role lacks list (or watch): the cache cannot sync until it is granted.
                        logger.error(
                            "list forbidden (check the role's list and watch verbs), retrying",
                            metadata: ["error": "\(status.message ?? "\(error)")"])
                    } else {
                        logger.warning("list failed, retrying", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: backoff.next())  // cancelled: the loop's check returns
                }
                continue
            }
            setPhase(.watching(resourceVersion: rv))
            let outcome = await watch(from: rv)
            if Task.isCancelled { return }
            switch outcome {
            case .ended(let last, let delivered, let quick):
                resourceVersion = last
                recordRestart("closed")
                if delivered { backoff.reset() }
                if quick && !delivered { try? await Task.sleep(for: backoff.next()) }
            case .gone:
                logger.info("watch resourceVersion expired (410 Gone), relisting")
                resourceVersion = nil
                recordRestart("gone")
                state.withLock { $0.relists += 1 }
                setPhase(.relisting)
            case .failed(let last, let error):
                resourceVersion = last
                recordRestart("error")
                logger.info(
                    "watch broken, resuming", metadata: ["error": "\(error)", "resourceVersion": "\(last)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    private enum WatchOutcome {
        /// The server ended the stream (timeout); resume from `last`.
        case ended(last: String, delivered: Bool, quick: Bool)
        case gone
        case failed(last: String, KubeError)
    }

    private func watch(from resourceVersion: String) async -> WatchOutcome {
        var last = resourceVersion
        var delivered = false
        let started = ContinuousClock.now
        // client-go spreads watch timeouts (timeout .. 2*timeout) so watches don't all end at once.
        let timeout = options.watchTimeoutSeconds + Int.random(in: 0...max(0, options.watchTimeoutSeconds))
        let stream = client.watch(
            resource, namespace: options.namespace,
            options: WatchOptions(
                labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
                resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout))
        do {
            for try await event in stream {
                switch event {
                case .added(let raw), .modified(let raw):
                    if let rv = raw.resourceVersion { last = rv }
                    delivered = true
                    guard let object = decode(raw) else { continue }
                    let old = store.upsert(object)
                    if let old {
                        if old != object { dispatch(.updated(old: old, new: object)) }
                    } else {
                        dispatch(.added(object))
                    }
                case .deleted(let raw):
                    if let rv = raw.resourceVersion { last = rv }
                    delivered = true
                    // Removed by key even when the final state does not decode; handlers get
                    // the final state, or the last cached one.
                    guard let key = ObjectKey(raw) else { continue }
                    let old = store.delete(key)
                    if let final = decode(raw, quiet: old != nil) ?? old { dispatch(.deleted(final)) }
                case .bookmark(let rv):
                    last = rv
                case .error(let status):
                    if status.code == 410 || status.reason == "Expired" || status.reason == "Gone" {
                        return .gone
                    }
                    return .failed(last: last, .api(status))
                }
            }
        } catch {
            if error.isGone { return .gone }
            return .failed(last: last, error)
        }
        return .ended(last: last, delivered: delivered, quick: ContinuousClock.now - started < .seconds(1))
    }

    /// The transform, then the object decoded: the only place where the cache's objects are
    /// decoded. An object that does not decode (its kind's type and the server's schema
    /// disagree) is not cached, and says so in the log: a reconciler cannot act on what it
    /// cannot read, and leaving it alone keeps its data.
    private func decode(_ raw: JSONValue, quiet: Bool = false) -> Object? {
        let value = options.transform(raw)
        do {
            return try value.decode(Object.self)
        } catch {
            if !quiet {
                metrics?.undecodable.increment(resource.description)
                logger.error(
                    "object cannot be decoded; it is left alone",
                    metadata: [
                        "object": "\(value.namespace.map { "\($0)/" } ?? "")\(value.name ?? "")", "error": "\(error)",
                    ])
            }
            return nil
        }
    }

    /// A paged list; replaces the cache page by page (only one page is ever held parsed) and
    /// delivers the differences. Returns the list's RV.
    private func listAll() async throws(KubeError) -> String {
        var seen = Set<ObjectKey>()
        var continueToken: String?
        var resourceVersion = ""
        repeat {
            let page = try await client.list(
                resource, namespace: options.namespace,
                options: ListOptions(
                    labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
                    limit: options.pageSize, continueToken: continueToken))
            // An object that does not decode stays in `seen`: a cached older version of it is
            // kept rather than reported deleted.
            for item in page.items { if let key = ObjectKey(item) { seen.insert(key) } }
            for event in store.merge(page: page.items.compactMap { decode($0) }, seen: &seen) { dispatch(event) }
            continueToken = page.continueToken.flatMap { $0.isEmpty ? nil : $0 }
            if resourceVersion.isEmpty || continueToken == nil { resourceVersion = page.resourceVersion }
        } while continueToken != nil
        for event in store.removeAll(except: seen) { dispatch(event) }
        metrics?.listed.increment(resource.description)
        if !synced.isOpen {
            logger.info(
                "cache synced",
                metadata: ["objects": "\(seen.count)", "resourceVersion": "\(resourceVersion)"])
            synced.open()
        }
        return resourceVersion
    }

    private func resyncLoop(every period: Duration) async {
        await synced.wait()
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            store.forEach { dispatch(.resync($0)) }
        }
    }

    private func dispatch(_ event: InformerEvent<Object>) {
        let handlers = state.withLock { Array($0.handlers.values) }
        for handler in handlers { handler(event) }
    }

    private func setPhase(_ phase: Phase) {
        state.withLock { $0.phase = phase }
    }

    private func recordRestart(_ reason: String) {
        state.withLock { $0.restarts += 1 }
        metrics?.restarts.increment(resource.description, reason)
    }
}

/// Exponential backoff with jitter for the informer's retries.
struct Backoff: Sendable {
    let initial: Duration
    let max: Duration
    private var current: Duration

    init(initial: Duration, max: Duration) {
        self.initial = initial
        self.max = max
        self.current = initial
    }

    mutating func next() -> Duration {
        let value = current
        current = Swift.min(current * 2, max)
        // up to 10% jitter so restarting informers do not move in lockstep
        return value + .seconds(double: value.seconds * Double.random(in: 0...0.1))
    }

    mutating func reset() { current = initial }
}

struct InformerMetrics: Sendable {
    let restarts: MetricFamily
    let listed: MetricFamily
    let undecodable: MetricFamily

    init(registry: MetricsRegistry) {
        restarts = registry.counter(
            "informer_watch_restarts_total",
            help: "Watches re-established by informers, by resource and reason",
            labels: ["resource", "reason"])
        listed = registry.counter(
            "informer_lists_total", help: "Full (paged) lists made by informers, initial and relists",
            labels: ["resource"])
        undecodable = registry.counter(
            "informer_undecodable_objects_total",
            help: "Objects left out of an informer's cache because they do not decode as their kind",
            labels: ["resource"])
    }
}
