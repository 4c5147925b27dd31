import Foundation
import KubeClient
import KubeJSON
import Logging

/// Normal or Warning (core/v1 Event `type`).
public enum EventType: String, Sendable {
    case normal = "Normal"
    case warning = "Warning"
}

/// Records core/v1 Events about objects, as `kubectl describe` shows them.
///
/// - `record` never blocks a reconcile: events go to a bounded buffer written by `run()`; when
///   the buffer is full the event is dropped and counted (`droppedCount`, metric
///   `controller_runtime_events_dropped_total`).
/// - Events give way to the work they report (`giveWay(to:)`): while the probe says reconciles
///   are queued or running, a queued Event waits, at most `yieldLimit` and only while the buffer
///   is less than half full. A burst of 1,000 Snapshots so writes their status before their
///   1,000 Events, which otherwise take a third of the API server's writes in the burst; every
///   Event is still written, with the time it was recorded.
/// - The same (object, type, reason, message) within `aggregationWindow` bumps `count` and
///   `lastTimestamp` of the existing Event with a merge PATCH instead of creating a new one
///   (client-go's EventCorrelator, simplified).
/// - Messages are stored verbatim: callers must never put secrets (tokens, keys, passwords,
///   Secret data) in a reason or message.
public final class EventRecorder: Sendable {
    public struct Options: Sendable {
        /// `source.component` and `reportingComponent`.
        public var component = "controller"
        /// `reportingInstance` and `source.host`.
        public var instance = Hostname.current
        public var bufferSize = 4096
        /// The longest an Event waits for busy work (`giveWay(to:)`) before it is written anyway.
        public var yieldLimit: Duration = .seconds(2)
        public var aggregationWindow: Duration = .seconds(600)
        /// How many distinct events are remembered for aggregation (when full, the least recently
        /// seen quarter is forgotten).
        public var aggregationCacheSize = 4096
        /// Tries after the first of an Event whose write failed for a passing reason (429, 5xx, a
        /// broken connection), `retryDelay` apart and doubling; then it is dropped and counted.
        public var retries = 3
        public var retryDelay: Duration = .milliseconds(200)

        public init() {}
    }

    private struct Pending: Sendable {
        var involvedObject: JSONValue
        var namespace: String
        var type: EventType
        var reason: String
        var message: String
        var time: Date
        var recorded: ContinuousClock.Instant
    }

    private struct AggregationKey: Hashable {
        var object: String
        var type: EventType
        var reason: String
        var message: String
    }

    private struct Aggregate {
        var eventName: String
        var namespace: String
        var count: Int64
        var lastSeen: ContinuousClock.Instant
    }

    private struct State {
        var buffer: [Pending] = []
        var waiter: CheckedContinuation<Void, Never>?
        var wakePending = false
        var closed = false
        var dropped = 0
        var failed = 0
        var written = 0
        var aggregates: [AggregationKey: Aggregate] = [:]
        var busy: (@Sendable () -> Bool)?
        /// True while `run()` holds an Event back for busy work (for tests).
        var givingWay = false
    }

    public let options: Options
    private let client: KubeClient
    private let logger: Logger
    private let state = Locked(State())
    private let droppedMetric: MetricFamily?

    public init(
        client: KubeClient, options: Options = .init(), metrics: MetricsRegistry? = nil,
        logger: Logger = Logger(label: "controller.events")
    ) {
        self.client = client
        self.options = options
        self.logger = logger
        self.droppedMetric = metrics?.counter(
            "controller_runtime_events_dropped_total",
            help: "Events dropped because the recorder's buffer was full")
        droppedMetric?.touch()
    }

    /// Queues an Event about `object`.
    public func record<Object: KubeResource>(_ object: Object, type: EventType, reason: String, message: String) {
        let metadata = object.metadata
        let namespace = metadata.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var fields: [String: JSONValue] = [
            "apiVersion": .string(Object.apiResource.apiVersion), "kind": .string(Object.apiResource.kind),
        ]
        fields["name"] = metadata.name.map { .string($0) }
        fields["namespace"] = metadata.namespace.map { .string($0) }
        fields["uid"] = metadata.uid.map { .string($0) }
        fields["resourceVersion"] = metadata.resourceVersion.map { .string($0) }
        let involved = JSONValue.object(fields)
        let pending = Pending(
            involvedObject: involved, namespace: namespace, type: type, reason: reason,
            message: Self.truncate(message), time: Date(), recorded: .now)
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed, state.buffer.count < options.bufferSize else {
                state.dropped += 1
                return (false, nil)
            }
            state.buffer.append(pending)
            let waiter = state.waiter
            state.waiter = nil
            if waiter == nil { state.wakePending = true }
            return (true, waiter)
        }
        if !accepted {
            droppedMetric?.increment()
            logger.debug("event dropped: buffer full", metadata: ["reason": "\(reason)"])
        }
        waiter?.resume()
    }

    public func normal(_ object: some KubeResource, reason: String, message: String) {
        record(object, type: .normal, reason: reason, message: message)
    }

    public func warning(_ object: some KubeResource, reason: String, message: String) {
        record(object, type: .warning, reason: reason, message: message)
    }

    /// Makes queued Events wait while `busy` returns true (see the type's notes). The Manager
    /// passes "a controller has keys queued or in a reconcile". `busy` is called without the
    /// recorder's lock held, from `run()` only.
    public func giveWay(to busy: @escaping @Sendable () -> Bool) {
        state.withLock { $0.busy = busy }
    }

    /// True while `run()` holds an Event back for busy work.
    var isGivingWay: Bool { state.withLock { $0.givingWay } }

    /// Events dropped because the buffer was full.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Events not written because the API server refused them, or failed every try.
    public var failedCount: Int { state.withLock { $0.failed } }

    private func failed() { state.withLock { $0.failed += 1 } }

    /// Whether a write may succeed if tried again: 429, 5xx, or no answer at all.
    static func isTransient(_ error: KubeError) -> Bool {
        switch error {
        case .api(let status): return status.code == 429 || status.code >= 500
        case .transport: return true
        default: return false
        }
    }

    /// Whether the Event's namespace is gone or being deleted (kube-apiserver refuses new
    /// objects there with 403 "... because it is being terminated").
    static func namespaceIsGoing(_ error: KubeError) -> Bool {
        guard case .api(let status) = error else { return false }
        if status.code == 404 && (status.details?.kind == "namespaces" || status.message?.contains("namespaces \"") == true) {
            return true
        }
        return status.code == 403 && status.message?.contains("is being terminated") == true
    }
    /// Events written (created or aggregated) so far.
    public var writtenCount: Int { state.withLock { $0.written } }

    /// Writes queued events until `close()` was called and the buffer is empty, or the task is
    /// cancelled.
    public func run() async {
        while !Task.isCancelled {
            let batch = state.withLock { state -> [Pending]? in
                if state.buffer.isEmpty { return state.closed ? nil : [] }
                defer { state.buffer = [] }
                return state.buffer
            }
            guard let batch else { return }
            if batch.isEmpty {
                await waitForEvents()
                continue
            }
            var index = 0
            while index < batch.count {
                if Task.isCancelled { return }
                if shouldGiveWay(to: batch[index], alsoQueued: batch.count - index) {
                    // Polled: the probe reads the controllers' queues, which have no waiters.
                    do { try await Task.sleep(for: .milliseconds(20)) } catch { return }
                    continue
                }
                await write(batch[index])
                index += 1
            }
        }
    }

    /// Whether `event` should wait for busy work to finish (see `giveWay(to:)`).
    private func shouldGiveWay(to event: Pending, alsoQueued: Int) -> Bool {
        let busy = state.withLock { state -> (@Sendable () -> Bool)? in
            let full = state.buffer.count + alsoQueued >= options.bufferSize / 2
            let due = ContinuousClock.now - event.recorded >= options.yieldLimit
            guard !state.closed, !full, !due else {
                state.givingWay = false
                return nil
            }
            return state.busy
        }
        let wait = busy?() ?? false
        state.withLock { $0.givingWay = wait }
        return wait
    }

    /// No more events are accepted; `run()` returns once the buffer is written.
    public func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            let waiter = state.waiter
            state.waiter = nil
            state.wakePending = waiter == nil
            return waiter
        }
        waiter?.resume()
    }

    private func waitForEvents() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.wakePending || state.closed || Task.isCancelled {
                        state.wakePending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                let waiter = state.waiter
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
        }
    }

    private func write(_ event: Pending) async {
        let objectID =
            event.involvedObject["uid"].stringValue
            ?? "\(event.involvedObject["kind"].stringValue ?? "")/\(event.namespace)/\(event.involvedObject["name"].stringValue ?? "")"
        let key = AggregationKey(
            object: objectID, type: event.type, reason: event.reason, message: event.message)
        let now = ContinuousClock.now
        let existing = state.withLock { state -> Aggregate? in
            guard let aggregate = state.aggregates[key], now - aggregate.lastSeen < options.aggregationWindow
            else {
                return nil
            }
            return aggregate
        }
        let timestamp = RFC3339.format(event.time)
        if var aggregate = existing {
            let patch: JSONValue = ["count": .int(aggregate.count + 1), "lastTimestamp": .string(timestamp)]
            do {
                _ = try await client.patch(
                    .events, namespace: aggregate.namespace, name: aggregate.eventName, type: .merge, patch)
                aggregate.count += 1
                aggregate.lastSeen = now
                remember(key, aggregate)
                return
            } catch {
                if Self.namespaceIsGoing(error) {
                    failed()
                    return
                }
                if !error.isNotFound {
                    logger.warning(
                        "cannot update event", metadata: ["reason": "\(event.reason)", "error": "\(error)"])
                    failed()
                    return
                }
                // The Event expired or was deleted: create a new one.
            }
        }
        let name =
            "\(event.involvedObject["name"].stringValue ?? "object").\(String(UInt64(event.time.timeIntervalSince1970 * 1e9), radix: 16))"
        let body: JSONValue = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string(name), "namespace": .string(event.namespace)],
            "involvedObject": event.involvedObject,
            "reason": .string(event.reason), "message": .string(event.message),
            "type": .string(event.type.rawValue),
            "source": ["component": .string(options.component), "host": .string(options.instance)],
            "reportingComponent": .string(options.component), "reportingInstance": .string(options.instance),
            "firstTimestamp": .string(timestamp), "lastTimestamp": .string(timestamp), "count": 1,
        ]
        var attempt = 0
        while true {
            do {
                _ = try await client.create(.events, namespace: event.namespace, body)
                remember(key, Aggregate(eventName: name, namespace: event.namespace, count: 1, lastSeen: now))
                return
            } catch {
                if Self.namespaceIsGoing(error) {
                    // An Event into a namespace being deleted (or gone) has nowhere to go.
                    logger.debug(
                        "event dropped: its namespace is being deleted",
                        metadata: ["reason": "\(event.reason)", "namespace": "\(event.namespace)"])
                    failed()
                    return
                }
                attempt += 1
                guard Self.isTransient(error), attempt <= options.retries, !Task.isCancelled else {
                    logger.warning(
                        "cannot create event", metadata: ["reason": "\(event.reason)", "error": "\(error)"])
                    failed()
                    return
                }
                // Bounded: a few tries, 200 ms doubling, on the recorder's own task (no
                // reconcile waits for an Event).
                // Cancelled (the recorder stops): the next try runs at once and ends the loop.
                try? await Task.sleep(for: options.retryDelay * (1 << (attempt - 1)))
            }
        }
    }

    private func remember(_ key: AggregationKey, _ aggregate: Aggregate) {
        state.withLock { state in
            state.written += 1
            if state.aggregates[key] == nil, state.aggregates.count >= options.aggregationCacheSize {
                // The least recently seen quarter goes at once: one sort per quarter of the cache's
                // size in new keys, where a scan for the single oldest on every new key made each
                // Event beyond the cache's size cost a pass over all 4,096 (with copies of their
                // strings), under the recorder's lock.
                let evicted = max(1, state.aggregates.count / 4)
                let oldest = state.aggregates.map { ($0.key, $0.value.lastSeen) }.sorted { $0.1 < $1.1 }.prefix(evicted)
                for (old, _) in oldest { state.aggregates.removeValue(forKey: old) }
            }
            state.aggregates[key] = aggregate
        }
    }

    /// Event messages are limited to 1 KiB by the API for events.k8s.io; keep core/v1 ones as short.
    private static func truncate(_ message: String) -> String {
        guard message.utf8.count > 1024 else { return message }
        var out = ""
        for character in message {
            if out.utf8.count + character.utf8.count > 1021 { break }
            out.append(character)
        }
        return out + "..."
    }
}
