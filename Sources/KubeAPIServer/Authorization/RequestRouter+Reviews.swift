import Foundation
import KubeJSON

extension RequestRouter {
    /// The create-only kinds: SelfSubjectAccessReview, SubjectAccessReview,
    /// LocalSubjectAccessReview, SelfSubjectRulesReview (authorization.k8s.io/v1),
    /// SelfSubjectReview and TokenReview (authentication.k8s.io/v1), and TokenRequest
    /// (`serviceaccounts/NAME/token`). Nothing is stored; the answer is the request with its
    /// status filled in, 201 as kube-apiserver sends.
    func reviewRequest(_ request: APIRequest, _ info: ResourceInfo, version: String, namespace: String?, name: String?) async throws(APIError) -> APIReply {
        guard request.method == "POST" else {
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        guard let user = request.user else { throw APIError.unauthorized }
        if info.key == BuiltinResources.serviceAccountKey, let name, let namespace {
            return try await tokenRequest(request, user: user, namespace: namespace, serviceAccount: name)
        }
        guard name == nil else { throw APIError.methodNotAllowed("the server does not allow this method on the requested resource") }
        var body = try decodeBody(request)
        guard case .object = body else { throw APIError.badRequest("the body of the request must be a \(info.kind) object") }
        let apiVersion = info.apiVersion(version)
        if let given = body["apiVersion"].stringValue, given != apiVersion || body["kind"].stringValue != info.kind {
            throw APIError.badRequest("the body is \(body["kind"].stringValue ?? "?") in \(given), not \(info.kind) in \(apiVersion)")
        }
        body["apiVersion"] = .string(apiVersion)
        body["kind"] = .string(info.kind)
        var metadata = body["metadata"]
        if metadata.isNull { metadata = .emptyObject }
        metadata["creationTimestamp"] = .null
        if let namespace { metadata["namespace"] = .string(namespace) }
        body["metadata"] = metadata
        let spec = body["spec"]
        switch info.resource {
        case "selfsubjectaccessreviews":
            body["status"] = try await accessReviewStatus(spec, subject: user, kind: info.kind, namespace: nil)
        case "subjectaccessreviews", "localsubjectaccessreviews":
            let subjectName = spec["user"].stringValue ?? ""
            let groups = (spec["groups"].arrayValue ?? []).compactMap(\.stringValue)
            guard !subjectName.isEmpty || !groups.isEmpty else {
                throw APIError.invalid(
                    kind: info.kind, group: info.group, name: "",
                    [.init(reason: "FieldValueInvalid", field: "spec.user", message: "Invalid value: \"\": at least one of user or group must be specified")])
            }
            var extra: [String: [String]] = [:]
            for (key, values) in spec["extra"].objectValue ?? [:] { extra[key] = (values.arrayValue ?? []).compactMap(\.stringValue) }
            let subject = UserInfo(name: subjectName, uid: spec["uid"].stringValue ?? "", groups: groups, extra: extra)
            body["status"] = try await accessReviewStatus(spec, subject: subject, kind: info.kind, namespace: namespace)
        case "selfsubjectrulesreviews":
            body["status"] = await rulesReviewStatus(user, namespace: spec["namespace"].stringValue ?? "")
        case "selfsubjectreviews":
            body["status"] = ["userInfo": user.json]
        case "tokenreviews":
            let token = spec["token"].stringValue ?? ""
            if let reviewed = token.isEmpty ? nil : await authentication.user(ofToken: token) {
                body["status"] = ["authenticated": true, "user": reviewed.json, "audiences": .array(ServiceAccountTokens.audiences.map(JSONValue.string))]
            } else {
                body["status"] = ["authenticated": false, "user": .emptyObject]
            }
            // The token is the caller's secret: it goes back only as it came, never to a log.
        default:
            throw notFoundPath(request.path)
        }
        return .json(201, body)
    }

    /// The status of a (Self|Local)SubjectAccessReview: `allowed`, and the authorizer's reason.
    private func accessReviewStatus(_ spec: JSONValue, subject: UserInfo, kind: String, namespace: String?) async throws(APIError) -> JSONValue {
        let resource = spec["resourceAttributes"]
        let nonResource = spec["nonResourceAttributes"]
        guard resource.isNull != nonResource.isNull else {
            throw APIError.invalid(
                kind: kind, group: "authorization.k8s.io", name: "",
                [.init(reason: "FieldValueInvalid", field: "spec.resourceAttributes", message: "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")])
        }
        let attributes: AuthorizationAttributes
        if !resource.isNull {
            let reviewNamespace = resource["namespace"].stringValue ?? ""
            if let namespace, reviewNamespace != namespace {
                throw APIError.invalid(
                    kind: kind, group: "authorization.k8s.io", name: "",
                    [.init(reason: "FieldValueInvalid", field: "spec.resourceAttributes.namespace", message: "Invalid value: \"\(reviewNamespace)\": must match metadata.namespace")])
            }
            attributes = .resource(
                subject, verb: resource["verb"].stringValue ?? "", group: resource["group"].stringValue ?? "",
                version: resource["version"].stringValue ?? "", resource: resource["resource"].stringValue ?? "",
                subresource: resource["subresource"].stringValue ?? "", namespace: reviewNamespace, name: resource["name"].stringValue ?? "")
        } else {
            attributes = .nonResource(subject, verb: nonResource["verb"].stringValue ?? "", path: nonResource["path"].stringValue ?? "")
        }
        let decision = await decide(attributes)
        var status: JSONValue = ["allowed": .bool(decision.allowed)]
        if !decision.reason.isEmpty { status["reason"] = .string(decision.reason) }
        return status
    }

    /// SelfSubjectRulesReview: every rule that applies in the namespace, as kube lists them.
    private func rulesReviewStatus(_ user: UserInfo, namespace: String) async -> JSONValue {
        let (rules, errors) = await currentAuthorizer().rules(of: user, namespace: namespace)
        var resourceRules: [JSONValue] = []
        var nonResourceRules: [JSONValue] = []
        for rule in rules {
            if !rule.nonResourceURLs.isEmpty {
                nonResourceRules.append(["verbs": .array(rule.verbs.map(JSONValue.string)), "nonResourceURLs": .array(rule.nonResourceURLs.map(JSONValue.string))])
            }
            if !rule.resources.isEmpty {
                var entry: JSONValue = [
                    "verbs": .array(rule.verbs.map(JSONValue.string)), "apiGroups": .array(rule.apiGroups.map(JSONValue.string)),
                    "resources": .array(rule.resources.map(JSONValue.string)),
                ]
                if !rule.resourceNames.isEmpty { entry["resourceNames"] = .array(rule.resourceNames.map(JSONValue.string)) }
                resourceRules.append(entry)
            }
        }
        var status: JSONValue = ["resourceRules": .array(resourceRules), "nonResourceRules": .array(nonResourceRules), "incomplete": .bool(!errors.isEmpty)]
        if !errors.isEmpty { status["evaluationError"] = .string(RBACAuthorizer.aggregate(errors)) }
        return status
    }
}
