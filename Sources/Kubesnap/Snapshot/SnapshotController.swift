import KubeClient
import KubeController
import KubesnapAPI
import Logging

/// The Snapshot controller's wiring: its indexes, what wakes a Snapshot, and its reconciler.
enum SnapshotController {
    static func register(
        in manager: Manager, configuration: OperatorConfiguration, informers: OperatorInformers,
        dataPlane: DataPlane, deletionGuard: DeletionGuard,
        refreshRepository: @escaping @Sendable (ObjectKey) -> Void, logger: Logger
    ) -> Controller<Snapshot> {
        SnapshotIndex.add(to: informers.snapshots)
        let reconciler = SnapshotReconciler(
            client: manager.client, configuration: configuration, repositories: informers.repositories.store,
            snapshots: informers.snapshots.store, restoreSessions: informers.restoreSessions.store,
            events: manager.events, dataPlane: dataPlane,
            deletionGuard: deletionGuard, refreshRepository: refreshRepository, logger: logger)
        let controller = manager.controller(
            "snapshot", for: Snapshot.self, reconciler: reconciler,
            options: configuration.controllerOptions(),
            informerOptions: informers.options)
        deletionGuard.watchDeletions(of: informers.snapshots)

        let snapshots = informers.snapshots.store
        let repositories = informers.repositories.store
        // A Repository's phase change wakes the Snapshots that wait for it (not the finished ones).
        controller.watches(
            informers.repositories,
            filter: .changed { [$0.status?.phase?.rawValue, $0.metadata.deletionTimestamp] }
        ) { repository in
            waiting(on: repository, in: snapshots)
        }
        // A Secret that appears or changes wakes the waiting Snapshots of the Repositories using it
        // (their reconcile reads the password from the Secret cache).
        controller.watches(informers.secrets, filter: .contentChanged) { secret in
            repositories.byIndex(RepositoryIndex.bySecret, RepositoryIndex.secretValue(secret)).flatMap {
                waiting(on: $0, in: snapshots)
            }
        }
        // A restore that ends (or goes) lets the deletion of the Snapshot it read go on
        // (RestoreInProgress): only Snapshots being deleted are woken.
        controller.watches(informers.restoreSessions, filter: .changed { $0.status?.phase?.rawValue }) {
            session in
            let key = ObjectKey(namespace: session.metadata.namespace, name: session.spec.snapshot)
            return snapshots.get(key)?.metadata.deletionTimestamp != nil ? [key] : []
        }
        return controller
    }

    /// The Snapshots of `repository` that its change may unblock: not finished, being deleted,
    /// or not yet verified.
    static func waiting(on repository: Repository, in snapshots: Store<Snapshot>) -> [ObjectKey] {
        let value = SnapshotIndex.repositoryValue(
            namespace: repository.metadata.namespace ?? "", name: repository.metadata.name ?? "")
        return snapshots.byIndex(SnapshotIndex.byRepository, value).filter(waitsForRepository).compactMap { ObjectKey($0) }
    }

    static func waitsForRepository(_ snapshot: Snapshot) -> Bool {
        if snapshot.metadata.deletionTimestamp != nil { return true }
        let phase = snapshot.status?.phase ?? .pending
        if !phase.isFinished { return true }
        return phase == .ready && (snapshot.status?.verificationStatus ?? "").isEmpty
    }
}
