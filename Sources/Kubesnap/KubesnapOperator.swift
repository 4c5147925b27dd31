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
        do {
            try FileManager.default.createDirectory(atPath: configuration.repositoryRoot, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: configuration.cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw KubesnapError.configuration("cannot create the repository root or cache directory: \(error.localizedDescription)")
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
        let manager = Manager(client: client, options: options, metrics: metrics, logger: logger)

        // Informers and their indexes.
        let informerOptions = InformerOptions(namespace: configuration.namespace, resyncPeriod: configuration.resyncPeriod)
        let repositories = manager.informer(for: KubesnapResources.repositories, options: informerOptions)
        let snapshots = manager.informer(for: KubesnapResources.snapshots, options: informerOptions)
        let sessions = manager.informer(for: KubesnapResources.backupSessions, options: informerOptions)
        let secrets = manager.informer(for: .secrets, options: InformerOptions(namespace: configuration.namespace))
        let namespaces = manager.informer(
            for: .namespaces,
            options: InformerOptions(fieldSelector: configuration.namespace.map { "metadata.name=\($0)" }))

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
            secrets: secrets.store, repositoryRoot: repositoryRoot, cacheDirectory: configuration.cacheDirectory,
            resticExecutable: configuration.resticExecutable, registry: registry,
            logger: Logger(label: "kubesnap.restic"))
        snapshots.addIndex(KubesnapIndex.snapshotsByRepository, KubesnapIndex.snapshotRepositoryValue)
        snapshots.addIndex(KubesnapIndex.snapshotsByInvoker, KubesnapIndex.snapshotInvokerValue)
        snapshots.addIndex(KubesnapIndex.snapshotsByResticID, KubesnapIndex.snapshotResticIDValue)
        repositories.addIndex(KubesnapIndex.repositoriesBySecret, KubesnapIndex.repositorySecretValues)
        repositories.addIndex(KubesnapIndex.repositoriesByLocation) { object in
            guard let repository = try? object.decode(Repository.self), let location = access.location(of: repository)
            else { return [] }
            return [location]
        }

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
        let repositoryCache = repositories.store
        let events = manager.events
        let batcher = PruneBatcher(
            window: configuration.pruneBatchWindow, pruneDelay: configuration.pruneDelay, gate: gate, catalog: catalog,
            refreshRepository: { refreshContinuation.yield($0) },
            recordPrune: { key, record in
                try await Self.recordPrune(record, on: key, client: client, cache: repositoryCache, events: events)
            })
        let context = ReconcileContext(
            client: client, configuration: configuration, repositories: repositories.store, snapshots: snapshots.store,
            backupSessions: sessions.store, secrets: secrets.store, namespaces: namespaces.store,
            events: manager.events, access: access, sourceRoot: sourceRoot, mover: mover, gate: gate,
            batcher: batcher, catalog: catalog, registry: registry,
            refreshRepository: { refreshContinuation.yield($0) }, logger: logger,
            namespacesSynced: { namespaces.hasSynced })

        // Deletions are timed as they arrive (see ReconcileContext.namespaceIsTerminating).
        snapshots.subscribe { context.deletionsSeen.observe($0) }
        repositories.subscribe { context.deletionsSeen.observe($0) }

        let controllerOptions = ControllerOptions(
            workers: configuration.workers, rateLimiter: ControllerRateLimiter(maxDelay: configuration.maxRetryDelay))
        let repositoryReconciler = RepositoryReconciler(context: context)
        let repositoryController = manager.controller(
            "repository", for: KubesnapResources.repositories, reconciler: repositoryReconciler,
            options: controllerOptions, informerOptions: informerOptions)
        let snapshotController = manager.controller(
            "snapshot", for: KubesnapResources.snapshots, reconciler: SnapshotReconciler(context: context),
            options: controllerOptions, informerOptions: informerOptions)
        let sessionController = manager.controller(
            "backupsession", for: KubesnapResources.backupSessions, reconciler: BackupSessionReconciler(context: context),
            options: controllerOptions, informerOptions: informerOptions)

        // A Secret's change re-checks the Repositories that use it.
        let repositoryStore = repositories.store
        let snapshotStore = snapshots.store
        repositoryController.watches(secrets, filter: .contentChanged) { secret in
            repositoryStore.keys(index: KubesnapIndex.repositoriesBySecret, value: "\(secret.namespace ?? "")/\(secret.name ?? "")")
        }
        // A deleted Repository waits for its Snapshots to go.
        repositoryController.watches(snapshots, filter: .all) { snapshot in
            guard let name = snapshot["spec"]["repository"].stringValue else { return [] }
            let key = ObjectKey(namespace: snapshot.namespace, name: name)
            guard let repository = repositoryStore.get(key), !repository["metadata"]["deletionTimestamp"].isNull else { return [] }
            return [key]
        }
        // A Repository's phase change wakes the Snapshots that wait for it (not the finished ones).
        snapshotController.watches(repositories, filter: Self.phaseOrDeletionChanged) { repository in
            snapshotStore.byIndex(
                KubesnapIndex.snapshotsByRepository, "\(repository.namespace ?? "")/\(repository.name ?? "")"
            ).filter(Self.waitsForRepository).compactMap { ObjectKey($0) }
        }
        // A Secret that appears or changes wakes the waiting Snapshots of the Repositories using it
        // (their reconcile reads the password from the Secret cache).
        snapshotController.watches(secrets, filter: .contentChanged) { secret in
            repositoryStore.byIndex(
                KubesnapIndex.repositoriesBySecret, "\(secret.namespace ?? "")/\(secret.name ?? "")"
            ).flatMap { repository in
                snapshotStore.byIndex(
                    KubesnapIndex.snapshotsByRepository, "\(repository.namespace ?? "")/\(repository.name ?? "")")
            }.filter(Self.waitsForRepository).compactMap { ObjectKey($0) }
        }
        // A Snapshot's progress updates its BackupSession.
        sessionController.watches(snapshots, filter: .contentChanged) { snapshot in
            guard snapshot["spec"]["invoker"]["kind"].stringValue == BackupSession.kind,
                let name = snapshot["spec"]["invoker"]["name"].stringValue
            else { return [] }
            return [ObjectKey(namespace: snapshot.namespace, name: name)]
        }

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

    /// Repository updates that change its phase or deletion state.
    static let phaseOrDeletionChanged = EventFilter { event in
        guard case .updated(let old, let new) = event else { return true }
        return old["status"]["phase"] != new["status"]["phase"]
            || old["metadata"]["deletionTimestamp"] != new["metadata"]["deletionTimestamp"]
    }

    /// Writes down an owed prune on Repository `key` (PruneBatcher): the annotation
    /// `kubesnap.io/prune-pending` set by a merge patch, removed (only while it still names the
    /// batch that was pruned) by a JSON patch with a test; a failed prune is a Warning Event.
    /// A Repository that is gone needs no record.
    static func recordPrune(
        _ record: PruneBatcher.PruneRecord, on key: ObjectKey, client: KubeClient, cache: Store, events: EventRecorder
    ) async throws {
        let annotation = Kubesnap.Annotation.prunePending
        let path = "/metadata/annotations/" + annotation.replacingOccurrences(of: "~", with: "~0")
            .replacingOccurrences(of: "/", with: "~1")
        let patch: (type: PatchType, body: JSONValue)
        switch record {
        case .owed(let token):
            patch = (.merge, ["metadata": ["annotations": [annotation: .string(token)]]])
        case .paid(let token):
            patch = (.json, [["op": "test", "path": .string(path), "value": .string(token)], ["op": "remove", "path": .string(path)]])
        case .failed(let message):
            if let object = cache.get(key) { events.warning(object, reason: "PruneFailed", message: message) }
            return
        }
        do {
            _ = try await client.patch(
                KubesnapResources.repositories, namespace: key.namespace, name: key.name, type: patch.type, patch.body)
        } catch {
            if error.isNotFound { return }
            throw KubesnapError.api(operation: "annotate Repository \(key.namespace)/\(key.name)", underlying: error)
        }
    }

    /// Snapshots that a Repository's change may unblock: not finished, being deleted, or not
    /// yet verified.
    static func waitsForRepository(_ snapshot: JSONValue) -> Bool {
        if !snapshot["metadata"]["deletionTimestamp"].isNull { return true }
        let phase = snapshot["status"]["phase"].stringValue.map(SnapshotPhase.init(rawValue:)) ?? .pending
        if !phase.isFinished { return true }
        return phase == .ready && (snapshot["status"]["verificationStatus"].stringValue ?? "").isEmpty
    }
}
