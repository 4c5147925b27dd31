import KubeClient
import KubeController
import KubesnapAPI

/// The RestoreSession controller's wiring: a change of a Snapshot (the one restored, or the
/// pre-restore one) or of a Repository wakes the unfinished sessions that use it. Its index
/// (`RestoreSessionIndex`) also serves the Snapshot controller, whose deletions wait for restores.
enum RestoreSessionController {
    static func register(
        in manager: Manager, configuration: OperatorConfiguration, informers: OperatorInformers, dataPlane: DataPlane
    ) -> Controller<RestoreSession> {
        RestoreSessionIndex.add(to: informers.restoreSessions)
        let reconciler = RestoreSessionReconciler(
            client: manager.client, fieldManager: configuration.component, snapshots: informers.snapshots.store,
            repositories: informers.repositories.store, events: manager.events, dataPlane: dataPlane)
        let controller = manager.controller(
            "restoresession", for: RestoreSession.self, reconciler: reconciler,
            options: configuration.controllerOptions(),
            informerOptions: informers.options)
        let sessions = informers.restoreSessions.store
        controller.watches(informers.snapshots, filter: .contentChanged) { snapshot in
            let namespace = snapshot.metadata.namespace ?? ""
            let name = snapshot.metadata.name ?? ""
            var keys: [ObjectKey] = []
            if let invoker = snapshot.spec.invoker, invoker.kind == RestoreSession.kind {
                keys.append(ObjectKey(namespace: namespace, name: invoker.name))
            }
            keys += RestoreSessionIndex.unfinished(restoring: name, in: namespace, from: sessions).compactMap {
                ObjectKey($0)
            }
            return keys
        }
        controller.watches(informers.repositories, filter: .changed { [$0.status?.phase?.rawValue] }) { repository in
            sessions.list().filter {
                $0.metadata.namespace == repository.metadata.namespace && !($0.status?.phase?.isFinished ?? false)
            }.compactMap { ObjectKey($0) }
        }
        return controller
    }
}
