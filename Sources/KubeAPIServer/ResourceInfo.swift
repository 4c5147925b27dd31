import KubeJSON

/// One served resource (built-in or from a CRD): what discovery shows and how objects behave.
struct ResourceInfo: Sendable {
    var group: String
    /// Served versions; the first is the preferred (storage) one.
    var versions: [String]
    var resource: String
    var kind: String
    var singular: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    /// Has a `/status` subresource: writes to the object ignore status and generation moves only on spec.
    var hasStatus: Bool = false
    /// CRD printer columns per version (raw `additionalPrinterColumns` entries).
    var printerColumns: [String: [JSONValue]] = [:]
    /// CRD openAPIV3Schema per version.
    var schemas: [String: JSONValue] = [:]
    /// Set for custom resources: the CRD's name.
    var crdName: String? = nil
    /// Name length limit and form: namespaces use DNS-1123 labels.
    var nameIsLabel: Bool = false
    /// RBAC objects: any path segment name (`system:basic-user`), as kube's ValidatePathSegmentName.
    var nameIsPathSegment: Bool = false

    /// Where objects live when another resource shares them (events.k8s.io events are core events).
    var storedAs: String? = nil
    /// Only `create` is served and nothing is stored: the access reviews and SelfSubjectReview.
    var createOnly: Bool = false

    /// The storage key ("group/resource", independent of version).
    var key: String { storedAs ?? servingKey }
    /// "group/resource" as served.
    var servingKey: String { "\(group)/\(resource)" }
    var listKind: String { kind + "List" }
    var preferredVersion: String { versions.first ?? "v1" }
    func apiVersion(_ version: String) -> String { group.isEmpty ? version : "\(group)/\(version)" }
    var isCustom: Bool { crdName != nil }

    static let allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
}

/// The resources every server serves.
enum BuiltinResources {
    static let all: [ResourceInfo] = [
        ResourceInfo(
            group: "", versions: ["v1"], resource: "namespaces", kind: "Namespace", singular: "namespace",
            namespaced: false, shortNames: ["ns"], hasStatus: true, nameIsLabel: true),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "secrets", kind: "Secret", singular: "secret", namespaced: true),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "configmaps", kind: "ConfigMap", singular: "configmap",
            namespaced: true, shortNames: ["cm"]),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "serviceaccounts", kind: "ServiceAccount",
            singular: "serviceaccount", namespaced: true, shortNames: ["sa"]),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "services", kind: "Service", singular: "service", namespaced: true,
            shortNames: ["svc"], categories: ["all"], hasStatus: true),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "pods", kind: "Pod", singular: "pod", namespaced: true,
            shortNames: ["po"], categories: ["all"], hasStatus: true),
        ResourceInfo(
            group: "", versions: ["v1"], resource: "events", kind: "Event", singular: "event", namespaced: true,
            shortNames: ["ev"]),
        ResourceInfo(
            group: "events.k8s.io", versions: ["v1"], resource: "events", kind: "Event", singular: "event",
            namespaced: true, shortNames: ["ev"], storedAs: "/events"),
        ResourceInfo(
            group: "coordination.k8s.io", versions: ["v1"], resource: "leases", kind: "Lease", singular: "lease",
            namespaced: true),
        ResourceInfo(
            group: "batch", versions: ["v1"], resource: "jobs", kind: "Job", singular: "job", namespaced: true,
            categories: ["all"], hasStatus: true),
        ResourceInfo(
            group: "apps", versions: ["v1"], resource: "deployments", kind: "Deployment", singular: "deployment",
            namespaced: true, shortNames: ["deploy"], categories: ["all"], hasStatus: true),
        ResourceInfo(
            group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "roles", kind: "Role", singular: "role",
            namespaced: true, nameIsPathSegment: true),
        ResourceInfo(
            group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "clusterroles", kind: "ClusterRole",
            singular: "clusterrole", namespaced: false, nameIsPathSegment: true),
        ResourceInfo(
            group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "rolebindings", kind: "RoleBinding",
            singular: "rolebinding", namespaced: true, nameIsPathSegment: true),
        ResourceInfo(
            group: "rbac.authorization.k8s.io", versions: ["v1"], resource: "clusterrolebindings",
            kind: "ClusterRoleBinding", singular: "clusterrolebinding", namespaced: false, nameIsPathSegment: true),
        ResourceInfo(
            group: "apiextensions.k8s.io", versions: ["v1"], resource: "customresourcedefinitions",
            kind: "CustomResourceDefinition", singular: "customresourcedefinition", namespaced: false,
            shortNames: ["crd", "crds"], categories: ["api-extensions"], hasStatus: true),
        ResourceInfo(
            group: "authorization.k8s.io", versions: ["v1"], resource: "selfsubjectaccessreviews",
            kind: "SelfSubjectAccessReview", singular: "selfsubjectaccessreview", namespaced: false, createOnly: true),
        ResourceInfo(
            group: "authorization.k8s.io", versions: ["v1"], resource: "selfsubjectrulesreviews",
            kind: "SelfSubjectRulesReview", singular: "selfsubjectrulesreview", namespaced: false, createOnly: true),
        ResourceInfo(
            group: "authorization.k8s.io", versions: ["v1"], resource: "subjectaccessreviews",
            kind: "SubjectAccessReview", singular: "subjectaccessreview", namespaced: false, createOnly: true),
        ResourceInfo(
            group: "authorization.k8s.io", versions: ["v1"], resource: "localsubjectaccessreviews",
            kind: "LocalSubjectAccessReview", singular: "localsubjectaccessreview", namespaced: true, createOnly: true),
        ResourceInfo(
            group: "authentication.k8s.io", versions: ["v1"], resource: "selfsubjectreviews",
            kind: "SelfSubjectReview", singular: "selfsubjectreview", namespaced: false, createOnly: true),
        ResourceInfo(
            group: "authentication.k8s.io", versions: ["v1"], resource: "tokenreviews",
            kind: "TokenReview", singular: "tokenreview", namespaced: false, createOnly: true),
    ]

    static let serviceAccountKey = "/serviceaccounts"

    static let crdKey = "apiextensions.k8s.io/customresourcedefinitions"
    static let namespaceKey = "/namespaces"
}

extension ResourceInfo {
    /// The resource a CustomResourceDefinition object serves, or the reason it cannot.
    static func fromCRD(_ crd: JSONValue) -> ResourceInfo? {
        let spec = crd["spec"]
        guard let group = spec["group"].stringValue, let plural = spec["names"]["plural"].stringValue,
            let kind = spec["names"]["kind"].stringValue, let crdName = crd.name
        else { return nil }
        var served: [String] = []
        var storage: String?
        var hasStatus = false
        var columns: [String: [JSONValue]] = [:]
        var schemas: [String: JSONValue] = [:]
        for version in spec["versions"].arrayValue ?? [] {
            guard let name = version["name"].stringValue else { continue }
            if version["served"].boolValue ?? true { served.append(name) }
            if version["storage"].boolValue == true { storage = name }
            if !version["subresources"]["status"].isNull { hasStatus = true }
            if let c = version["additionalPrinterColumns"].arrayValue { columns[name] = c }
            let schema = version["schema"]["openAPIV3Schema"]
            if !schema.isNull { schemas[name] = schema }
        }
        if let storage, let index = served.firstIndex(of: storage), index != 0 {
            served.remove(at: index)
            served.insert(storage, at: 0)
        }
        guard !served.isEmpty else { return nil }
        return ResourceInfo(
            group: group, versions: served, resource: plural, kind: kind,
            singular: spec["names"]["singular"].stringValue ?? kind.lowercased(),
            namespaced: spec["scope"].stringValue != "Cluster",
            shortNames: (spec["names"]["shortNames"].arrayValue ?? []).compactMap(\.stringValue),
            categories: (spec["names"]["categories"].arrayValue ?? []).compactMap(\.stringValue),
            hasStatus: hasStatus, printerColumns: columns, schemas: schemas, crdName: crdName)
    }
}
