/// The `metadata` of a Kubernetes object (metav1.ObjectMeta): the fields kubesnap reads and
/// writes. Unknown members are not kept here; code that must round-trip an object unchanged
/// works on its `JSONValue`.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var finalizers: [String]?
    public var ownerReferences: [OwnerReference]?

    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    public var key: String {
        if let namespace, !namespace.isEmpty { return "\(namespace)/\(name ?? "")" }
        return name ?? ""
    }
}

/// metav1.OwnerReference.
public struct OwnerReference: Codable, Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(
        apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil,
        blockOwnerDeletion: Bool? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// metav1.Condition: one aspect of an object's state.
public struct Condition: Codable, Sendable, Hashable {
    /// "True", "False" or "Unknown".
    public var type: String
    public var status: String
    public var observedGeneration: Int64?
    /// RFC 3339; moves only when `status` changes.
    public var lastTransitionTime: String
    public var reason: String
    public var message: String

    public init(
        type: String, status: String, observedGeneration: Int64? = nil, lastTransitionTime: String,
        reason: String, message: String
    ) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

extension JSONValue {
    /// `metadata.name` of an object.
    public var name: String? { self["metadata"]["name"].stringValue }
    /// `metadata.namespace` of an object.
    public var namespace: String? { self["metadata"]["namespace"].stringValue }
    /// `metadata.resourceVersion` of an object.
    public var resourceVersion: String? { self["metadata"]["resourceVersion"].stringValue }
    /// `metadata.uid` of an object.
    public var uid: String? { self["metadata"]["uid"].stringValue }
}
