import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI

/// The BackupSchedule controller's wiring: its sessions' and Snapshots' changes (through the
/// `kubesnap.io/schedule` label), Repositories appearing, and RestoreSessions (which hold
/// Snapshots back from retention) wake the schedule; the clock's jumps wake every schedule.
enum BackupScheduleController {
    static func register(
        in manager: Manager, configuration: OperatorConfiguration, informers: OperatorInformers,
        dataPlane: DataPlane
    ) -> Controller<BackupSchedule> {
        BackupScheduleIndex.add(sessions: informers.backupSessions, snapshots: informers.snapshots)
        let reconciler = BackupScheduleReconciler(
            client: manager.client, fieldManager: configuration.component,
            sessions: informers.backupSessions.store,
            snapshots: informers.snapshots.store, repositories: informers.repositories.store,
            restores: informers.restoreSessions.store, events: manager.events, clock: configuration.clock,
            sourceRoot: dataPlane.sourceRoot)
        let controller = manager.controller(
            "backupschedule", for: BackupSchedule.self, reconciler: reconciler,
            options: configuration.controllerOptions(),
            informerOptions: informers.options)
        let schedules = controller.primary.store
        controller.watches(informers.backupSessions, filter: .contentChanged) {
            BackupScheduleIndex.scheduleKey($0.metadata)
        }
        controller.watches(informers.snapshots, filter: .contentChanged) {
            BackupScheduleIndex.scheduleKey($0.metadata)
        }
        controller.watches(informers.repositories, filter: .changed { [$0.metadata.uid] }) { repository in
            schedules.list(namespace: repository.metadata.namespace ?? "").filter {
                $0.spec.repositories.contains(repository.metadata.name ?? "")
            }.compactMap { ObjectKey($0) }
        }
        let snapshots = informers.snapshots.store
        controller.watches(informers.restoreSessions, filter: .changed { [$0.status?.phase?.rawValue] }) {
            restore in
            snapshots.get(ObjectKey(namespace: restore.metadata.namespace, name: restore.spec.snapshot)).map {
                BackupScheduleIndex.scheduleKey($0.metadata)
            } ?? []
        }
        let queue = controller.queue
        configuration.clock.onJump {
            for key in schedules.keys { queue.add(key) }
        }
        return controller
    }
}
