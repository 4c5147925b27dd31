import KubeClient
import KubeJSON
import KubesnapAPI

/// The API resources kubesnap reads and writes.
public enum KubesnapResources {
    public static let repositories = APIResource(
        group: Kubesnap.group, version: Kubesnap.version, resource: Repository.plural, kind: Repository.kind,
        namespaced: true)
    public static let snapshots = APIResource(
        group: Kubesnap.group, version: Kubesnap.version, resource: Snapshot.plural, kind: Snapshot.kind,
        namespaced: true)
    public static let backupSessions = APIResource(
        group: Kubesnap.group, version: Kubesnap.version, resource: BackupSession.plural, kind: BackupSession.kind,
        namespaced: true)
}

/// Names of the informer-cache indexes the reconcilers use. Values are namespace-qualified.
public enum KubesnapIndex {
    /// Snapshots by `namespace/spec.repository`.
    public static let snapshotsByRepository = "snapshots-by-repository"
    /// Snapshots by `namespace/invokerKind/invokerName`.
    public static let snapshotsByInvoker = "snapshots-by-invoker"
    /// Snapshots by `backendRepository#resticSnapshotID` (the adopted or captured restic snapshot).
    public static let snapshotsByResticID = "snapshots-by-restic-id"
    /// Repositories by `namespace/secretName` (encryption and S3 credentials Secrets).
    public static let repositoriesBySecret = "repositories-by-secret"
    /// Repositories by backend location (`local:/abs/path`, `s3:host/bucket/prefix`).
    public static let repositoriesByLocation = "repositories-by-location"

    static func snapshotRepositoryValue(_ snapshot: JSONValue) -> [String] {
        guard let repository = snapshot["spec"]["repository"].stringValue else { return [] }
        return ["\(snapshot.namespace ?? "")/\(repository)"]
    }

    static func snapshotInvokerValue(_ snapshot: JSONValue) -> [String] {
        guard let kind = snapshot["spec"]["invoker"]["kind"].stringValue,
            let name = snapshot["spec"]["invoker"]["name"].stringValue
        else { return [] }
        return [invokerValue(namespace: snapshot.namespace ?? "", kind: kind, name: name)]
    }

    static func invokerValue(namespace: String, kind: String, name: String) -> String {
        "\(namespace)/\(kind)/\(name)"
    }

    static func snapshotResticIDValue(_ snapshot: JSONValue) -> [String] {
        guard let backend = snapshot["status"]["backendRepository"].stringValue,
            let id = snapshot["status"]["snapshotID"].stringValue, !id.isEmpty
        else { return [] }
        return [resticIDValue(location: backend, id: id)]
    }

    static func resticIDValue(location: String, id: String) -> String { "\(location)#\(id)" }

    static func repositorySecretValues(_ repository: JSONValue) -> [String] {
        let namespace = repository.namespace ?? ""
        var values: [String] = []
        if let name = repository["spec"]["encryptionSecret"]["name"].stringValue { values.append("\(namespace)/\(name)") }
        if let name = repository["spec"]["backend"]["s3"]["credentialsSecret"].stringValue {
            values.append("\(namespace)/\(name)")
        }
        return values
    }
}
