import KubeClient
import KubeJSON

/// What a finalizer-guarded reconcile must do (kube-rs `finalizer::Event`).
public enum FinalizerEvent: Sendable {
    /// The object lives and carries the finalizer: bring the world in line with it.
    case apply(JSONValue)
    /// The object is being deleted and still carries the finalizer: clean up. Return `.done` when
    /// cleanup is complete (the finalizer is then removed); `.requeue(after:)` keeps it and
    /// calls cleanup again later; a thrown error keeps it and retries with backoff.
    case cleanup(JSONValue)
}

/// Reduces a reconcile to `.apply(object)` or `.cleanup(object)` (kube-rs `finalizer()`):
///
/// - a live object without the finalizer gets it first, before any work that would need
///   cleanup; the reconcile then goes on with the server's answer to that write (the object as
///   the write left it), as controller-runtime reconcilers do with the object their update
///   refreshed. kube-rs ends the reconcile there and waits for the write's watch event instead;
///   with a thousand new objects at once that puts every object's real work behind every other
///   object's finalizer, a round trip through the work queue each;
/// - a deleted object with the finalizer is cleaned up, and the finalizer is removed only after
///   cleanup succeeded;
/// - a deleted object without the finalizer needs nothing.
///
/// Both writes are JSON Patches that carry a `test` op (on `metadata.finalizers`, or on
/// `metadata.resourceVersion` when the list is absent or empty), so a concurrent writer's change
/// makes the patch fail (409/422) and the key is retried on fresh state instead of the change
/// being overwritten.
public struct Finalizer: Sendable {
    /// e.g. `kubesnap.io/finalizer`.
    public let name: String
    public let resource: APIResource
    private let client: KubeClient
    private let fieldManager: String

    public init(name: String, resource: APIResource, client: KubeClient, fieldManager: String = "kubesnap") {
        self.name = name
        self.resource = resource
        self.client = client
        self.fieldManager = fieldManager
    }

    /// Runs `body` with the event for `object` (read from the cache) and keeps the finalizer in line.
    public func reconcile(
        _ object: JSONValue, _ body: (FinalizerEvent) async throws -> ReconcileResult
    ) async throws -> ReconcileResult {
        let deleting = !object["metadata"]["deletionTimestamp"].isNull
        let present = Self.contains(object, name)
        switch (deleting, present) {
        case (false, true):
            return try await body(.apply(object))
        case (false, false):
            guard let patch = Self.addPatch(object, name),
                let written = try await send(patch, to: object, action: "add finalizer"),
                Self.contains(written, name), written["metadata"]["deletionTimestamp"].isNull
            else { return .done }  // gone, or deleted meanwhile: its next event says what is left
            return try await body(.apply(written))
        case (true, true):
            let result = try await body(.cleanup(object))
            guard result == .done else { return result }
            if let patch = Self.removePatch(object, name) {
                try await send(patch, to: object, action: "remove finalizer")
            }
            return .done
        case (true, false):
            return .done
        }
    }

    /// Sends `patch`; the object as the server left it, or nil if it is gone.
    @discardableResult
    private func send(_ patch: JSONValue, to object: JSONValue, action: String) async throws -> JSONValue? {
        guard let key = ObjectKey(object) else {
            throw ControllerError.invalidObject("object without metadata.name")
        }
        do {
            return try await client.patch(
                resource, namespace: key.namespaceOrNil, name: key.name, type: .json, patch,
                options: PatchOptions(fieldManager: fieldManager))
        } catch {
            if error.isNotFound { return nil }  // gone already: nothing left to guard
            if error.isConflict || error.isInvalid {
                throw ControllerError.conflict(
                    "\(action) on \(resource) \(key): the object changed meanwhile")
            }
            throw ControllerError.api(operation: "\(action) on \(resource) \(key)", underlying: error)
        }
    }

    // MARK: - pure helpers (controller-runtime's controllerutil)

    /// The object's finalizers (absent = empty).
    public static func finalizers(_ object: JSONValue) -> [String] {
        object["metadata"]["finalizers"].arrayValue?.compactMap(\.stringValue) ?? []
    }

    public static func contains(_ object: JSONValue, _ finalizer: String) -> Bool {
        finalizers(object).contains(finalizer)
    }

    /// The JSON Patch that adds `finalizer`, or nil if the object has it already.
    public static func addPatch(_ object: JSONValue, _ finalizer: String) -> JSONValue? {
        let current = object["metadata"]["finalizers"]
        let list = current.arrayValue ?? []
        if list.contains(.string(finalizer)) { return nil }
        if list.isEmpty {
            // Absent and empty lists look alike to readers but not to `test`: pin the whole object
            // by resourceVersion instead, and set the list.
            return [
                [
                    "op": "test", "path": "/metadata/resourceVersion",
                    "value": object["metadata"]["resourceVersion"],
                ],
                ["op": "add", "path": "/metadata/finalizers", "value": [.string(finalizer)]],
            ]
        }
        return [
            ["op": "test", "path": "/metadata/finalizers", "value": current],
            ["op": "add", "path": "/metadata/finalizers/-", "value": .string(finalizer)],
        ]
    }

    /// The JSON Patch that removes `finalizer` (every copy), or nil if the object lacks it.
    public static func removePatch(_ object: JSONValue, _ finalizer: String) -> JSONValue? {
        let current = object["metadata"]["finalizers"]
        guard let list = current.arrayValue, list.contains(.string(finalizer)) else { return nil }
        return [
            ["op": "test", "path": "/metadata/finalizers", "value": current],
            [
                "op": "replace", "path": "/metadata/finalizers",
                "value": .array(list.filter { $0 != .string(finalizer) }),
            ],
        ]
    }
}
