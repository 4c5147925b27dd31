import KubeClient
import KubeJSON

/// One restore of a Snapshot into a directory (`kubectl get rst`). A finished RestoreSession is a
/// record: it is never re-run.
public struct RestoreSession: HasStatus, Hashable {
    public static let names = CRDNames(
        kind: "RestoreSession", plural: "restoresessions", singular: "restoresession", shortNames: ["rst"])
    public static let apiResource = names.apiResource
    public static var kind: String { names.kind }

    public var apiVersion: String = Kubesnap.apiVersion
    public var kind: String = RestoreSession.kind
    public var metadata: ObjectMeta
    public var spec: RestoreSessionSpec
    public var status: RestoreSessionStatus?

    public init(metadata: ObjectMeta, spec: RestoreSessionSpec, status: RestoreSessionStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The name of the safety Snapshot taken of the target first: `<restore>-pre-restore`.
    public static func preRestoreSnapshotName(restore: String) -> String { "\(restore)-pre-restore" }
}

/// What to restore, and where.
public struct RestoreSessionSpec: Codable, Sendable, Hashable {
    /// A Snapshot in the same namespace (immutable).
    public var snapshot: String
    /// Where to restore; nil means the Snapshot's own source.
    public var target: RestoreTarget?
    /// Snapshot the target before writing to it (default true).
    public var preRestoreSnapshot: Bool?

    public init(snapshot: String, target: RestoreTarget? = nil, preRestoreSnapshot: Bool? = nil) {
        self.snapshot = snapshot
        self.target = target
        self.preRestoreSnapshot = preRestoreSnapshot
    }

    /// `preRestoreSnapshot` with its default.
    public var takesPreRestoreSnapshot: Bool { preRestoreSnapshot ?? true }
}

/// A restore target: a directory today (a database comes with the PostgreSQL source).
public struct RestoreTarget: Codable, Sendable, Hashable {
    /// A directory, confined to the operator's source root; relative paths are taken against it.
    public var path: String?

    public init(path: String? = nil) { self.path = path }
}

/// The observed state of a RestoreSession.
public struct RestoreSessionStatus: ObjectStatus, Hashable {
    public var phase: RestoreSessionPhase?
    /// The restic snapshot restored (full id).
    public var snapshotID: String?
    /// The target as resolved: the Target column.
    public var target: String?
    /// The safety Snapshot's name, if one was taken.
    public var preRestoreSnapshot: String?
    public var restoredFiles: Int64?
    public var restoredBytes: Int64?
    /// "" until checked, then "OK" or the error.
    public var verificationStatus: String?
    public var startTime: String?
    public var completionTime: String?
    /// completionTime - startTime for people: the Duration column.
    public var duration: String?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}
}

/// `RestoreSession.status.phase`.
public enum RestoreSessionPhase: OpenStringEnum {
    case pending, running, succeeded, failed
    case unknown(String)

    public static let knownValues: [RestoreSessionPhase] = [.pending, .running, .succeeded, .failed]

    public var rawValue: String {
        switch self {
        case .pending: return "Pending"
        case .running: return "Running"
        case .succeeded: return "Succeeded"
        case .failed: return "Failed"
        case .unknown(let value): return value
        }
    }

    /// Succeeded or Failed: the session is a record from then on.
    public var isFinished: Bool { self == .succeeded || self == .failed }
}
