import Foundation
import KubeJSON

extension RequestRouter {
    /// Applies the `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
    /// `Impersonate-Extra-*` headers (what `kubectl --as`, `--as-group`, `--as-uid` send) as
    /// kube-apiserver does: each impersonated value needs the `impersonate` verb on `users`
    /// (or `serviceaccounts` for `system:serviceaccount:NS:NAME`), `groups`, `uids` or
    /// `userextras/KEY`; the request then runs as the impersonated user, who is in
    /// `system:authenticated` (and, for a ServiceAccount without given groups, its groups).
    func impersonated(_ request: APIRequest) async throws(APIError) -> APIRequest {
        guard let actor = request.user else { return request }
        var userName: String?
        var groups: [String] = []
        var uid: String?
        var extra: [String: [String]] = [:]
        for (header, value) in request.headers {
            let lower = header.lowercased()
            if lower == "impersonate-user" {
                userName = value
            } else if lower == "impersonate-group" {
                groups.append(value)
            } else if lower == "impersonate-uid" {
                uid = value
            } else if lower.hasPrefix("impersonate-extra-") {
                let key = APIRequest.decode(String(lower.dropFirst("impersonate-extra-".count)))
                extra[key, default: []].append(value)
            }
        }
        guard let userName else {
            if !groups.isEmpty || uid != nil || !extra.isEmpty {
                throw APIError.badRequest("Impersonate-Group, Impersonate-Uid and Impersonate-Extra-* need Impersonate-User as well")
            }
            return request
        }
        var checks: [AuthorizationAttributes] = []
        if let account = UserInfo.parseServiceAccount(userName) {
            checks.append(.resource(actor, verb: "impersonate", group: "", resource: "serviceaccounts", namespace: account.namespace, name: account.name))
        } else {
            checks.append(.resource(actor, verb: "impersonate", group: "", resource: "users", name: userName))
        }
        for group in groups { checks.append(.resource(actor, verb: "impersonate", group: "", resource: "groups", name: group)) }
        for (key, values) in extra.sorted(by: { $0.key < $1.key }) {
            for value in values {
                checks.append(.resource(actor, verb: "impersonate", group: "authentication.k8s.io", resource: "userextras", subresource: key, name: value))
            }
        }
        if let uid { checks.append(.resource(actor, verb: "impersonate", group: "authentication.k8s.io", resource: "uids", name: uid)) }
        for check in checks { try await authorize(check) }

        if groups.isEmpty, let account = UserInfo.parseServiceAccount(userName) {
            groups = UserInfo.serviceAccountGroups(account.namespace)
        }
        if userName != "system:anonymous", !groups.contains(UserInfo.allAuthenticated), !groups.contains(UserInfo.allUnauthenticated) {
            groups.append(UserInfo.allAuthenticated)
        }
        var result = request
        result.user = UserInfo(name: userName, uid: uid ?? "", groups: groups, extra: extra)
        result.headers.removeAll { $0.0.lowercased().hasPrefix("impersonate-") }
        return result
    }
}
