import KubeController
import KubesnapAPI

/// The RestoreSession cache's index. Values are namespace-qualified.
enum RestoreSessionIndex {
    /// RestoreSessions by `namespace/spec.snapshot`: the Snapshot controller finds the restores
    /// that hold a Snapshot's deletion, and the RestoreSession controller the sessions a
    /// Snapshot's change wakes.
    static let bySnapshot = "restoresessions-by-snapshot"

    static func add(to informer: Informer<RestoreSession>) {
        informer.addIndex(bySnapshot) {
            [snapshotValue(namespace: $0.metadata.namespace ?? "", name: $0.spec.snapshot)]
        }
    }

    static func snapshotValue(namespace: String, name: String) -> String { "\(namespace)/\(name)" }

    /// The RestoreSessions of `namespace` restoring the Snapshot `name` that have not finished
    /// (Pending or Running, or not yet reconciled).
    static func unfinished(restoring name: String, in namespace: String, from sessions: Store<RestoreSession>)
        -> [RestoreSession]
    {
        sessions.byIndex(bySnapshot, snapshotValue(namespace: namespace, name: name)).filter {
            !($0.status?.phase?.isFinished ?? false)
        }
    }
}
