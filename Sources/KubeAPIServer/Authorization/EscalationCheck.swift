import KubeJSON

/// kube-apiserver's RBAC escalation prevention: a user may write a Role or ClusterRole only
/// with rules they hold themselves (in that namespace, or cluster-wide for a ClusterRole), or
/// with the `escalate` verb on it; and a RoleBinding or ClusterRoleBinding only to a role whose
/// rules they hold, or with the `bind` verb on that role. A ClusterRole with an aggregationRule
/// needs `escalate`. `system:masters` holds everything.
struct EscalationCheck: Sendable {
    let authorizer: RBACAuthorizer
    let user: UserInfo
    let info: ResourceInfo
    let namespace: String

    static let kinds: Set<String> = ["roles", "clusterroles", "rolebindings", "clusterrolebindings"]

    init?(authorizer: RBACAuthorizer, user: UserInfo, info: ResourceInfo, namespace: String?) {
        guard info.group == ObjectStore.rbacGroup, Self.kinds.contains(info.resource), !user.isPrivileged else { return nil }
        self.authorizer = authorizer
        self.user = user
        self.info = info
        self.namespace = info.namespaced ? (namespace ?? "") : ""
    }

    /// Throws kube's 403 when writing `object` would grant what the user does not hold.
    func check(_ object: JSONValue) throws(APIError) {
        let name = object.name ?? ""
        func forbidden(_ why: String) -> APIError {
            APIError(
                code: 403, reason: "Forbidden", message: "\(APIError.qualified(info.resource, info.group)) \"\(name)\" is forbidden: \(why)",
                details: APIError.detailsFor(name: name, group: info.group, kind: info.resource))
        }
        let wanted: [PolicyRule]
        switch info.resource {
        case "roles", "clusterroles":
            if allowed("escalate", resource: info.resource, name: name) { return }
            if info.resource == "clusterroles", !object["aggregationRule"].isNull {
                throw forbidden("must have cluster-admin privileges to use the aggregationRule")
            }
            wanted = RBACAuthorizer.parseRules(object)
        default:
            let ref = object["roleRef"]
            let kind = ref["kind"].stringValue ?? ""
            let roleName = ref["name"].stringValue ?? ""
            let roleResource = kind == "ClusterRole" ? "clusterroles" : "roles"
            if allowed("bind", resource: roleResource, name: roleName) { return }
            if kind == "ClusterRole" {
                guard let rules = authorizer.clusterRoleRules(roleName) else {
                    throw forbidden("clusterrole.rbac.authorization.k8s.io \"\(roleName)\" not found")
                }
                wanted = rules
            } else {
                guard let role = authorizer.objects.roles[namespace]?[roleName] else {
                    throw forbidden("role.rbac.authorization.k8s.io \"\(roleName)\" not found")
                }
                wanted = RBACAuthorizer.parseRules(role)
            }
        }
        let (held, errors) = authorizer.rules(of: user, namespace: namespace)
        let missing = wanted.flatMap(\.breakdown).filter { sub in !held.contains { $0.covers(sub) } }
        guard !missing.isEmpty else { return }
        let groups = "[" + user.groups.map { "\"\($0)\"" }.joined(separator: " ") + "]"
        var why = "user \"\(user.name)\" (groups=\(groups)) is attempting to grant RBAC permissions not currently held:\n"
        why += Self.compact(missing).map(\.compactString).joined(separator: "\n")
        if !errors.isEmpty { why += "; resolution errors: [" + errors.joined(separator: ", ") + "]" }
        throw forbidden(why)
    }

    private func allowed(_ verb: String, resource: String, name: String) -> Bool {
        authorizer.authorize(.resource(user, verb: verb, group: ObjectStore.rbacGroup, resource: resource, namespace: namespace, name: name)).allowed
    }

    /// Single-verb rules that differ only in the verb, merged (kube's CompactRules).
    static func compact(_ rules: [PolicyRule]) -> [PolicyRule] {
        var out: [PolicyRule] = []
        for rule in rules {
            if let i = out.firstIndex(where: {
                $0.apiGroups == rule.apiGroups && $0.resources == rule.resources && $0.resourceNames == rule.resourceNames
                    && $0.nonResourceURLs == rule.nonResourceURLs
            }) {
                for verb in rule.verbs where !out[i].verbs.contains(verb) { out[i].verbs.append(verb) }
            } else {
                out.append(rule)
            }
        }
        return out
    }
}

extension RequestRouter {
    /// The escalation check for a write of `info` by the request's user, or nil when none applies.
    func escalationCheck(_ request: APIRequest, _ info: ResourceInfo, namespace: String?) async -> EscalationCheck? {
        guard let user = request.user, info.group == ObjectStore.rbacGroup, !user.isPrivileged else { return nil }
        return EscalationCheck(authorizer: await currentAuthorizer(), user: user, info: info, namespace: namespace)
    }
}
