import KubeClient
import KubeJSON

/// A restic repository on a storage backend (`kubectl get repo`).
public struct Repository: HasStatus, Hashable {
    public static let names = CRDNames(kind: "Repository", plural: "repositories", singular: "repository", shortNames: ["repo"])
    public static let apiResource = names.apiResource
    public static var kind: String { names.kind }

    public var apiVersion: String = Kubesnap.apiVersion
    public var kind: String = Repository.kind
    public var metadata: ObjectMeta
    public var spec: RepositorySpec
    public var status: RepositoryStatus?

    public init(metadata: ObjectMeta, spec: RepositorySpec, status: RepositoryStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

public struct RepositorySpec: Codable, Sendable, Hashable {
    /// Exactly one backend.
    public var backend: RepositoryBackend
    /// The restic repository password.
    public var encryptionSecret: SecretKeySelector
    /// Free text shown as the Target column.
    public var target: String?
    /// Retain (default) or Delete; read `effectiveDeletionPolicy`.
    public var deletionPolicy: DeletionPolicy?

    public init(
        backend: RepositoryBackend, encryptionSecret: SecretKeySelector, target: String? = nil,
        deletionPolicy: DeletionPolicy? = nil
    ) {
        self.backend = backend
        self.encryptionSecret = encryptionSecret
        self.target = target
        self.deletionPolicy = deletionPolicy
    }

    /// The policy in effect: Retain unless the spec says otherwise.
    public var effectiveDeletionPolicy: DeletionPolicy { deletionPolicy ?? .retain }
}

/// Where the repository lives: exactly one member is set.
public struct RepositoryBackend: Codable, Sendable, Hashable {
    public var local: LocalBackend?
    public var s3: S3Backend?

    public init(local: LocalBackend? = nil, s3: S3Backend? = nil) {
        self.local = local
        self.s3 = s3
    }

    /// The storage type of the one backend set, nil unless exactly one is set.
    public var storage: StorageType? {
        switch (local, s3) {
        case (.some, nil): return .local
        case (nil, .some): return .s3
        default: return nil
        }
    }
}

public struct LocalBackend: Codable, Sendable, Hashable {
    /// A directory the data mover can write; relative paths are taken against the repository root.
    public var path: String

    public init(path: String) { self.path = path }
}

public struct S3Backend: Codable, Sendable, Hashable {
    /// e.g. `http://127.0.0.1:9000`; empty means AWS.
    public var endpoint: String?
    public var bucket: String
    public var prefix: String?
    public var region: String?
    /// Name of a Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    public var credentialsSecret: String

    public init(endpoint: String? = nil, bucket: String, prefix: String? = nil, region: String? = nil, credentialsSecret: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.credentialsSecret = credentialsSecret
    }
}

public struct RepositoryStatus: ObjectStatus, Hashable {
    public var phase: RepositoryPhase?
    public var storage: StorageType?
    /// e.g. `local:/var/lib/kubesnap/repositories/demo/app` (never a credential).
    public var backendURL: String?
    public var sizeBytes: Int64?
    /// `sizeBytes` for people ("2.8 MiB").
    public var size: String?
    public var snapshotCount: Int64?
    /// restic's repository id (the `id` in its `config`), once the repository was opened; a
    /// location that no longer holds this id is never initialised again silently.
    public var repositoryID: String?
    /// "OK" or the error of the last repository integrity check.
    public var verificationStatus: String?
    public var lastVerifiedTime: String?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}
}
