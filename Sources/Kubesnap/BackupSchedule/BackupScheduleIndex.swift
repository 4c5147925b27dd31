import KubeController
import KubeJSON
import KubesnapAPI

/// The indexes a schedule reads its own objects through: BackupSessions and Snapshots by their
/// `kubesnap.io/schedule` label, as `namespace/schedule`.
enum BackupScheduleIndex {
    static let sessionsBySchedule = "backupsessions-by-schedule"
    static let snapshotsBySchedule = "snapshots-by-schedule"

    static func add(sessions: Informer<BackupSession>, snapshots: Informer<Snapshot>) {
        sessions.addIndex(sessionsBySchedule) { labelValue($0.metadata) }
        snapshots.addIndex(snapshotsBySchedule) { labelValue($0.metadata) }
    }

    static func value(_ key: ObjectKey) -> String { "\(key.namespace)/\(key.name)" }

    static func labelValue(_ metadata: ObjectMeta) -> [String] {
        guard let schedule = metadata.labels?[Kubesnap.Label.schedule], !schedule.isEmpty else { return [] }
        return ["\(metadata.namespace ?? "")/\(schedule)"]
    }

    /// The schedule whose label `metadata` carries.
    static func scheduleKey(_ metadata: ObjectMeta) -> [ObjectKey] {
        guard let schedule = metadata.labels?[Kubesnap.Label.schedule], !schedule.isEmpty else { return [] }
        return [ObjectKey(namespace: metadata.namespace, name: schedule)]
    }
}
