import KubeClient
import KubeController
import KubesnapAPI

/// The informers the controllers share: one per kind, made by the manager (so each kind is
/// listed and watched once however many controllers read it).
struct OperatorInformers: Sendable {
    let options: InformerOptions
    let repositories: Informer<Repository>
    let snapshots: Informer<Snapshot>
    let backupSessions: Informer<BackupSession>
    let restoreSessions: Informer<RestoreSession>
    let secrets: Informer<Secret>
    /// Only the watched namespace when the operator is confined to one.
    let namespaces: Informer<Namespace>

    init(manager: Manager, configuration: OperatorConfiguration) {
        options = InformerOptions(namespace: configuration.namespace, resyncPeriod: configuration.resyncPeriod)
        repositories = manager.informer(for: Repository.self, options: options)
        snapshots = manager.informer(for: Snapshot.self, options: options)
        backupSessions = manager.informer(for: BackupSession.self, options: options)
        restoreSessions = manager.informer(for: RestoreSession.self, options: options)
        secrets = manager.informer(for: Secret.self, options: InformerOptions(namespace: configuration.namespace))
        namespaces = manager.informer(
            for: Namespace.self,
            options: InformerOptions(fieldSelector: configuration.namespace.map { "metadata.name=\($0)" }))
    }
}
