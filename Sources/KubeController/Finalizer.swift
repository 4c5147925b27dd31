import KubeClient
import KubeJSON

/// What a finalizer-guarded reconcile must do (kube-rs `finalizer::Event`).
public enum FinalizerEvent<Object: KubeResource>: Sendable {
    /// The object lives and carries the finalizer: bring the world in line with it.
    case apply(Object)
    /// The object is being deleted and still carries the finalizer: clean up. Return `.done` when
    /// cleanup is complete (the finalizer is then removed); `.requeue(after:)` keeps it and
    /// calls cleanup again later; a thrown error keeps it and retries with backoff.
    case cleanup(Object)
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
public struct Finalizer<Object: KubeResource>: Sendable {
    /// e.g. `example.com/finalizer`.
    public let name: String
    public let resource: APIResource
    private let client: KubeClient
    private let fieldManager: String

    public init(name: String, client: KubeClient, fieldManager: String) {
        self.name = name
        self.resource = Object.apiResource
        self.client = client
        self.fieldManager = fieldManager
    }

    /// Runs `body` with the event for `object` (read from the cache) and keeps the finalizer in line.
    public func reconcile(
        _ object: Object, _ body: (FinalizerEvent<Object>) async throws -> ReconcileResult
    ) async throws -> ReconcileResult {
        let deleting = object.metadata.deletionTimestamp != nil
        let present = Self.contains(object.metadata, name)
        switch (deleting, present) {
        case (false, true):
            return try await body(.apply(object))
        case (false, false):
            guard let patch = Self.addPatch(object.metadata, name),
                let written = try await send(patch, to: object, action: "add finalizer"),
                Self.contains(written.metadata, name), written.metadata.deletionTimestamp == nil
            else { return .done }  // gone, or deleted meanwhile: its next event says what is left
            return try await body(.apply(written))
        case (true, true):
            let result = try await body(.cleanup(object))
            guard result == .done else { return result }
            if let patch = Self.removePatch(object.metadata, name) {
                try await send(patch, to: object, action: "remove finalizer")
            }
            return .done
        case (true, false):
            return .done
        }
    }

    /// Sends `patch`; the object as the server left it, or nil if it is gone.
    @discardableResult
    private func send(_ patch: JSONValue, to object: Object, action: String) async throws -> Object? {
        guard let key = ObjectKey(object) else {
            throw ControllerError.invalidObject("object without metadata.name")
        }
        do {
            return try await client.patch(
                Object.self, namespace: key.namespaceOrNil, name: key.name, patchType: .json, patch,
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
    public static func finalizers(_ metadata: ObjectMeta) -> [String] {
        metadata.finalizers ?? []
    }

    public static func contains(_ metadata: ObjectMeta, _ finalizer: String) -> Bool {
        finalizers(metadata).contains(finalizer)
    }

    /// The JSON Patch that adds `finalizer`, or nil if the object has it already.
    public static func addPatch(_ metadata: ObjectMeta, _ finalizer: String) -> JSONValue? {
        let list = finalizers(metadata)
        let current: JSONValue = .array(list.map { .string($0) })
        if list.contains(finalizer) { return nil }
        if list.isEmpty {
            // Absent and empty lists look alike to readers but not to `test`: pin the whole object
            // by resourceVersion instead, and set the list.
            return [
                [
                    "op": "test", "path": "/metadata/resourceVersion",
                    "value": metadata.resourceVersion.map { .string($0) } ?? .null,
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
    public static func removePatch(_ metadata: ObjectMeta, _ finalizer: String) -> JSONValue? {
        let list = finalizers(metadata)
        guard list.contains(finalizer) else { return nil }
        return [
            ["op": "test", "path": "/metadata/finalizers", "value": .array(list.map { .string($0) })],
            [
                "op": "replace", "path": "/metadata/finalizers",
                "value": .array(list.filter { $0 != finalizer }.map { .string($0) }),
            ],
        ]
    }
}
