import KubeJSON

/// The RBAC objects as the store holds them right now; read for every decision, so a change
/// to a Role or binding counts from the next request on (kube-apiserver reads its informer
/// caches the same way). Copying the tables is cheap: they are copy-on-write.
struct RBACObjects: Sendable {
    var clusterRoles: [String: JSONValue] = [:]
    /// namespace -> name -> Role
    var roles: [String: [String: JSONValue]] = [:]
    var clusterRoleBindings: [String: JSONValue] = [:]
    /// namespace -> name -> RoleBinding
    var roleBindings: [String: [String: JSONValue]] = [:]
}

extension ObjectStore {
    static let rbacGroup = "rbac.authorization.k8s.io"

    func rbacObjects() -> RBACObjects {
        func table(_ resource: String) -> [String: [String: JSONValue]] { tables["\(Self.rbacGroup)/\(resource)"] ?? [:] }
        return RBACObjects(
            clusterRoles: table("clusterroles")[""] ?? [:], roles: table("roles"),
            clusterRoleBindings: table("clusterrolebindings")[""] ?? [:], roleBindings: table("rolebindings"))
    }
}

/// kube-apiserver's RBAC authorizer over a set of RBAC objects, with its privileged-group
/// shortcut (`system:masters` may do everything).
struct RBACAuthorizer: Sendable {
    let objects: RBACObjects

    func authorize(_ a: AuthorizationAttributes) -> AuthorizationDecision {
        if a.user.isPrivileged { return AuthorizationDecision(allowed: true, reason: "") }
        var errors: [String] = []
        var allowedBy: String?
        visitRules(of: a.user, namespace: a.namespace, errors: &errors) { source, rule in
            if rule.allows(a) {
                allowedBy = source
                return false
            }
            return true
        }
        if let allowedBy { return AuthorizationDecision(allowed: true, reason: "RBAC: allowed by \(allowedBy)") }
        return AuthorizationDecision(allowed: false, reason: errors.isEmpty ? "" : "RBAC: " + Self.aggregate(errors))
    }

    /// Every rule that applies to `user` in `namespace` ("" for cluster-wide only), and the
    /// errors met on the way (bindings to roles that do not exist).
    func rules(of user: UserInfo, namespace: String) -> (rules: [PolicyRule], errors: [String]) {
        var errors: [String] = []
        var rules: [PolicyRule] = []
        visitRules(of: user, namespace: namespace, errors: &errors) { _, rule in
            rules.append(rule)
            return true
        }
        return (rules, errors)
    }

    /// kube's `utilerrors.NewAggregate(...).Error()`.
    static func aggregate(_ errors: [String]) -> String {
        errors.count == 1 ? errors[0] : "[" + errors.joined(separator: ", ") + "]"
    }

    /// Calls `visit` with each applicable rule and where it comes from until it returns false:
    /// first ClusterRoleBindings, then the RoleBindings of `namespace`.
    private func visitRules(of user: UserInfo, namespace: String, errors: inout [String], _ visit: (String, PolicyRule) -> Bool) {
        for name in objects.clusterRoleBindings.keys.sorted() {
            guard let binding = objects.clusterRoleBindings[name],
                let subject = Self.matchingSubject(binding, user: user, bindingNamespace: "")
            else { continue }
            let ref = binding["roleRef"]
            let roleName = ref["name"].stringValue ?? ""
            guard ref["kind"].stringValue == "ClusterRole" else { continue }
            guard let rules = clusterRoleRules(roleName) else {
                errors.append("clusterrole.rbac.authorization.k8s.io \"\(roleName)\" not found")
                continue
            }
            let source = "ClusterRoleBinding \"\(name)\" of ClusterRole \"\(roleName)\" to \(subject)"
            for rule in rules where !visit(source, rule) { return }
        }
        guard !namespace.isEmpty, let bindings = objects.roleBindings[namespace] else { return }
        for name in bindings.keys.sorted() {
            guard let binding = bindings[name], let subject = Self.matchingSubject(binding, user: user, bindingNamespace: namespace) else { continue }
            let ref = binding["roleRef"]
            let kind = ref["kind"].stringValue ?? ""
            let roleName = ref["name"].stringValue ?? ""
            let rules: [PolicyRule]?
            if kind == "ClusterRole" {
                rules = clusterRoleRules(roleName)
                if rules == nil { errors.append("clusterrole.rbac.authorization.k8s.io \"\(roleName)\" not found") }
            } else if kind == "Role" {
                rules = objects.roles[namespace]?[roleName].map { Self.parseRules($0) }
                if rules == nil { errors.append("role.rbac.authorization.k8s.io \"\(roleName)\" not found") }
            } else {
                rules = nil
            }
            guard let rules else { continue }
            let source = "RoleBinding \"\(name)/\(namespace)\" of \(kind) \"\(roleName)\" to \(subject)"
            for rule in rules where !visit(source, rule) { return }
        }
    }

    static func parseRules(_ role: JSONValue) -> [PolicyRule] {
        (role["rules"].arrayValue ?? []).map(PolicyRule.init)
    }

    /// A ClusterRole's rules, with those of the ClusterRoles its aggregationRule selects (read
    /// at decision time, so no aggregation controller has to write them back).
    func clusterRoleRules(_ name: String) -> [PolicyRule]? {
        var visited: Set<String> = []
        return clusterRoleRules(name, visited: &visited)
    }

    private func clusterRoleRules(_ name: String, visited: inout Set<String>) -> [PolicyRule]? {
        guard let role = objects.clusterRoles[name] else { return nil }
        visited.insert(name)
        var rules = Self.parseRules(role)
        let selectors = role["aggregationRule"]["clusterRoleSelectors"].arrayValue ?? []
        guard !selectors.isEmpty else { return rules }
        let parsed = selectors.compactMap { try? LabelSelector($0) }
        for other in objects.clusterRoles.keys.sorted() where !visited.contains(other) {
            guard let candidate = objects.clusterRoles[other], parsed.contains(where: { $0.matches(object: candidate) }) else { continue }
            rules += clusterRoleRules(other, visited: &visited) ?? []
        }
        return rules
    }

    /// The first subject of `binding` that is `user`, described as kube describes it.
    static func matchingSubject(_ binding: JSONValue, user: UserInfo, bindingNamespace: String) -> String? {
        for subject in binding["subjects"].arrayValue ?? [] {
            let kind = subject["kind"].stringValue ?? ""
            let name = subject["name"].stringValue ?? ""
            switch kind {
            case "User":
                if user.name == name { return "User \"\(name)\"" }
            case "Group":
                if user.groups.contains(name) { return "Group \"\(name)\"" }
            case "ServiceAccount":
                let namespace = subject["namespace"].stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? bindingNamespace
                guard !namespace.isEmpty else { continue }
                if user.name == UserInfo.serviceAccountPrefix + namespace + ":" + name {
                    return "ServiceAccount \"\(namespace)/\(name)\""
                }
            default:
                continue
            }
        }
        return nil
    }
}
