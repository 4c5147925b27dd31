import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// kubesnap's operator: informers for Repositories, Snapshots, BackupSessions, Secrets and
/// Namespaces, the three controllers, leader election, health and metrics, and the data mover
/// that runs restic.
///
///     let operator = KubesnapOperator(configuration: configuration, logger: logger)
///     try await operator.run()   // until the task is cancelled (graceful shutdown) or SIGTERM
///                                // with `configuration.handleSignals`
public struct KubesnapOperator: Sendable {
    public let configuration: OperatorConfiguration
    private let logger: Logger

    public init(configuration: OperatorConfiguration, logger: Logger = Logger(label: "kubesnap.operator")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until the calling task is cancelled (or, with `handleSignals`, SIGTERM/SIGINT). Throws
    /// `KubesnapError.configuration` for an unusable configuration and an error if the health or
    /// metrics server cannot listen.
    public func run() async throws {
        let configuration = self.configuration
        let sourceRoot: PathConfinement
        let repositoryRoot: PathConfinement
        // The repository root is not made: where its volume is not mounted, a repository written
        // onto the node's root filesystem would vanish at the next restart (each Repository on it
        // fails BackendUnreachable until it is there).
        do {
            try FileManager.default.createDirectory(atPath: configuration.cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw KubesnapError.configuration("cannot create the cache directory: \(error.localizedDescription)")
        }
        do {
            sourceRoot = try PathConfinement(root: configuration.sourceRoot, rootName: "source root")
            repositoryRoot = try PathConfinement(root: configuration.repositoryRoot, rootName: "repository root")
        } catch {
            throw KubesnapError.configuration(error.message)
        }
        let health = try OperatorConfiguration.parseBindAddress(
            configuration.healthProbeBindAddress, flag: "--health-probe-bind-address")
        let metricsAddress = try OperatorConfiguration.parseBindAddress(
            configuration.metricsBindAddress, flag: "--metrics-bind-address")

        let metrics = MetricsRegistry()
        let client: KubeClient
        do {
            client = try KubeClient(configuration: configuration.client, logger: logger, observer: metrics.restClientObserver())
        } catch {
            throw KubesnapError.configuration("cannot make a Kubernetes client: \(error)")
        }

        var options = ManagerOptions()
        if let health {
            options.healthHost = health.host
            options.healthPort = health.port
        } else {
            options.healthPort = nil
        }
        if configuration.leaderElect {
            options.leaderElection = LeaderElectionConfiguration(
                namespace: configuration.leaseNamespace, leaseName: configuration.leaseName,
                identity: configuration.identity)
        }
        options.gracePeriod = configuration.gracePeriod
        options.handleSignals = configuration.handleSignals
        options.events.instance = configuration.identity
        options.events.component = configuration.component
        let manager = Manager(client: client, options: options, metrics: metrics, logger: logger)

        let informers = OperatorInformers(manager: manager, configuration: configuration)
        let registry = ResticProcessRegistry()
        let resticRuns = metrics.counter(
            "kubesnap_restic_runs_total", help: "restic runs by subcommand and outcome (success, a failure kind, cancelled)",
            labels: ["command", "outcome"])
        let resticDuration = metrics.histogram(
            "kubesnap_restic_run_duration_seconds", help: "Wall time of restic runs by subcommand", labels: ["command"],
            buckets: MetricFamily.longBuckets)
        registry.observeRuns { run in
            resticRuns.increment(run.command, run.outcome)
            resticDuration.observe(run.seconds, run.command)
        }
        let access = RepositoryAccess(
            secrets: informers.secrets.store, repositoryRoot: repositoryRoot, cacheDirectory: configuration.cacheDirectory,
            resticExecutable: configuration.resticExecutable, registry: registry,
            logger: Logger(label: "kubesnap.restic"))
        let gate = RepositoryGate()
        let operations = metrics.gauge(
            "kubesnap_data_operations",
            help: "Data operations (backups, verifications) running, and Snapshots waiting in line for a slot",
            labels: ["state"])
        operations.touch("running")
        operations.touch("queued")
        let mover = DataMover(maxRunning: configuration.maxConcurrentOperations) { running, queued in
            operations.set(Double(running), "running")
            operations.set(Double(queued), "queued")
        }
        let catalog = SnapshotCatalog()
        let (refreshes, refreshContinuation) = AsyncStream.makeStream(of: ObjectKey.self)
        let pruneAnnotation = PruneAnnotation(
            client: client, repositories: informers.repositories.store, events: manager.events)
        let batcher = PruneBatcher(
            window: configuration.pruneBatchWindow, pruneDelay: configuration.pruneDelay, gate: gate, catalog: catalog,
            refreshRepository: { refreshContinuation.yield($0) },
            recordPrune: { key, record in try await pruneAnnotation.record(record, on: key) })
        let dataPlane = DataPlane(
            access: access, gate: gate, mover: mover, batcher: batcher, catalog: catalog, registry: registry,
            sourceRoot: sourceRoot, processStarted: .now, pausePoints: configuration.pausePoints)
        let namespaces = informers.namespaces
        let deletionGuard = DeletionGuard(
            client: client, namespaces: namespaces.store, namespacesSynced: { namespaces.hasSynced },
            events: manager.events)

        // The controllers, each wiring its own watches and indexes.
        let (repositoryController, repositoryReconciler) = RepositoryController.register(
            in: manager, configuration: configuration, informers: informers, dataPlane: dataPlane,
            deletionGuard: deletionGuard)
        let snapshotController = SnapshotController.register(
            in: manager, configuration: configuration, informers: informers, dataPlane: dataPlane,
            deletionGuard: deletionGuard, refreshRepository: { refreshContinuation.yield($0) }, logger: logger)
        _ = BackupSessionController.register(in: manager, configuration: configuration, informers: informers)
        let restoreController = RestoreSessionController.register(
            in: manager, configuration: configuration, informers: informers, dataPlane: dataPlane)
        _ = BackupScheduleController.register(
            in: manager, configuration: configuration, informers: informers, dataPlane: dataPlane)

        let separateMetrics: (host: String, port: Int)? =
            if let metricsAddress, metricsAddress.host != health?.host || metricsAddress.port != health?.port {
                metricsAddress
            } else {
                nil
            }

        logger.info(
            "starting kubesnap operator",
            metadata: [
                "namespace": "\(configuration.namespace ?? "(all)")", "workers": "\(configuration.workers)",
                "leaderElect": "\(configuration.leaderElect)", "sourceRoot": "\(configuration.sourceRoot)",
                "repositoryRoot": "\(configuration.repositoryRoot)",
            ])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await manager.run() }
            group.addTask { await mover.run() }
            group.addTask {
                for await key in mover.completions { snapshotController.queue.add(key) }
            }
            group.addTask {
                for await key in mover.restoreCompletions { restoreController.queue.add(key) }
            }
            group.addTask { await batcher.run() }
            group.addTask {
                for await key in batcher.completions { snapshotController.queue.add(key) }
            }
            group.addTask {
                for await key in catalog.completions { snapshotController.queue.add(key) }
            }
            group.addTask {
                for await key in refreshes {
                    repositoryReconciler.requestRefresh(key)
                    repositoryController.queue.add(key)
                }
            }
            if let separateMetrics {
                group.addTask {
                    try await HealthServer(host: separateMetrics.host, port: separateMetrics.port, metrics: metrics) { [] }
                        .run()
                }
            }
            group.addTask {
                // Cancellation of run() is the graceful shutdown of the manager.
                await withTaskCancellationHandler {
                    await Latch().wait()
                } onCancel: {
                    manager.shutdown()
                }
            }
            // The manager ends on a graceful shutdown (or fails): stop everything else.
            do {
                try await group.next()
            } catch {
                group.cancelAll()
                refreshContinuation.finish()
                batcher.finish()
                catalog.finish()
                throw error
            }
            group.cancelAll()
            refreshContinuation.finish()
            batcher.finish()
            catalog.finish()
        }
        logger.info("kubesnap operator stopped")
    }
}
