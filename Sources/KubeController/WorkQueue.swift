import KubeJSON

/// The controller work queue (client-go's rate-limited delaying work queue, for keys):
///
/// - a key added many times while it waits is handed out once;
/// - a key is never held by two workers: a key added while a worker processes it is marked dirty
///   and handed out again after `done`;
/// - `addRateLimited` waits per-key exponential backoff combined with a shared token bucket,
///   `forget` resets the backoff;
/// - `addAfter` holds a key until its time comes (the timers run inside `run()`, a structured
///   task the controller owns);
/// - `shutDown` stops handing out work at once; `drain` waits for keys in process to be done.
public final class WorkQueue: Sendable {
    private struct State {
        var queue: [ObjectKey] = []
        var head = 0
        /// Keys waiting to be handed out (client-go's "dirty" set).
        var waiting: Set<ObjectKey> = []
        var processing: Set<ObjectKey> = []
        var processingSince: [ObjectKey: ContinuousClock.Instant] = [:]
        var lastDone: ContinuousClock.Instant?
        var enqueuedAt: [ObjectKey: ContinuousClock.Instant] = [:]
        var getters: [(id: UInt64, continuation: CheckedContinuation<ObjectKey?, Never>)] = []
        var nextID: UInt64 = 0
        var delayed: [ObjectKey: ContinuousClock.Instant] = [:]
        var timerWaker: CheckedContinuation<Void, Never>?
        var timerWakePending = false
        var drainers: [CheckedContinuation<Void, Never>] = []
        var shuttingDown = false
        var rateLimiter: ControllerRateLimiter

        var count: Int { queue.count - head }

        mutating func popFirst() -> ObjectKey? {
            guard head < queue.count else { return nil }
            let key = queue[head]
            head += 1
            if head > 64 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return key
        }
    }

    /// The queue's name in metrics (`name` label), usually the controller's name.
    public let name: String
    private let state: Locked<State>
    private let metrics: WorkQueueMetrics?

    public init(name: String, rateLimiter: ControllerRateLimiter = .init(), metrics: MetricsRegistry? = nil) {
        self.name = name
        self.state = Locked(State(rateLimiter: rateLimiter))
        self.metrics = metrics.map { WorkQueueMetrics(registry: $0, name: name) }
    }

    /// Queues `key` unless it is already waiting; a key in process is handed out again after `done`.
    public func add(_ key: ObjectKey) {
        let handoffs = state.withLock {
            state -> [(CheckedContinuation<ObjectKey?, Never>, ObjectKey)] in
            guard !state.shuttingDown, !state.waiting.contains(key) else { return [] }
            metrics?.adds.increment(name)
            state.waiting.insert(key)
            state.enqueuedAt[key] = .now
            if state.processing.contains(key) { return [] }
            state.queue.append(key)
            return dispatch(&state)
        }
        for (continuation, key) in handoffs { continuation.resume(returning: key) }
    }

    /// Queues `key` once `delay` has passed; an earlier pending time for the same key wins.
    public func addAfter(_ key: ObjectKey, _ delay: Duration) {
        if delay <= .zero { return add(key) }
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.shuttingDown else { return nil }
            let due = ContinuousClock.now.advanced(by: delay)
            if let existing = state.delayed[key], existing <= due { return nil }
            state.delayed[key] = due
            return takeTimerWaker(&state)
        }
        wake?.resume()
    }

    /// Queues `key` after its rate-limited backoff (an error retry).
    public func addRateLimited(_ key: ObjectKey) {
        let delay = state.withLock { $0.rateLimiter.when(key) }
        metrics?.retries.increment(name)
        addAfter(key, delay)
    }

    /// Resets the backoff of `key`.
    public func forget(_ key: ObjectKey) {
        state.withLock { $0.rateLimiter.forget(key) }
    }

    /// How many times `key` was retried since it was last forgotten.
    public func retries(_ key: ObjectKey) -> Int {
        state.withLock { $0.rateLimiter.retries(key) }
    }

    /// The next key to process, waiting for one; nil once the queue is shut down (or the calling
    /// task is cancelled). Call `done` when finished with it.
    public func get() async -> ObjectKey? {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ObjectKey?, Never>) in
                let immediate = state.withLock { state -> ObjectKey?? in
                    if state.shuttingDown || Task.isCancelled { return .some(nil) }
                    if let key = state.popFirst() {
                        take(key, &state)
                        return .some(key)
                    }
                    state.getters.append((id, continuation))
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<ObjectKey?, Never>? in
                guard let index = state.getters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.getters.remove(at: index).continuation
            }
            continuation?.resume(returning: nil)
        }
    }

    /// Marks `key` finished; if it was added again meanwhile, it is queued again.
    public func done(_ key: ObjectKey) {
        let (handoffs, drained) = state.withLock {
            state -> (
                [(CheckedContinuation<ObjectKey?, Never>, ObjectKey)], [CheckedContinuation<Void, Never>]
            ) in
            state.processing.remove(key)
            let now = ContinuousClock.now
            state.lastDone = now
            if let since = state.processingSince.removeValue(forKey: key) {
                metrics?.workDuration.observe((now - since).seconds, name)
            }
            var handoffs: [(CheckedContinuation<ObjectKey?, Never>, ObjectKey)] = []
            if state.waiting.contains(key) && !state.shuttingDown {
                state.queue.append(key)
                handoffs = dispatch(&state)
            }
            var drained: [CheckedContinuation<Void, Never>] = []
            if state.processing.isEmpty {
                drained = state.drainers
                state.drainers = []
            }
            metrics?.depth.set(Double(state.count), name)
            return (handoffs, drained)
        }
        for (continuation, key) in handoffs { continuation.resume(returning: key) }
        for continuation in drained { continuation.resume() }
    }

    /// Stops handing out keys: waiting and future `get` calls return nil, adds are ignored.
    public func shutDown() {
        let (getters, waker) = state.withLock { state in
            state.shuttingDown = true
            let getters = state.getters.map(\.continuation)
            state.getters = []
            return (getters, takeTimerWaker(&state))
        }
        for getter in getters { getter.resume(returning: nil) }
        waker?.resume()
    }

    /// Waits until no key is in process (call after `shutDown` for a graceful stop).
    public func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.processing.isEmpty { return true }
                state.drainers.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Keys waiting to be handed out (not counting delayed ones).
    public var depth: Int { state.withLock { $0.count } }

    /// Keys held by workers right now.
    public var processingCount: Int { state.withLock { $0.processing.count } }

    /// True while keys wait to be handed out or workers hold some (delayed keys aside), or a
    /// key was done less than `settle` ago (a burst whose next keys are still on their way).
    public func isBusy(settle: Duration = .zero) -> Bool {
        state.withLock { state in
            state.count > 0 || !state.processing.isEmpty || state.lastDone.map { .now - $0 < settle } ?? false
        }
    }

    /// Keys waiting for their `addAfter` time.
    public var delayedCount: Int { state.withLock { $0.delayed.count } }

    /// Runs the `addAfter` timers until the queue shuts down or the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            let (due, next, stop) = state.withLock {
                state -> ([ObjectKey], ContinuousClock.Instant?, Bool) in
                if state.shuttingDown { return ([], nil, true) }
                let now = ContinuousClock.now
                var due: [ObjectKey] = []
                var next: ContinuousClock.Instant?
                for (key, time) in state.delayed {
                    if time <= now {
                        due.append(key)
                    } else {
                        next = min(next ?? time, time)
                    }
                }
                for key in due { state.delayed.removeValue(forKey: key) }
                return (due, next, false)
            }
            if stop { return }
            for key in due.sorted() { add(key) }
            if !due.isEmpty { continue }
            await waitForTimerChange(until: next)
        }
    }

    // MARK: - internals

    private func waitForTimerChange(until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }  // cancelled: woken
            }
            group.addTask { await self.waitForWake() }
            await group.next()
            group.cancelAll()
            // Wake the waker child if the sleep finished first.
            let waker = state.withLock { state -> CheckedContinuation<Void, Never>? in
                let w = state.timerWaker
                state.timerWaker = nil
                return w
            }
            waker?.resume()
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.timerWakePending || state.shuttingDown || Task.isCancelled {
                        state.timerWakePending = false
                        return true
                    }
                    state.timerWaker = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waker = state.withLock { state -> CheckedContinuation<Void, Never>? in
                let w = state.timerWaker
                state.timerWaker = nil
                return w
            }
            waker?.resume()
        }
    }

    private func takeTimerWaker(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        if let waker = state.timerWaker {
            state.timerWaker = nil
            return waker
        }
        state.timerWakePending = true
        return nil
    }

    private func take(_ key: ObjectKey, _ state: inout State) {
        state.waiting.remove(key)
        state.processing.insert(key)
        state.processingSince[key] = .now
        if let since = state.enqueuedAt.removeValue(forKey: key) {
            metrics?.queueDuration.observe((ContinuousClock.now - since).seconds, name)
        }
        metrics?.depth.set(Double(state.count), name)
    }

    /// Hands queued keys to waiting getters.
    private func dispatch(_ state: inout State) -> [(CheckedContinuation<ObjectKey?, Never>, ObjectKey)] {
        var handoffs: [(CheckedContinuation<ObjectKey?, Never>, ObjectKey)] = []
        while !state.getters.isEmpty, let key = state.popFirst() {
            let getter = state.getters.removeFirst()
            take(key, &state)
            handoffs.append((getter.continuation, key))
        }
        metrics?.depth.set(Double(state.count), name)
        return handoffs
    }
}

/// The client-go work queue metrics, labelled by queue `name`.
struct WorkQueueMetrics: Sendable {
    let depth: MetricFamily
    let adds: MetricFamily
    let retries: MetricFamily
    let queueDuration: MetricFamily
    let workDuration: MetricFamily

    init(registry: MetricsRegistry, name: String) {
        depth = registry.gauge("workqueue_depth", help: "Current depth of workqueue", labels: ["name"])
        adds = registry.counter(
            "workqueue_adds_total", help: "Total number of adds handled by workqueue", labels: ["name"])
        retries = registry.counter(
            "workqueue_retries_total", help: "Total number of retries handled by workqueue", labels: ["name"])
        queueDuration = registry.histogram(
            "workqueue_queue_duration_seconds",
            help: "How long in seconds an item stays in workqueue before being requested",
            labels: ["name"], buckets: MetricFamily.longBuckets)
        workDuration = registry.histogram(
            "workqueue_work_duration_seconds",
            help: "How long in seconds processing an item from workqueue takes",
            labels: ["name"], buckets: MetricFamily.longBuckets)
        depth.touch(name)
        adds.touch(name)
        retries.touch(name)
    }
}
