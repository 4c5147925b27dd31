import Foundation
import KubeClient
import KubeJSON
import Logging

/// What a `Manager` runs besides its controllers.
public struct ManagerOptions: Sendable {
    /// Address of `/healthz`, `/readyz` and `/metrics`; `healthPort` nil = no server, 0 = any free port.
    public var healthHost = "0.0.0.0"
    public var healthPort: Int? = 8081
    /// nil = no leader election (every replica reconciles).
    public var leaderElection: LeaderElectionConfiguration?
    /// After a shutdown request, reconciles in flight get this long to finish before they are cancelled.
    public var gracePeriod: Duration = .seconds(30)
    /// SIGTERM and SIGINT request a graceful shutdown (the CLI sets this).
    public var handleSignals = false
    public var events = EventRecorder.Options()

    public init() {}
}

/// Runs informers, the health/metrics server, leader election, the event recorder and the
/// controllers under one task group (controller-runtime's manager).
///
/// Shutdown: `shutdown()` (or SIGTERM/SIGINT with `handleSignals`) stops taking work, lets
/// reconciles in flight finish within `gracePeriod` (then cancels them), releases the lease,
/// flushes events briefly, and `run()` returns. Cancelling the task running `run()` stops
/// everything at once (cancellation reaches every child task, so it cannot wait for reconciles);
/// the lease is released in both cases.
///
/// Informers are shared per resource and selectors: ask `informer(for:)` and add controllers
/// before `run()`.
public final class Manager: Sendable {
    public let client: KubeClient
    public let options: ManagerOptions
    public let metrics: MetricsRegistry
    /// Records Events for reconcilers (and terminal errors).
    public let events: EventRecorder
    public let elector: LeaderElector?
    private let logger: Logger
    private let stop = Latch()
    private let serving = Latch()
    /// Opens once SIGTERM/SIGINT handlers are installed (`handleSignals`); for tests.
    let signalHandlersInstalled = Latch()

    private struct State {
        var informers: [String: any AnyInformer] = [:]
        var controllers: [any AnyController] = []
        var running = false
        var started = false
        var healthPort: Int?
    }

    private let state = Locked(State())
    /// The controllers' work queues, for the event recorder's `giveWay` (a box of its own: the
    /// controllers hold the recorder, so the probe must not hold them).
    private let queues = Locked<[WorkQueue]>([])

    /// `metrics` should be the registry whose `restClientObserver()` was given to `client`.
    public init(
        client: KubeClient, options: ManagerOptions = .init(), metrics: MetricsRegistry = MetricsRegistry(),
        logger: Logger = Logger(label: "controller.manager")
    ) {
        self.client = client
        self.options = options
        self.metrics = metrics
        self.logger = logger
        self.events = EventRecorder(client: client, options: options.events, metrics: metrics, logger: logger)
        let queues = self.queues
        // A reconcile done within the last 100 ms counts as busy: in a burst, the workers can
        // outrun the informer that feeds them for a moment.
        events.giveWay { queues.withLock { $0.contains { $0.isBusy(settle: .milliseconds(100)) } } }
        self.elector = options.leaderElection.map {
            LeaderElector(client: client, configuration: $0, metrics: metrics, logger: logger)
        }
    }

    /// The shared informer of `Object` (its own resource unless `resource` says otherwise) with
    /// these options (the first caller's resync period and transform win for a given type,
    /// resource, namespace and selectors).
    public func informer<Object: KubeResource>(
        for type: Object.Type, resource: APIResource = Object.apiResource,
        options informerOptions: InformerOptions = .init()
    ) -> Informer<Object> {
        let id = [
            String(reflecting: Object.self), resource.description, informerOptions.namespace ?? "",
            informerOptions.labelSelector ?? "", informerOptions.fieldSelector ?? "",
        ].joined(separator: "|")
        return state.withLock { state in
            // The id names the type: the cast holds.
            if let existing = state.informers[id] as? Informer<Object> { return existing }
            let informer = Informer<Object>(
                client: client, resource: resource, options: informerOptions, metrics: metrics, logger: logger
            )
            state.informers[id] = informer
            return informer
        }
    }

    /// Adds a controller made elsewhere.
    @discardableResult
    public func add<Object>(_ controller: Controller<Object>) -> Controller<Object> {
        state.withLock { $0.controllers.append(controller) }
        queues.withLock { $0.append(controller.queue) }
        for informer in controller.informers { register(informer) }
        return controller
    }

    /// Makes and adds a controller for `resource` using the shared informer, the manager's
    /// event recorder and metrics.
    @discardableResult
    public func controller<Object: KubeResource>(
        _ name: String, for type: Object.Type, reconciler: some Reconciler<Object>,
        options controllerOptions: ControllerOptions<Object> = .init(),
        informerOptions: InformerOptions = .init()
    ) -> Controller<Object> {
        let controller = Controller(
            name: name, for: informer(for: type, options: informerOptions), reconciler: reconciler,
            options: controllerOptions, recorder: events, metrics: metrics, logger: logger)
        return add(controller)
    }

    /// True once every informer has synced (a standby replica is ready too).
    public var isReady: Bool {
        state.withLock { $0.running } && informers.allSatisfy(\.hasSynced)
    }

    /// True while this replica may reconcile (always, without leader election).
    public var isLeader: Bool { elector?.isLeader ?? state.withLock { $0.running } }

    /// The bound port of the health server, once it serves.
    public var healthPort: Int? { state.withLock { $0.healthPort } }

    /// Waits until the health server serves; returns its port (nil without a server or if cancelled).
    public func waitForHealthServer() async -> Int? {
        guard options.healthPort != nil else { return nil }
        await serving.wait()
        return healthPort
    }

    /// Requests a graceful shutdown.
    public func shutdown() {
        stop.open()
    }

    private var informers: [any AnyInformer] { state.withLock { Array($0.informers.values) } }

    /// The controllers added so far.
    public var controllers: [any AnyController] { state.withLock { $0.controllers } }

    private func register(_ informer: any AnyInformer) {
        state.withLock { state in
            if !state.informers.values.contains(where: { $0 === informer }) {
                state.informers["\(ObjectIdentifier(informer))"] = informer
            }
        }
    }

    private enum ChildResult: Sendable {
        case main
        case serverFailed(ControllerError)
        case other
    }

    /// Runs everything until a graceful shutdown completes, or the task is cancelled: a hard
    /// stop where reconciles in flight are cancelled at once (the lease is still released).
    /// Call once.
    /// Throws only if the health server cannot start.
    public func run() async throws {
        let alreadyStarted = state.withLock { state -> Bool in
            defer {
                state.started = true
                state.running = true
            }
            return state.started
        }
        guard !alreadyStarted else { throw ControllerError.server("Manager.run() may be called only once") }
        let informers = self.informers
        let controllers = state.withLock { $0.controllers }
        logger.info(
            "starting manager",
            metadata: ["controllers": "\(controllers.map(\.name))", "informers": "\(informers.count)"])

        let failure: ControllerError? = await withTaskGroup(of: ChildResult.self) { group in
            if options.handleSignals {
                group.addTask {
                    if let number = await SignalWatcher.wait(installed: self.signalHandlersInstalled) {
                        self.logger.info("signal received; shutting down", metadata: ["signal": "\(number)"])
                        self.shutdown()
                    }
                    return .other
                }
            }
            if let port = options.healthPort {
                let server = HealthServer(
                    host: options.healthHost, port: port, metrics: metrics,
                    readiness: {
                        [HealthServer.Check(name: "informers-synced") { self.isReady }]
                    })
                group.addTask {
                    do {
                        try await server.run { bound in
                            self.state.withLock { $0.healthPort = bound }
                            self.serving.open()
                        }
                    } catch let error as ControllerError {
                        return .serverFailed(error)
                    } catch {
                        return .serverFailed(.server("\(error)"))
                    }
                    return .other
                }
            }
            for informer in informers {
                group.addTask {
                    await informer.run()
                    return .other
                }
            }
            let eventsFlushed = Latch()
            group.addTask {
                await self.events.run()
                eventsFlushed.open()
                return .other
            }
            group.addTask {
                if let elector = self.elector {
                    await elector.run(until: self.stop) { await self.runControllers(controllers) }
                } else {
                    await self.runControllers(controllers)
                }
                return .main
            }
            var failure: ControllerError?
            while let result = await group.next() {
                switch result {
                case .main:
                    // Give queued events a moment to reach the API server, then stop the rest.
                    events.close()
                    await eventsFlushed.wait(atMost: .seconds(2))
                    group.cancelAll()
                case .serverFailed(let error):
                    failure = error
                    stop.open()
                    group.cancelAll()
                case .other:
                    continue
                }
            }
            return failure
        }
        state.withLock { $0.running = false }
        logger.info("manager stopped")
        if let failure { throw failure }
    }

    /// Runs the controllers until the stop latch opens; then gives reconciles in flight
    /// `gracePeriod` before cancelling them.
    private func runControllers(_ controllers: [any AnyController]) async {
        let stop = self.stop
        let grace = options.gracePeriod
        // As controller-runtime's manager: no controller starts before every cache has synced,
        // since a reconciler may read any of them.
        let informers = self.informers
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { inner in
                    for controller in controllers {
                        inner.addTask { await controller.run(until: stop, alsoWaitingFor: informers) }
                    }
                }
                return true
            }
            group.addTask {
                await stop.wait()
                if Task.isCancelled { return false }
                do { try await Task.sleep(for: grace) } catch { return false }
                return false
            }
            let finished = await group.next() ?? true
            if !finished && !Task.isCancelled {
                logger.warning("grace period over; cancelling reconciles in flight")
            }
            group.cancelAll()
        }
    }
}
