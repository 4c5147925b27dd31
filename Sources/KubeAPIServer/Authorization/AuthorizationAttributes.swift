/// What a request asks to do, as kube-apiserver's `authorizer.Attributes`: a verb on a
/// resource (group, resource, subresource, namespace, name) or on a non-resource path.
struct AuthorizationAttributes: Sendable {
    var user: UserInfo
    var verb: String
    var isResourceRequest: Bool
    var group = ""
    var version = ""
    var resource = ""
    var subresource = ""
    var namespace = ""
    var name = ""
    var path = ""

    static func resource(
        _ user: UserInfo, verb: String, group: String, version: String = "", resource: String, subresource: String = "",
        namespace: String = "", name: String = ""
    ) -> AuthorizationAttributes {
        AuthorizationAttributes(
            user: user, verb: verb, isResourceRequest: true, group: group, version: version, resource: resource,
            subresource: subresource, namespace: namespace, name: name)
    }

    static func nonResource(_ user: UserInfo, verb: String, path: String) -> AuthorizationAttributes {
        AuthorizationAttributes(user: user, verb: verb, isResourceRequest: false, path: path)
    }

    /// kube-apiserver's forbidden message (responsewriters.forbiddenMessage).
    var forbiddenMessage: String {
        guard isResourceRequest else { return "User \"\(user.name)\" cannot \(verb) path \"\(path)\"" }
        let combined = subresource.isEmpty ? resource : resource + "/" + subresource
        if !namespace.isEmpty {
            return "User \"\(user.name)\" cannot \(verb) resource \"\(combined)\" in API group \"\(group)\" in the namespace \"\(namespace)\""
        }
        return "User \"\(user.name)\" cannot \(verb) resource \"\(combined)\" in API group \"\(group)\" at the cluster scope"
    }

    /// The 403 kube-apiserver sends (apierrors.NewForbidden over the forbidden message, plus
    /// the authorizer's reason when it gave one).
    func forbidden(reason: String) -> APIError {
        let why = reason.isEmpty ? forbiddenMessage : forbiddenMessage + ": " + reason
        guard isResourceRequest else {
            return APIError(code: 403, reason: "Forbidden", message: "forbidden: " + why, details: .emptyObject)
        }
        let qualified = APIError.qualified(resource, group)
        let subject = name.isEmpty ? qualified : "\(qualified) \"\(name)\""
        return APIError(
            code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(why)",
            details: APIError.detailsFor(name: name, group: group, kind: resource))
    }
}

/// The answer of the authorizer: allowed or not, and why (an RBAC reason, or the errors it met).
struct AuthorizationDecision: Sendable {
    var allowed: Bool
    var reason: String
}
