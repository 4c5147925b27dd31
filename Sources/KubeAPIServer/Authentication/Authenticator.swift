import Foundation
import KubeJSON

/// Finds the user of a request, in kube-apiserver's order: a client certificate signed by the
/// server's CA (CN = user, O = groups), then a bearer token: the server's own admin token
/// (`<dataDirectory>/token`), a token of `--token-auth-file`, or a ServiceAccount token from
/// TokenRequest. No credential, or a token nobody issued, is unauthenticated (401).
struct Authenticator: Sendable {
    let adminToken: String
    let staticTokens: StaticTokenFile
    let serviceAccountTokens: ServiceAccountTokens
    let store: ObjectStore

    /// `certificate`: the DER of the verified peer certificate, if the client sent one.
    func authenticate(authorization: String?, certificate: [UInt8]?) async -> UserInfo? {
        if let certificate, let subject = CertificateSubject(der: certificate) { return subject.user }
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else { return nil }
        return await user(ofToken: token)
    }

    /// The user a bearer token stands for (also TokenReview's answer).
    func user(ofToken token: String) async -> UserInfo? {
        if Self.constantTimeEqual(token, adminToken) { return .admin }
        if let user = staticTokens.users[token] { return user }
        guard let claims = serviceAccountTokens.verify(token, now: Int64(Date().timeIntervalSince1970)) else { return nil }
        return await serviceAccountUser(claims)
    }

    /// The ServiceAccount's user while the account (and the bound object) exists with the uid
    /// the token was made for.
    private func serviceAccountUser(_ claims: ServiceAccountTokens.Claims) async -> UserInfo? {
        guard let account = await store.object("/serviceaccounts", namespace: claims.namespace, name: claims.name),
            account["metadata"]["uid"].stringValue == claims.uid, account["metadata"]["deletionTimestamp"].isNull
        else { return nil }
        if let kind = claims.boundKind, let name = claims.boundName {
            let key = kind == "Pod" ? "/pods" : "/secrets"
            guard let bound = await store.object(key, namespace: claims.namespace, name: name),
                bound["metadata"]["uid"].stringValue == claims.boundUID
            else { return nil }
        }
        var user = UserInfo.serviceAccount(namespace: claims.namespace, name: claims.name, uid: claims.uid)
        if let kind = claims.boundKind, let name = claims.boundName {
            let field = kind == "Pod" ? "pod" : "secret"
            user.extra["authentication.kubernetes.io/\(field)-name"] = [name]
            user.extra["authentication.kubernetes.io/\(field)-uid"] = [claims.boundUID ?? ""]
        }
        return user
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        var diff: UInt8 = 0
        for (p, q) in zip(x, y) { diff |= p ^ q }
        return diff == 0
    }
}
