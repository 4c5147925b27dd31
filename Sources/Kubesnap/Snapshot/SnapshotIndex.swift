import KubeController
import KubesnapAPI

/// The Snapshot cache's indexes. Values are namespace-qualified.
enum SnapshotIndex {
    /// Snapshots by `namespace/spec.repository`.
    static let byRepository = "snapshots-by-repository"
    /// Snapshots by `namespace/invokerKind/invokerName`.
    static let byInvoker = "snapshots-by-invoker"
    /// Snapshots by `backendRepository#resticSnapshotID` (the adopted or captured restic snapshot).
    static let byResticID = "snapshots-by-restic-id"

    static func add(to informer: Informer<Snapshot>) {
        informer.addIndex(byRepository) { [repositoryValue(namespace: $0.metadata.namespace ?? "", name: $0.spec.repository)] }
        informer.addIndex(byInvoker) { snapshot in
            guard let invoker = snapshot.spec.invoker else { return [] }
            return [invokerValue(namespace: snapshot.metadata.namespace ?? "", kind: invoker.kind, name: invoker.name)]
        }
        informer.addIndex(byResticID) { snapshot in
            guard let backend = snapshot.status?.backendRepository, let id = snapshot.status?.snapshotID, !id.isEmpty
            else { return [] }
            return [resticIDValue(location: backend, id: id)]
        }
    }

    static func repositoryValue(namespace: String, name: String) -> String { "\(namespace)/\(name)" }

    static func invokerValue(namespace: String, kind: String, name: String) -> String {
        "\(namespace)/\(kind)/\(name)"
    }

    static func resticIDValue(location: String, id: String) -> String { "\(location)#\(id)" }
}
