import KubeClient
import KubeJSON

/// Names fixed by API.md: group, version, finalizer, labels, annotations, condition types and
/// reasons.
public enum Kubesnap {
    public static let group = "kubesnap.io"
    public static let version = "v1alpha1"
    /// `kubesnap.io/v1alpha1`.
    public static let apiVersion = "\(group)/\(version)"
    /// The category every kind is in (`kubectl get kubesnap -A`).
    public static let category = "kubesnap"
    /// The finalizer kubesnap puts on each kind that needs one.
    public static let finalizer = "kubesnap.io/finalizer"

    /// Labels the operator sets on the Snapshots it creates.
    public enum Label {
        public static let repository = "kubesnap.io/repository"
        public static let invokerKind = "kubesnap.io/invoker-kind"
        public static let invokerName = "kubesnap.io/invoker-name"
        /// On a pre-restore Snapshot: the RestoreSession it protects.
        public static let preRestoreOf = "kubesnap.io/pre-restore-of"
    }

    /// Annotations users set (and one kubesnap sets).
    public enum Annotation {
        /// Any new value asks for the Snapshot to be verified again.
        public static let verifyRequested = "kubesnap.io/verify-requested"
        /// `"true"` releases the finalizer without touching backend data (the documented way out
        /// of a stuck Terminating object when the backend is gone for good).
        public static let skipDataDeletion = "kubesnap.io/skip-data-deletion"
        /// Set by kubesnap on a Repository (not by users): Snapshots of it were forgotten and the
        /// space they held waits for a prune. The value is the batch's time and a tag; the prune
        /// removes it.
        public static let prunePending = "kubesnap.io/prune-pending"
        /// On a Repository whose restic repository was lost or replaced: the lost
        /// `status.repositoryID`, the one explicit way to start afresh there (a wrong id is refused).
        public static let reinitialize = "kubesnap.io/reinitialize"
        /// `"true"` on a RestoreSession lets it restore a Snapshot whose verification is not OK.
        public static let restoreUnverified = "kubesnap.io/restore-unverified"
    }

    /// `status.conditions[].type` values.
    public enum ConditionType {
        public static let ready = "Ready"
        public static let verified = "Verified"
        /// A stale restic lock was found on the repository.
        public static let staleLock = "StaleLock"
        /// A RestoreSession's: the restore ended (True on success).
        public static let completed = "Completed"
    }

    /// `status.conditions[].reason` values named in API.md.
    public enum Reason {
        public static let invalidSpec = "InvalidSpec"
        public static let secretNotFound = "SecretNotFound"
        public static let authenticationFailed = "AuthenticationFailed"
        public static let backendUnreachable = "BackendUnreachable"
        public static let backendInUse = "BackendInUse"
        public static let repositoryNotFound = "RepositoryNotFound"
        public static let sourceNotFound = "SourceNotFound"
        public static let snapshotNotFound = "SnapshotNotFound"
        public static let alreadyAdopted = "AlreadyAdopted"
        public static let cancelled = "Cancelled"
        public static let backupFailed = "BackupFailed"
        public static let interrupted = "Interrupted"
        /// The Repository's restic repository (its `status.repositoryID`) is no longer at its location.
        public static let repositoryLost = "RepositoryLost"
        /// The Repository's location holds another restic repository (another id).
        public static let repositoryReplaced = "RepositoryReplaced"
        /// The `kubesnap.io/reinitialize` annotation does not name the lost repository id.
        public static let reinitializeRefused = "ReinitializeRefused"
        /// A Ready Snapshot's restic snapshot is not in its repository's listing.
        public static let snapshotMissing = "SnapshotMissing"
        /// A backup's source directory is empty where the previous Snapshot of it had files.
        public static let sourceEmpty = "SourceEmpty"
        public static let snapshotNotReady = "SnapshotNotReady"
        public static let snapshotNotVerified = "SnapshotNotVerified"
        public static let targetBusy = "TargetBusy"
        public static let preRestoreSnapshotFailed = "PreRestoreSnapshotFailed"
        public static let restoreFailed = "RestoreFailed"
        public static let verificationFailed = "VerificationFailed"
        /// An adopted Snapshot's `Verified` condition: it is read back only on request.
        public static let verificationNotRequested = "NotRequested"
        /// A Snapshot's deletion waits for the unfinished RestoreSessions that read it.
        public static let restoreInProgress = "RestoreInProgress"
    }
}

/// The names a kubesnap kind's CRD gives it. Each kind is a `KubeResource` whose `apiResource`
/// comes from these.
public struct CRDNames: Sendable, Hashable {
    public var kind: String
    public var plural: String
    public var singular: String
    public var shortNames: [String]
    public var categories: [String] { [Kubesnap.category] }
    /// `repositories.kubesnap.io`, the CRD's name.
    public var crdName: String { "\(plural).\(Kubesnap.group)" }

    public var apiResource: APIResource {
        APIResource(group: Kubesnap.group, version: Kubesnap.version, resource: plural, kind: kind, namespaced: true)
    }
}

extension Kubesnap {
    /// Every kind kubesnap defines, as its CRDs name them.
    public static let kinds: [CRDNames] = [
        Repository.names, Snapshot.names, BackupSession.names, RestoreSession.names, BackupSchedule.names,
    ]
}

/// A reference to one key of a Secret in the same namespace.
public struct SecretKeySelector: Codable, Sendable, Hashable {
    public var name: String
    /// Defaults to "password" (CRD default); read `effectiveKey`.
    public var key: String?

    public init(name: String, key: String? = nil) {
        self.name = name
        self.key = key
    }

    public var effectiveKey: String { (key?.isEmpty ?? true) ? "password" : key ?? "password" }
}

/// What to snapshot. Only a directory today; database and volume sources come later.
public struct SnapshotSource: Codable, Sendable, Hashable {
    /// A directory the data mover can read; relative paths are taken against the source root.
    public var path: String

    public init(path: String) { self.path = path }
}
