import KubeJSON

/// One rbac.authorization.k8s.io/v1 PolicyRule, and kube's matching (rbac.RuleAllows) and
/// covering (validation.Covers, for the escalation check) over it.
struct PolicyRule: Sendable, Equatable {
    var verbs: [String] = []
    var apiGroups: [String] = []
    var resources: [String] = []
    var resourceNames: [String] = []
    var nonResourceURLs: [String] = []

    init(verbs: [String] = [], apiGroups: [String] = [], resources: [String] = [], resourceNames: [String] = [], nonResourceURLs: [String] = []) {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.resourceNames = resourceNames
        self.nonResourceURLs = nonResourceURLs
    }

    init(_ json: JSONValue) {
        func strings(_ field: String) -> [String] { (json[field].arrayValue ?? []).compactMap(\.stringValue) }
        self.init(
            verbs: strings("verbs"), apiGroups: strings("apiGroups"), resources: strings("resources"),
            resourceNames: strings("resourceNames"), nonResourceURLs: strings("nonResourceURLs"))
    }

    var json: JSONValue {
        var rule: JSONValue = ["verbs": .array(verbs.map(JSONValue.string))]
        if !apiGroups.isEmpty || !resources.isEmpty { rule["apiGroups"] = .array(apiGroups.map(JSONValue.string)) }
        if !resources.isEmpty { rule["resources"] = .array(resources.map(JSONValue.string)) }
        if !resourceNames.isEmpty { rule["resourceNames"] = .array(resourceNames.map(JSONValue.string)) }
        if !nonResourceURLs.isEmpty { rule["nonResourceURLs"] = .array(nonResourceURLs.map(JSONValue.string)) }
        return rule
    }

    // MARK: Matching a request

    func allows(_ a: AuthorizationAttributes) -> Bool {
        guard verbs.contains("*") || verbs.contains(a.verb) else { return false }
        guard a.isResourceRequest else { return nonResourceURLs.contains { Self.urlMatches($0, a.path) } }
        guard apiGroups.contains("*") || apiGroups.contains(a.group) else { return false }
        let combined = a.subresource.isEmpty ? a.resource : a.resource + "/" + a.subresource
        let resourceMatches = resources.contains { r in
            r == "*" || r == combined || (!a.subresource.isEmpty && r == "*/" + a.subresource)
        }
        guard resourceMatches else { return false }
        return resourceNames.isEmpty || resourceNames.contains(a.name)
    }

    static func urlMatches(_ rule: String, _ path: String) -> Bool {
        if rule == "*" || rule == path { return true }
        return rule.hasSuffix("*") && path.hasPrefix(String(rule.dropLast()))
    }

    // MARK: Covering other rules (escalation)

    /// The rule split into one verb, group and resource (and name) each, as kube's BreakdownRule.
    var breakdown: [PolicyRule] {
        var out: [PolicyRule] = []
        for group in apiGroups {
            for resource in resources {
                for verb in verbs {
                    if resourceNames.isEmpty {
                        out.append(PolicyRule(verbs: [verb], apiGroups: [group], resources: [resource]))
                    } else {
                        for name in resourceNames {
                            out.append(PolicyRule(verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [name]))
                        }
                    }
                }
            }
        }
        for url in nonResourceURLs {
            for verb in verbs { out.append(PolicyRule(verbs: [verb], nonResourceURLs: [url])) }
        }
        return out
    }

    /// Whether this (owner) rule grants everything `sub` does (kube's ruleCovers).
    func covers(_ sub: PolicyRule) -> Bool {
        let verbMatches = verbs.contains("*") || sub.verbs.allSatisfy(verbs.contains)
        let groupMatches = apiGroups.contains("*") || sub.apiGroups.allSatisfy(apiGroups.contains)
        let resourceMatches =
            resources.contains("*")
            || sub.resources.allSatisfy { r in
                if resources.contains(r) { return true }
                guard let slash = r.firstIndex(of: "/") else { return false }
                return resources.contains("*" + r[slash...])
            }
        let urlMatches = sub.nonResourceURLs.allSatisfy { u in nonResourceURLs.contains { Self.urlMatches($0, u) } }
        let nameMatches = sub.resourceNames.isEmpty ? resourceNames.isEmpty : (resourceNames.isEmpty || sub.resourceNames.allSatisfy(resourceNames.contains))
        return verbMatches && groupMatches && resourceMatches && urlMatches && nameMatches
    }

    /// kube's CompactString: `{APIGroups:["kubesnap.io"], Resources:["snapshots"], Verbs:["delete"]}`.
    var compactString: String {
        func list(_ values: [String]) -> String { "[" + values.map { "\"\($0)\"" }.joined(separator: " ") + "]" }
        var parts: [String] = []
        if !apiGroups.isEmpty { parts.append("APIGroups:" + list(apiGroups)) }
        if !resources.isEmpty { parts.append("Resources:" + list(resources)) }
        if !nonResourceURLs.isEmpty { parts.append("NonResourceURLs:" + list(nonResourceURLs)) }
        if !resourceNames.isEmpty { parts.append("ResourceNames:" + list(resourceNames)) }
        parts.append("Verbs:" + list(verbs))
        return "{" + parts.joined(separator: ", ") + "}"
    }
}
