import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI
import Logging
import Restic

/// Immutable fields of a Ready Snapshot compared with the data it holds.
extension SnapshotReconciler {
    /// The type and reason of the condition (and the reason of the Warning Event) saying that an
    /// immutable field of a Ready Snapshot was changed.
    static let immutableFieldChanged = "ImmutableFieldChanged"

    /// Immutable fields of a Ready Snapshot (`spec.repository`, `spec.source.path`,
    /// `spec.snapshotID`) that no longer describe the data it holds, one message per field.
    ///
    /// The CRD's validation rules reject such changes, but an API server with an older CRD (no
    /// rules) lets them through. kubesnap then keeps the data as taken (status.snapshotID and
    /// status.backendRepository are what it holds; deletion and verification go by them) and
    /// reports the change. It compares the spec with what status recorded, and `spec.source.path`
    /// with the path restic recorded in the snapshot: a repository listing (shared, see
    /// `SnapshotCatalog`), looked at only when the generation changed, never on a resync.
    func immutableFieldChanges(_ snapshot: Snapshot, _ current: SnapshotStatus) async throws -> [String] {
        guard let id = current.snapshotID, !id.isEmpty else { return [] }
        let namespace = snapshot.metadata.namespace ?? ""
        let repository = repositories.get(ObjectKey(namespace: namespace, name: snapshot.spec.repository))
        // A Repository whose backend does not resolve is reported on itself (InvalidSpec), and
        // nothing can be compared through it: dropped here.
        let location = repository.flatMap { try? access.backend(of: $0).location() }
        if let recorded = current.backendRepository, let location, location != recorded {
            // The other fields cannot be compared through another repository.
            return [
                "spec.repository changed to \"\(snapshot.spec.repository)\" (\(location)) after the snapshot was taken; its data is in \(recorded)"
            ]
        }
        var changes: [String] = []
        if let wanted = snapshot.spec.snapshotID, !wanted.isEmpty, !id.hasPrefix(wanted) {
            changes.append("spec.snapshotID changed to \"\(wanted)\"; this Snapshot holds restic snapshot \(id.prefix(8))")
        }
        if let source = snapshot.spec.source, let repository {
            // A path outside --source-root is the spec step's InvalidSpec; here it only means
            // there is no path to compare.
            let wantedPath = try? sourceRoot.confine(source.path, field: "spec.source.path").resolvedPath
            let info: SnapshotInfo?
            do {
                info = try await catalog.find(id: id, in: access.open(repository))
            } catch {
                if Task.isCancelled { throw error }
                let summary = FailureSummary(error, defaultReason: Kubesnap.Reason.backendUnreachable)
                if summary.transient { throw KubesnapError.backendUnreachable(summary.message) }
                return changes  // the repository cannot say what was captured
            }
            if let info, wantedPath.map({ !info.paths.contains($0) }) ?? true {
                changes.append(
                    "spec.source.path changed to \"\(source.path)\"; restic snapshot \(info.shortID) holds \(info.paths.joined(separator: ", "))")
            }
        }
        return changes
    }
}
