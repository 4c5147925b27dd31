import Foundation
import KubeClient
import KubeJSON

/// Unattended backups: a BackupSession at each scheduled time, and retention over the Snapshots
/// the schedule made (`kubectl get bsched`).
public struct BackupSchedule: HasStatus, Hashable {
    public static let names = CRDNames(
        kind: "BackupSchedule", plural: "backupschedules", singular: "backupschedule", shortNames: ["bsched"])
    public static let apiResource = names.apiResource
    public static var kind: String { names.kind }

    /// A schedule's name has at most this many characters, so that its sessions' names
    /// (`<schedule>-YYYYMMDD-HHMMSS`) fit a label value (63).
    public static let maxNameLength = 47

    public var apiVersion: String = Kubesnap.apiVersion
    public var kind: String = BackupSchedule.kind
    public var metadata: ObjectMeta
    public var spec: BackupScheduleSpec
    public var status: BackupScheduleStatus?

    public init(metadata: ObjectMeta, spec: BackupScheduleSpec, status: BackupScheduleStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The name of the run scheduled at `time`: `<schedule>-<YYYYMMDD>-<HHMMSS>` in UTC. The
    /// name is the run's identity (a second create of it answers AlreadyExists).
    public static func sessionName(schedule: String, time: Date) -> String {
        "\(schedule)-\(sessionTimeFormat(time))"
    }

    /// `YYYYMMDD-HHMMSS` of `time` in UTC.
    static func sessionTimeFormat(_ time: Date) -> String {
        let seconds = Int64(floor(time.timeIntervalSince1970))
        let day = floorDiv(seconds, 86_400)
        let civil = CivilDate(daysSinceEpoch: day)
        let second = Int(seconds - day * 86_400)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = String(civil.year)
        return
            "\(year)\(two(civil.month))\(two(civil.day))-\(two(second / 3600))\(two(second / 60 % 60))\(two(second % 60))"
    }
}

/// What to back up, when, and how much of it to keep.
public struct BackupScheduleSpec: Codable, Sendable, Hashable {
    /// 5-field cron, an `@` macro, or `@every <duration>` (see `CronSchedule`).
    public var schedule: String
    /// IANA zone name the cron fields are read in; nil or empty: UTC.
    public var timeZone: String?
    public var source: SnapshotSource
    /// One Snapshot per repository at each run.
    public var repositories: [String]
    /// Given to the sessions (and so to the Snapshots) the schedule makes.
    public var deletionPolicy: DeletionPolicy?
    public var suspend: Bool?
    /// A run missed by more than this is skipped, not run late; nil: no deadline.
    public var startingDeadlineSeconds: Int64?
    public var retention: RetentionSpec?

    public init(
        schedule: String, timeZone: String? = nil, source: SnapshotSource, repositories: [String],
        deletionPolicy: DeletionPolicy? = nil, suspend: Bool? = nil, startingDeadlineSeconds: Int64? = nil,
        retention: RetentionSpec? = nil
    ) {
        self.schedule = schedule
        self.timeZone = timeZone
        self.source = source
        self.repositories = repositories
        self.deletionPolicy = deletionPolicy
        self.suspend = suspend
        self.startingDeadlineSeconds = startingDeadlineSeconds
        self.retention = retention
    }

    public var isSuspended: Bool { suspend ?? false }
}

/// `spec.retention`: restic's `forget --keep-*` rules, per repository, over the schedule's own
/// Snapshots.
public struct RetentionSpec: Codable, Sendable, Hashable {
    public var keepLast: Int?
    public var keepHourly: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?
    /// A duration with units s, m, h, d, w (`90d`, `4w`).
    public var maxAge: String?
    /// The newest failed Snapshots kept for inspection (default 1).
    public var keepFailed: Int?
    /// true: `status.retention.wouldDelete` lists what would go; nothing is deleted.
    public var dryRun: Bool?

    public init(
        keepLast: Int? = nil, keepHourly: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil,
        keepMonthly: Int? = nil, keepYearly: Int? = nil, maxAge: String? = nil, keepFailed: Int? = nil,
        dryRun: Bool? = nil
    ) {
        self.keepLast = keepLast
        self.keepHourly = keepHourly
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
        self.maxAge = maxAge
        self.keepFailed = keepFailed
        self.dryRun = dryRun
    }
}

/// The observed state of a BackupSchedule.
public struct BackupScheduleStatus: ObjectStatus, Hashable {
    /// The scheduled time of the last run started.
    public var lastScheduleTime: String?
    /// The next scheduled time not yet handled (run or counted missed).
    public var nextScheduleTime: String?
    /// When the last successful session completed.
    public var lastSuccessfulTime: String?
    public var lastSession: String?
    /// Sessions still running.
    public var active: [String]?
    /// Runs skipped: deadline passed, suspended, or the previous still running.
    public var missedRuns: Int64?
    public var retention: RetentionStatus?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}
}

/// `status.retention`.
public struct RetentionStatus: Codable, Sendable, Hashable {
    public var lastAppliedTime: String?
    /// The schedule's Snapshots retention keeps now.
    public var kept: Int64?
    /// Snapshots retention has deleted, in all.
    public var deleted: Int64?
    /// With dryRun: the Snapshots the policy would delete now.
    public var wouldDelete: [String]?

    public init() {}
}

extension Kubesnap.Label {
    /// On the BackupSessions and Snapshots a BackupSchedule makes: the schedule's name.
    public static let schedule = "kubesnap.io/schedule"
}

extension Kubesnap.Annotation {
    /// On a BackupSession a schedule made: its scheduled time (RFC 3339, UTC).
    public static let scheduledTime = "kubesnap.io/scheduled-time"
}
