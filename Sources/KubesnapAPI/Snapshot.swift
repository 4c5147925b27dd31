import KubeClient
import KubeJSON

/// One point-in-time copy of a source, stored in one repository (`kubectl get snap`).
public struct Snapshot: HasStatus, Hashable {
    public static let names = CRDNames(kind: "Snapshot", plural: "snapshots", singular: "snapshot", shortNames: ["snap"])
    public static let apiResource = names.apiResource
    public static var kind: String { names.kind }

    public var apiVersion: String = Kubesnap.apiVersion
    public var kind: String = Snapshot.kind
    public var metadata: ObjectMeta
    public var spec: SnapshotSpec
    public var status: SnapshotStatus?

    public init(metadata: ObjectMeta, spec: SnapshotSpec, status: SnapshotStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct SnapshotSpec: Codable, Sendable, Hashable {
    /// A Repository in the same namespace (immutable).
    public var repository: String
    /// Dynamic snapshot: take a new copy of this source (immutable). Exactly one of `source`
    /// and `snapshotID`.
    public var source: SnapshotSource?
    /// Static snapshot: adopt this restic snapshot (immutable).
    public var snapshotID: String?
    /// No schema default: read `effectiveDeletionPolicy` (Delete with a source, Retain with a
    /// snapshotID).
    public var deletionPolicy: DeletionPolicy?
    public var description: String?
    /// Set by kubesnap when a BackupSession made this Snapshot.
    public var invoker: Invoker?

    public init(
        repository: String, source: SnapshotSource? = nil, snapshotID: String? = nil,
        deletionPolicy: DeletionPolicy? = nil, description: String? = nil, invoker: Invoker? = nil
    ) {
        self.repository = repository
        self.source = source
        self.snapshotID = snapshotID
        self.deletionPolicy = deletionPolicy
        self.description = description
        self.invoker = invoker
    }

    /// Delete for a dynamic snapshot, Retain for an adopted one, unless the spec says otherwise.
    public var effectiveDeletionPolicy: DeletionPolicy {
        deletionPolicy ?? (snapshotID != nil && source == nil ? .retain : .delete)
    }
}

/// What made a Snapshot.
public struct Invoker: Codable, Sendable, Hashable {
    public var kind: String
    public var name: String

    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }
}

public struct SnapshotStatus: ObjectStatus, Hashable {
    public var phase: SnapshotPhase?
    /// The full restic snapshot id.
    public var snapshotID: String?
    /// The repository's backend URL, e.g. `local:/var/lib/kubesnap/repositories/demo/app`.
    public var backendRepository: String?
    /// When the data was captured (RFC 3339).
    public var snapshotTime: String?
    public var sizeBytes: Int64?
    public var fileCount: Int64?
    /// "" until verified, then "OK" or the verification error.
    public var verificationStatus: String?
    public var lastVerifiedTime: String?
    /// The value of the `kubesnap.io/verify-requested` annotation last acted on, so that only a
    /// new value triggers another verification.
    public var lastVerifyRequest: String?
    /// The deletion policy in force: `spec.deletionPolicy`, or its default (Delete with a
    /// source, Retain with a snapshotID); an unknown value shows as Retain, which is what
    /// kubesnap applies. The console's Deletion Policy column.
    public var deletionPolicy: String?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}
}
