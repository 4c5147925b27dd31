import KubeJSON

/// A resource the API serves: where it lives (group/version/plural) and what it holds (kind).
public struct APIResource: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var version: String
    /// Plural lower-case name used in URLs ("secrets").
    public var resource: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, resource: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
    }

    /// "v1" for the core group, "group/version" otherwise.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    /// "/api/v1" or "/apis/group/version".
    var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    public static let namespaces = APIResource(
        group: "", version: "v1", resource: "namespaces", kind: "Namespace", namespaced: false)
    public static let secrets = APIResource(
        group: "", version: "v1", resource: "secrets", kind: "Secret", namespaced: true)
    public static let configMaps = APIResource(
        group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", namespaced: true)
    public static let serviceAccounts = APIResource(
        group: "", version: "v1", resource: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
    public static let pods = APIResource(
        group: "", version: "v1", resource: "pods", kind: "Pod", namespaced: true)
    public static let persistentVolumeClaims = APIResource(
        group: "", version: "v1", resource: "persistentvolumeclaims", kind: "PersistentVolumeClaim",
        namespaced: true)
    /// core/v1 Events (what `kubectl describe` shows).
    public static let events = APIResource(
        group: "", version: "v1", resource: "events", kind: "Event", namespaced: true)
    /// events.k8s.io/v1 Events.
    public static let eventsV1 = APIResource(
        group: "events.k8s.io", version: "v1", resource: "events", kind: "Event", namespaced: true)
    public static let leases = APIResource(
        group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", namespaced: true)
    public static let customResourceDefinitions = APIResource(
        group: "apiextensions.k8s.io", version: "v1", resource: "customresourcedefinitions",
        kind: "CustomResourceDefinition", namespaced: false)
}

/// A typed Kubernetes object: what the client reads and writes with Codable, and what the
/// controller runtime caches, indexes, watches and reconciles. Every kind adopts it: the
/// operator's own kinds and the built-in ones it reads (Secret, Namespace, ...).
///
/// Encoding need not include `apiVersion`/`kind`: the client adds them from `apiResource`.
public protocol KubeResource: Codable, Sendable, Equatable {
    static var apiResource: APIResource { get }
    var metadata: ObjectMeta { get set }
}

/// A kind with a status subresource, and its status type.
public protocol HasStatus: KubeResource {
    associatedtype Status: ObjectStatus
    var status: Status? { get set }
}

/// A status type: every member optional, `init()` the empty status.
public protocol ObjectStatus: Codable, Sendable, Equatable {
    init()
}
