import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubesnapAPI

/// Writes down an owed prune on a Repository (`PruneBatcher`'s record): the annotation
/// `kubesnap.io/prune-pending` set by a merge patch, removed (only while it still names the
/// batch that was pruned) by a JSON patch with a test; a failed prune is a Warning Event. A
/// Repository that is gone needs no record.
struct PruneAnnotation: Sendable {
    let client: KubeClient
    let repositories: Store<Repository>
    let events: EventRecorder

    func record(_ record: PruneBatcher.PruneRecord, on key: ObjectKey) async throws {
        let annotation = Kubesnap.Annotation.prunePending
        let path = "/metadata/annotations/" + annotation.replacingOccurrences(of: "~", with: "~0")
            .replacingOccurrences(of: "/", with: "~1")
        let patch: (type: PatchType, body: JSONValue)
        switch record {
        case .owed(let token):
            patch = (.merge, ["metadata": ["annotations": [annotation: .string(token)]]])
        case .paid(let token):
            patch = (.json, [["op": "test", "path": .string(path), "value": .string(token)], ["op": "remove", "path": .string(path)]])
        case .failed(let message):
            if let object = repositories.get(key) { events.warning(object, reason: "PruneFailed", message: message) }
            return
        }
        do {
            _ = try await client.patch(Repository.self, namespace: key.namespace, name: key.name, patchType: patch.type, patch.body)
        } catch {
            if error.isNotFound { return }
            throw KubesnapError.api(operation: "annotate Repository \(key.namespace)/\(key.name)", underlying: error)
        }
    }
}
