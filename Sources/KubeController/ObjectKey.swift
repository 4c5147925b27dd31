import KubeClient
import KubeJSON

/// What a controller reconciles: only the namespace and name of an object (controller-runtime's
/// `reconcile.Request`). The reconciler reads everything else from the informer cache, so a key
/// queued many times means one reconcile of the latest state.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Empty for cluster-scoped objects.
    public var namespace: String
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = namespace ?? ""
        self.name = name
    }

    /// The key of an object (`metadata.namespace`/`metadata.name`); nil when the object has no name.
    public init?(_ object: JSONValue) {
        guard let name = object.name, !name.isEmpty else { return nil }
        self.init(namespace: object.namespace, name: name)
    }

    /// The key of an object's metadata; nil when it has no name.
    public init?(_ metadata: ObjectMeta) {
        guard let name = metadata.name, !name.isEmpty else { return nil }
        self.init(namespace: metadata.namespace, name: name)
    }

    /// The key of a typed object; nil when it has no name.
    public init?(_ object: some KubeResource) {
        self.init(object.metadata)
    }

    /// Parses `namespace/name` or `name`.
    public init(parsing text: String) {
        if let slash = text.firstIndex(of: "/") {
            self.init(namespace: String(text[..<slash]), name: String(text[text.index(after: slash)...]))
        } else {
            self.init(namespace: nil, name: text)
        }
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }

    /// The namespace for API calls: nil for cluster-scoped objects.
    public var namespaceOrNil: String? { namespace.isEmpty ? nil : namespace }

    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool {
        (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
    }
}
