import KubeClient
import KubeJSON

/// One backup run: snapshots one source into one or more repositories (`kubectl get bs`).
public struct BackupSession: HasStatus, Hashable {
    public static let names = CRDNames(kind: "BackupSession", plural: "backupsessions", singular: "backupsession", shortNames: ["bs"])
    public static let apiResource = names.apiResource
    public static var kind: String { names.kind }

    public var apiVersion: String = Kubesnap.apiVersion
    public var kind: String = BackupSession.kind
    public var metadata: ObjectMeta
    public var spec: BackupSessionSpec
    public var status: BackupSessionStatus?

    public init(metadata: ObjectMeta, spec: BackupSessionSpec, status: BackupSessionStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The name of the Snapshot this session makes for `repository`: `<session>-<repository>`.
    public static func snapshotName(session: String, repository: String) -> String { "\(session)-\(repository)" }
}

public struct BackupSessionSpec: Codable, Sendable, Hashable {
    /// Immutable.
    public var source: SnapshotSource
    /// One Snapshot per repository (immutable, at least one, no duplicates).
    public var repositories: [String]
    /// Given to the Snapshots it creates (their default, Delete, when omitted).
    public var deletionPolicy: DeletionPolicy?

    public init(source: SnapshotSource, repositories: [String], deletionPolicy: DeletionPolicy? = nil) {
        self.source = source
        self.repositories = repositories
        self.deletionPolicy = deletionPolicy
    }
}

public struct BackupSessionStatus: ObjectStatus, Hashable {
    public var phase: BackupSessionPhase?
    public var snapshots: [BackupSessionSnapshot]?
    /// "ready/total", e.g. "1/2": the Snapshots column (JSONPath cannot count).
    public var snapshotsSummary: String?
    public var startTime: String?
    public var completionTime: String?
    /// completionTime - startTime for people ("1m32s"): the Duration column (JSONPath cannot subtract).
    public var duration: String?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}

    /// "ready/total" of `snapshots`.
    public static func summary(of snapshots: [BackupSessionSnapshot]) -> String {
        "\(snapshots.filter { $0.phase == .ready }.count)/\(snapshots.count)"
    }

    /// A duration the way kubectl prints ages: "45s", "1m32s", "2h3m".
    public static func formatDuration(seconds: Int64) -> String {
        let s = max(0, seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + (s % 60 == 0 ? "" : "\(s % 60)s") }
        if s < 86_400 { return "\(s / 3600)h" + ((s % 3600) / 60 == 0 ? "" : "\((s % 3600) / 60)m") }
        return "\(s / 86_400)d" + ((s % 86_400) / 3600 == 0 ? "" : "\((s % 86_400) / 3600)h")
    }
}

/// One Snapshot of a session, as the session last saw it.
public struct BackupSessionSnapshot: Codable, Sendable, Hashable {
    public var name: String
    public var repository: String
    public var phase: SnapshotPhase?

    public init(name: String, repository: String, phase: SnapshotPhase? = nil) {
        self.name = name
        self.repository = repository
        self.phase = phase
    }
}
