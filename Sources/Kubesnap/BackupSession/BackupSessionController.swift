import KubeClient
import KubeController
import KubesnapAPI

/// The BackupSession controller's wiring: a Snapshot's progress updates its session.
enum BackupSessionController {
    static func register(
        in manager: Manager, configuration: OperatorConfiguration, informers: OperatorInformers
    ) -> Controller<BackupSession> {
        let reconciler = BackupSessionReconciler(
            client: manager.client, fieldManager: configuration.component, snapshots: informers.snapshots.store,
            events: manager.events)
        let controller = manager.controller(
            "backupsession", for: BackupSession.self, reconciler: reconciler,
            options: configuration.controllerOptions(),
            informerOptions: informers.options)
        controller.watches(informers.snapshots, filter: .contentChanged) { snapshot in
            guard let invoker = snapshot.spec.invoker, invoker.kind == BackupSession.kind else { return [] }
            return [ObjectKey(namespace: snapshot.metadata.namespace, name: invoker.name)]
        }
        return controller
    }
}
