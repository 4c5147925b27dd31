import KubeJSON

/// The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start (its
/// bootstrap policy), cut to the resources this server serves:
/// `cluster-admin` (bound to `system:masters`), `system:discovery`, `system:basic-user` and
/// `system:public-info-viewer` (bound to `system:authenticated`), and the aggregated
/// user-facing roles `admin`, `edit` and `view` (a ClusterRole labelled
/// `rbac.authorization.k8s.io/aggregate-to-edit: "true"`, say, adds its rules to `edit`).
///
/// Each is created when missing and otherwise left as it is, so an administrator's change
/// survives a restart (kube-apiserver instead reconciles missing rules back in).
enum BootstrapPolicy {
    static let group = "rbac.authorization.k8s.io"

    private static func rule(_ verbs: [String], _ groups: [String], _ resources: [String]) -> JSONValue {
        PolicyRule(verbs: verbs, apiGroups: groups, resources: resources).json
    }

    private static func urls(_ verbs: [String], _ paths: [String]) -> JSONValue {
        PolicyRule(verbs: verbs, nonResourceURLs: paths).json
    }

    private static func clusterRole(_ name: String, rules: [JSONValue], labels: [String: String] = [:], aggregateFrom: String? = nil) -> JSONValue {
        var allLabels = labels
        allLabels["kubernetes.io/bootstrapping"] = "rbac-defaults"
        var role: JSONValue = [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": [
                "name": .string(name), "labels": .object(allLabels.mapValues(JSONValue.string)),
                "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"],
            ],
            "rules": .array(rules),
        ]
        if let aggregateFrom {
            let matchLabels = JSONValue.object(["rbac.authorization.k8s.io/aggregate-to-\(aggregateFrom)": "true"])
            role["aggregationRule"] = ["clusterRoleSelectors": [["matchLabels": matchLabels]]]
        }
        return role
    }

    private static func binding(_ name: String, role: String, groups: [String]) -> JSONValue {
        [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": [
                "name": .string(name), "labels": ["kubernetes.io/bootstrapping": "rbac-defaults"],
                "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"],
            ],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(role)],
            "subjects": .array(groups.map { ["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": .string($0)] }),
        ]
    }

    static let read = ["get", "list", "watch"]
    static let write = ["create", "delete", "deletecollection", "patch", "update"]

    static var clusterRoles: [JSONValue] {
        let namespacedCore = ["configmaps", "events", "pods", "serviceaccounts", "services"]
        return [
            clusterRole("cluster-admin", rules: [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])]),
            clusterRole(
                "system:discovery",
                rules: [urls(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"])]),
            clusterRole(
                "system:basic-user",
                rules: [
                    rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
                    rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                ]),
            clusterRole("system:public-info-viewer", rules: [urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])]),
            clusterRole("admin", rules: [], aggregateFrom: "admin"),
            clusterRole("edit", rules: [], labels: ["rbac.authorization.k8s.io/aggregate-to-admin": "true"], aggregateFrom: "edit"),
            clusterRole(
                "view", rules: [],
                labels: ["rbac.authorization.k8s.io/aggregate-to-edit": "true"], aggregateFrom: "view"),
            clusterRole(
                "system:aggregate-to-admin",
                rules: [
                    rule(read + write, [group], ["roles", "rolebindings"]),
                    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
                ],
                labels: ["rbac.authorization.k8s.io/aggregate-to-admin": "true"]),
            clusterRole(
                "system:aggregate-to-edit",
                rules: [
                    rule(write, [""], namespacedCore + ["secrets"]),
                    rule(["create"], [""], ["serviceaccounts/token"]),
                    rule(["impersonate"], [""], ["serviceaccounts"]),
                    rule(write, ["apps"], ["deployments"]),
                    rule(write, ["batch"], ["jobs"]),
                    rule(write, ["coordination.k8s.io"], ["leases"]),
                    rule(read, [""], ["secrets"]),
                ],
                labels: ["rbac.authorization.k8s.io/aggregate-to-edit": "true"]),
            clusterRole(
                "system:aggregate-to-view",
                rules: [
                    rule(read, [""], namespacedCore + ["namespaces", "pods/status", "services/status"]),
                    rule(read, ["apps"], ["deployments", "deployments/status"]),
                    rule(read, ["batch"], ["jobs", "jobs/status"]),
                    rule(read, ["events.k8s.io"], ["events"]),
                    rule(read, ["coordination.k8s.io"], ["leases"]),
                ],
                labels: ["rbac.authorization.k8s.io/aggregate-to-view": "true"]),
        ]
    }

    static var clusterRoleBindings: [JSONValue] {
        [
            binding("cluster-admin", role: "cluster-admin", groups: [UserInfo.systemMasters]),
            binding("system:discovery", role: "system:discovery", groups: [UserInfo.allAuthenticated]),
            binding("system:basic-user", role: "system:basic-user", groups: [UserInfo.allAuthenticated]),
            binding("system:public-info-viewer", role: "system:public-info-viewer", groups: [UserInfo.allAuthenticated, UserInfo.allUnauthenticated]),
        ]
    }
}

extension ObjectStore {
    /// Creates the bootstrap policy objects that are missing; returns the log ticket to wait for.
    func ensureBootstrapPolicy() throws(APIError) -> UInt64 {
        for (resource, objects) in [("clusterroles", BootstrapPolicy.clusterRoles), ("clusterrolebindings", BootstrapPolicy.clusterRoleBindings)] {
            guard let info = registry["\(BootstrapPolicy.group)/\(resource)"] else { continue }
            for object in objects {
                guard let name = object.name, self.object(info.key, namespace: "", name: name) == nil else { continue }
                _ = try create(info, version: "v1", namespace: nil, object, options: .init())
            }
        }
        return lastTicket
    }
}
