import KubeJSON

/// Who made a request, as kube-apiserver's `user.Info`: a name, a uid, groups and extra values.
/// Authorization (RBAC), impersonation and the access reviews all see this.
public struct UserInfo: Sendable, Equatable {
    public var name: String
    public var uid: String
    public var groups: [String]
    public var extra: [String: [String]]

    public init(name: String, uid: String = "", groups: [String] = [], extra: [String: [String]] = [:]) {
        self.name = name
        self.uid = uid
        self.groups = groups
        self.extra = extra
    }

    /// The group whose members may do everything (kube's privileged group).
    public static let systemMasters = "system:masters"
    /// The group every authenticated user is in.
    public static let allAuthenticated = "system:authenticated"
    public static let allUnauthenticated = "system:unauthenticated"
    public static let serviceAccountPrefix = "system:serviceaccount:"
    public static let serviceAccountsGroup = "system:serviceaccounts"

    /// The user the admin kubeconfig and the server's bearer token stand for.
    public static let admin = UserInfo(name: "kubesnap-admin", groups: [systemMasters, allAuthenticated])

    /// A ServiceAccount's user: `system:serviceaccount:NS:NAME`, in `system:serviceaccounts`,
    /// `system:serviceaccounts:NS` and `system:authenticated`.
    static func serviceAccount(namespace: String, name: String, uid: String = "") -> UserInfo {
        UserInfo(name: serviceAccountPrefix + namespace + ":" + name, uid: uid, groups: serviceAccountGroups(namespace) + [allAuthenticated])
    }

    static func serviceAccountGroups(_ namespace: String) -> [String] {
        [serviceAccountsGroup, serviceAccountsGroup + ":" + namespace]
    }

    /// For `system:serviceaccount:NS:NAME`, the namespace and name.
    var serviceAccount: (namespace: String, name: String)? { Self.parseServiceAccount(name) }

    static func parseServiceAccount(_ name: String) -> (namespace: String, name: String)? {
        guard name.hasPrefix(serviceAccountPrefix) else { return nil }
        let parts = name.dropFirst(serviceAccountPrefix.count).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    var isPrivileged: Bool { groups.contains(Self.systemMasters) }

    /// Adds `system:authenticated` unless present (what kube's authenticator does for every
    /// authenticated user).
    func withAuthenticatedGroup() -> UserInfo {
        var copy = self
        if !copy.groups.contains(Self.allAuthenticated) { copy.groups.append(Self.allAuthenticated) }
        return copy
    }

    /// authentication.k8s.io/v1 UserInfo as JSON (SelfSubjectReview, TokenReview).
    var json: JSONValue {
        var value: JSONValue = ["username": .string(name), "groups": .array(groups.map(JSONValue.string))]
        if !uid.isEmpty { value["uid"] = .string(uid) }
        if !extra.isEmpty { value["extra"] = .object(extra.mapValues { .array($0.map(JSONValue.string)) }) }
        return value
    }
}
