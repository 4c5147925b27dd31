import KubeJSON

extension RequestRouter {
    /// The RBAC authorizer over the objects the store holds now.
    func currentAuthorizer() async -> RBACAuthorizer {
        RBACAuthorizer(objects: await store.rbacObjects())
    }

    func decide(_ attributes: AuthorizationAttributes) async -> AuthorizationDecision {
        if attributes.user.isPrivileged { return AuthorizationDecision(allowed: true, reason: "") }
        return await currentAuthorizer().authorize(attributes)
    }

    /// Throws kube-apiserver's 403 unless RBAC allows `attributes`.
    func authorize(_ attributes: AuthorizationAttributes) async throws(APIError) {
        let decision = await decide(attributes)
        guard decision.allowed else { throw attributes.forbidden(reason: decision.reason) }
    }

    /// The attributes of a resource request, as kube's RequestInfoResolver makes them: a list
    /// or watch with `fieldSelector=metadata.name=X` is about the object X (so rules with
    /// resourceNames can allow `kubectl get -w NAME`).
    func resourceAttributes(
        _ request: APIRequest, verb: String, group: String, version: String, resource: String, subresource: String?,
        namespace: String?, name: String?
    ) -> AuthorizationAttributes {
        var objectName = name ?? ""
        if objectName.isEmpty, verb == "list" || verb == "watch", let selector = request.query["fieldSelector"] {
            let parts = selector.split(separator: ",")
            if parts.count == 1 {
                for prefix in ["metadata.name==", "metadata.name="] where parts[0].hasPrefix(prefix) {
                    objectName = String(parts[0].dropFirst(prefix.count))
                    break
                }
            }
        }
        return .resource(
            request.user ?? UserInfo(name: ""), verb: verb, group: group, version: version, resource: resource,
            subresource: subresource ?? "", namespace: namespace ?? "", name: objectName)
    }

    /// Authorizes a request for a path that is not a resource (discovery, OpenAPI, metrics).
    func authorizeNonResource(_ request: APIRequest, path: String) async throws(APIError) {
        guard let user = request.user else { throw APIError.unauthorized }
        let verb = request.method == "HEAD" ? "get" : request.method.lowercased()
        try await authorize(.nonResource(user, verb: verb, path: path))
    }
}
