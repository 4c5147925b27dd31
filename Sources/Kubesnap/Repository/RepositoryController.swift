import KubeClient
import KubeController
import KubesnapAPI

/// The Repository controller's wiring: its indexes, what wakes a Repository, and its reconciler.
enum RepositoryController {
    static func register(
        in manager: Manager, configuration: OperatorConfiguration, informers: OperatorInformers,
        dataPlane: DataPlane, deletionGuard: DeletionGuard
    ) -> (controller: Controller<Repository>, reconciler: RepositoryReconciler) {
        RepositoryIndex.add(to: informers.repositories, access: dataPlane.access)
        let reconciler = RepositoryReconciler(
            client: manager.client, configuration: configuration, repositories: informers.repositories.store,
            snapshots: informers.snapshots.store, events: manager.events, dataPlane: dataPlane,
            deletionGuard: deletionGuard)
        let controller = manager.controller(
            "repository", for: Repository.self, reconciler: reconciler,
            options: configuration.controllerOptions(),
            informerOptions: informers.options)
        deletionGuard.watchDeletions(of: informers.repositories)

        let repositories = informers.repositories.store
        // A Secret's change re-checks the Repositories that use it.
        controller.watches(informers.secrets, filter: .contentChanged) { secret in
            repositories.keys(index: RepositoryIndex.bySecret, value: RepositoryIndex.secretValue(secret))
        }
        // A deleted Repository waits for its Snapshots to go.
        controller.watches(informers.snapshots, filter: .all) { snapshot in
            let key = ObjectKey(namespace: snapshot.metadata.namespace, name: snapshot.spec.repository)
            guard repositories.get(key)?.metadata.deletionTimestamp != nil else { return [] }
            return [key]
        }
        return (controller, reconciler)
    }
}
