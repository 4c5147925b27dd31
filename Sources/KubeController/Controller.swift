import KubeClient
import KubeJSON
import Logging

/// How a controller runs.
public struct ControllerOptions<Object: KubeResource>: Sendable {
    /// Concurrent reconciles (`--workers N`); one key never runs on two workers.
    public var workers: Int
    public var rateLimiter: ControllerRateLimiter
    /// Which events of the primary kind enqueue a reconcile; status-only and
    /// resourceVersion-only updates are skipped by default.
    public var filter: EventFilter<Object>

    public init(
        workers: Int = 1, rateLimiter: ControllerRateLimiter = .init(),
        filter: EventFilter<Object> = .specOrMetadataChanged
    ) {
        self.workers = max(1, workers)
        self.rateLimiter = rateLimiter
        self.filter = filter
    }
}

/// Ties a primary informer, secondary watches, a work queue and workers to a `Reconciler`
/// (controller-runtime's controller):
///
/// - events of the primary kind enqueue the object's key (after `options.filter`);
/// - `watches(_:filter:map:)` maps events of other kinds to primary keys (a Repository's change
///   to its Snapshots through an index, a Snapshot's change to its BackupSession through a label);
/// - reconciles start only after every informer involved has synced;
/// - `.done` forgets the key's backoff, `.requeue(after:)` sets a timer, a thrown error
///   requeues with backoff, a `TerminalError` is not retried and is recorded as a Warning Event.
///
/// Configure (`watches`, `owns`) before `run`.
public final class Controller<Object: KubeResource>: Sendable, AnyController {
    public let name: String
    public let primary: Informer<Object>
    public let queue: WorkQueue
    public let options: ControllerOptions<Object>
    private let reconciler: any Reconciler<Object>
    private let recorder: EventRecorder?
    private let metrics: ControllerMetrics?
    private let logger: Logger

    /// A secondary watch: its informer, and how to subscribe the queue to it.
    private struct Watch: Sendable {
        var informer: any AnyInformer
        var subscribe: @Sendable (WorkQueue) -> UInt64
    }

    private let secondary = Locked<[Watch]>([])

    public init(
        name: String, for primary: Informer<Object>, reconciler: some Reconciler<Object>,
        options: ControllerOptions<Object> = .init(),
        recorder: EventRecorder? = nil, metrics: MetricsRegistry? = nil,
        logger: Logger = Logger(label: "controller")
    ) {
        self.name = name
        self.primary = primary
        self.reconciler = reconciler
        self.options = options
        self.recorder = recorder
        self.queue = WorkQueue(name: name, rateLimiter: options.rateLimiter, metrics: metrics)
        self.metrics = metrics.map { ControllerMetrics(registry: $0, controller: name) }
        var logger = logger
        logger[metadataKey: "controller"] = "\(name)"
        self.logger = logger
    }

    /// Enqueues the primary keys `map` returns for each event of `informer` that passes `filter`
    /// (for a deletion, `map` gets the last known state).
    @discardableResult
    public func watches<Other: KubeResource>(
        _ informer: Informer<Other>, filter: EventFilter<Other> = .contentChanged,
        map: @escaping @Sendable (Other) -> [ObjectKey]
    ) -> Controller {
        let watch = Watch(informer: informer) { queue in
            informer.subscribe { event in
                guard filter.accepts(event) else { return }
                for key in map(event.object) { queue.add(key) }
            }
        }
        secondary.withLock { $0.append(watch) }
        return self
    }

    /// Enqueues the controlling owner (an ownerReference with `controller: true` of the primary
    /// kind) of each object of `informer`.
    @discardableResult
    public func owns<Other: KubeResource>(
        _ informer: Informer<Other>, filter: EventFilter<Other> = .contentChanged
    ) -> Controller {
        let kind = primary.resource.kind
        let apiVersion = primary.resource.apiVersion
        return watches(informer, filter: filter) { object in
            (object.metadata.ownerReferences ?? []).compactMap { reference in
                guard reference.kind == kind, reference.apiVersion == apiVersion, reference.controller == true
                else { return nil }
                return ObjectKey(namespace: object.metadata.namespace, name: reference.name)
            }
        }
    }

    /// Every informer this controller reads.
    public var informers: [any AnyInformer] { [primary] + secondary.withLock { $0.map(\.informer) } }

    /// Runs until `stop` opens (graceful: workers take no new key and return after their
    /// current reconcile) or the task is cancelled (reconciles in flight are cancelled).
    ///
    /// `alsoWaitingFor` names informers the reconciler reads without watching them (Secrets a
    /// reconciler looks up, say): the workers start only once those have synced too, so a
    /// reconcile never mistakes a cache still filling for an object that does not exist.
    public func run(until stop: Latch = Latch(), alsoWaitingFor extra: [any AnyInformer] = []) async {
        let filter = options.filter
        let queue = self.queue
        var subscriptions: [(any AnyInformer, UInt64)] = []
        subscriptions.append(
            (
                primary,
                primary.subscribe { event in
                    guard filter.accepts(event), let key = ObjectKey(event.object) else { return }
                    queue.add(key)
                }
            ))
        for watch in secondary.withLock({ $0 }) {
            subscriptions.append((watch.informer, watch.subscribe(queue)))
        }
        defer { for (informer, id) in subscriptions { informer.unsubscribe(id) } }

        // Reconcile only once every cache is complete.
        let informers = self.informers + extra
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for informer in informers { await informer.waitForSync() }
            }
            group.addTask { await stop.wait() }
            await group.next()
            group.cancelAll()
        }
        guard !Task.isCancelled, !stop.isOpen, informers.allSatisfy(\.hasSynced) else { return }
        logger.info("starting workers", metadata: ["workers": "\(options.workers)"])

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.run() }
            group.addTask {
                await stop.wait()
                if stop.isOpen { queue.shutDown() }
            }
            await withTaskGroup(of: Void.self) { workers in
                for _ in 0..<options.workers {
                    workers.addTask { await self.work() }
                }
            }
            group.cancelAll()
        }
        logger.info("workers stopped")
    }

    private func work() async {
        while let key = await queue.get() {
            await process(key)
            queue.done(key)
        }
    }

    private func process(_ key: ObjectKey) async {
        var logger = self.logger
        logger[metadataKey: "object"] = "\(key)"
        let started = ContinuousClock.now
        defer { metrics?.observe(seconds: (ContinuousClock.now - started).seconds) }
        guard let object = primary.store.get(key) else {
            await reconciler.forget(key)
            queue.forget(key)
            metrics?.count("success")
            return
        }
        do {
            let result = try await reconciler.reconcile(object)
            queue.forget(key)
            switch result {
            case .done:
                metrics?.count("success")
                logger.debug("reconciled")
            case .requeue(let after):
                metrics?.count("requeue_after")
                logger.debug("reconciled; requeue", metadata: ["after": "\(after)"])
                queue.addAfter(key, after)
            }
        } catch let terminal as TerminalError {
            queue.forget(key)
            metrics?.count("error")
            metrics?.terminalError()
            logger.error(
                "reconcile failed; not retrying",
                metadata: ["reason": "\(terminal.reason)", "error": "\(terminal.message)"])
            recorder?.warning(primary.store.get(key) ?? object, reason: terminal.reason, message: terminal.message)
        } catch {
            if Task.isCancelled {
                // Stopped mid-reconcile (shutdown or lost leadership): run it again when work resumes.
                logger.info("reconcile cancelled")
                queue.add(key)
                return
            }
            metrics?.count("error")
            if let forbidden = Self.forbidden(error) {
                // A permission the operator's role lacks: said on the object (a Warning Event
                // naming the verb and resource refused), not only in the log. Retried with
                // backoff: a fixed role takes effect without a restart.
                logger.error(
                    "reconcile forbidden; retrying with backoff",
                    metadata: ["error": "\(error)", "retries": "\(queue.retries(key) + 1)"])
                recorder?.warning(
                    primary.store.get(key) ?? object, reason: "Forbidden",
                    message: "the operator lacks a permission (check its ClusterRole): \(forbidden)")
            } else {
                logger.warning(
                    "reconcile failed; retrying with backoff",
                    metadata: ["error": "\(error)", "retries": "\(queue.retries(key) + 1)"])
            }
            queue.addRateLimited(key)
        }
    }
}

extension Controller {
    /// The API server's message when `error` is (or wraps) a 403 Forbidden, else nil.
    static func forbidden(_ error: any Error) -> String? {
        let underlying: KubeError
        switch error {
        case let error as KubeError: underlying = error
        case ControllerError.api(_, let error): underlying = error
        default: return nil
        }
        guard let status = underlying.status, status.code == 403 else { return nil }
        return status.message ?? "\(underlying)"
    }
}

/// What a manager needs of a controller whatever its kind.
public protocol AnyController: AnyObject, Sendable {
    var name: String { get }
    var queue: WorkQueue { get }
    var informers: [any AnyInformer] { get }
    func run(until stop: Latch, alsoWaitingFor extra: [any AnyInformer]) async
}

/// controller-runtime's controller metrics, for one controller.
struct ControllerMetrics: Sendable {
    let controller: String
    let total: MetricFamily
    let errors: MetricFamily
    let terminalErrors: MetricFamily
    let time: MetricFamily

    init(registry: MetricsRegistry, controller: String) {
        self.controller = controller
        total = registry.counter(
            "controller_runtime_reconcile_total", help: "Total number of reconciliations per controller",
            labels: ["controller", "result"])
        errors = registry.counter(
            "controller_runtime_reconcile_errors_total",
            help: "Total number of reconciliation errors per controller",
            labels: ["controller"])
        terminalErrors = registry.counter(
            "controller_runtime_terminal_reconcile_errors_total",
            help: "Total number of terminal reconciliation errors per controller", labels: ["controller"])
        time = registry.histogram(
            "controller_runtime_reconcile_time_seconds",
            help: "Length of time per reconciliation per controller",
            labels: ["controller"], buckets: MetricFamily.longBuckets)
        for result in ["success", "error", "requeue_after"] { total.touch(controller, result) }
        errors.touch(controller)
        terminalErrors.touch(controller)
    }

    func count(_ result: String) {
        total.increment(controller, result)
        if result == "error" { errors.increment(controller) }
    }

    func terminalError() { terminalErrors.increment(controller) }

    func observe(seconds: Double) { time.observe(seconds, controller) }
}
