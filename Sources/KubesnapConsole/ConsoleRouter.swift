import Foundation
import KubeClient
import KubeJSON

/// The kinds the console shows, with their API paths. Their columns come from the API server's
/// Table form (the CRDs' printer columns), never from a list kept here.
enum ConsoleKind: String, CaseIterable, Sendable {
    case snapshots, repositories, backupsessions, backupschedules, restoresessions

    var path: String { "/apis/kubesnap.io/v1alpha1" }
    func collection(namespace: String?) -> String {
        guard let namespace, !namespace.isEmpty else { return "\(path)/\(rawValue)" }
        return "\(path)/namespaces/\(escape(namespace))/\(rawValue)"
    }
    func object(namespace: String, name: String) -> String { "\(collection(namespace: namespace))/\(escape(name))" }

    var kind: String {
        switch self {
        case .snapshots: return "Snapshot"
        case .repositories: return "Repository"
        case .backupsessions: return "BackupSession"
        case .backupschedules: return "BackupSchedule"
        case .restoresessions: return "RestoreSession"
        }
    }
}

/// A path segment as a URL path wants it.
func escape(_ segment: String) -> String {
    segment.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? segment
}

extension Console {
    static let cookieName = "kubesnap_console"
    static let tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

    func handle(_ request: ConsoleRequest) async -> ConsoleReply {
        if request.path == "/login" { return login(request) }
        if request.path.hasPrefix("/assets/") { return ConsoleAssets.reply(for: request.path) }
        guard let session = request.cookie(Self.cookieName), let csrf = sessions.withLock({ $0.csrf(for: session) }) else {
            if request.path.hasPrefix("/api/") { return .message(401, "not signed in: open the URL kubesnap console printed") }
            return .html(401, ConsoleAssets.signInPage)
        }
        let identity: [(name: String, value: String)]
        switch impersonation(request) {
        case .success(let headers): identity = headers
        case .failure(let message):
            return request.path.hasPrefix("/api/") ? .message(403, message.text) : .html(403, ConsoleAssets.messagePage(message.text))
        }
        if request.method != "GET" {
            guard let sent = request.header("X-CSRF-Token"), Self.equalInConstantTime(sent, csrf) else {
                return .message(403, "the request has no valid CSRF token: reload the page")
            }
        }
        if !request.path.hasPrefix("/api/") {
            guard request.method == "GET" else { return .html(405, ConsoleAssets.messagePage("method not allowed")) }
            return .html(200, ConsoleAssets.shell(csrf: csrf))
        }
        let api = ConsoleAPI(client: client, identity: identity)
        let parts = request.path.split(separator: "/").map(String.init)  // ["api", what, ...]
        guard parts.count >= 2 else { return .message(404, "not found") }
        switch (request.method, parts[1], parts.count) {
        case ("GET", "namespaces", 2):
            return await api.namespaces()
        case ("GET", "table", 3):
            guard let kind = ConsoleKind(rawValue: parts[2]) else { break }
            return await api.table(kind, namespace: request.query["namespace"])
        case ("GET", "watch", 3):
            guard let kind = ConsoleKind(rawValue: parts[2]) else { break }
            return api.watch(kind, namespace: request.query["namespace"], resourceVersion: request.query["resourceVersion"] ?? "")
        case ("GET", "object", 5):
            guard let kind = ConsoleKind(rawValue: parts[2]) else { break }
            return await api.detail(kind, namespace: parts[3], name: parts[4], lastVerified: request.query["lastVerified"] == "1")
        case ("POST", "delete", 5):
            guard let kind = ConsoleKind(rawValue: parts[2]) else { break }
            return await api.delete(kind, namespace: parts[3], name: parts[4])
        case ("POST", "restore", 4):
            let body = (try? JSONValue.parse(request.body)) ?? .null  // not JSON: no name, refused below
            return await api.restore(namespace: parts[2], snapshot: parts[3], name: body["name"].stringValue ?? "")
        default: break
        }
        return .message(404, "not found: \(request.method) \(request.path)")
    }

    /// `/login?token=...`: the printed URL's token buys a session cookie.
    private func login(_ request: ConsoleRequest) -> ConsoleReply {
        guard let token = request.query["token"], Self.equalInConstantTime(token, configuration.loginToken) else {
            return .html(401, ConsoleAssets.signInPage)
        }
        let session = Self.randomToken(), csrf = Self.randomToken()
        sessions.withLock { $0.add(session, csrf: csrf) }
        return .full(
            status: 303,
            headers: [
                ("Location", "/"), ("Set-Cookie", "\(Self.cookieName)=\(session); Path=/; HttpOnly; SameSite=Strict"),
                ("Content-Type", "text/plain"),
            ], body: Array("signed in".utf8))
    }

    struct Refusal: Error { let text: String }

    /// The Impersonate headers for this request: none without `--impersonate`; with it, the
    /// proxy's `X-Remote-User`/`X-Remote-Group`, believed only from a trusted proxy.
    func impersonation(_ request: ConsoleRequest) -> Result<[(name: String, value: String)], Refusal> {
        guard configuration.impersonate else { return .success([]) }
        guard configuration.trustedProxies.contains(request.remoteAddress) else {
            return .failure(Refusal(text: "requests must come through the trusted proxy (--trusted-proxy); \(request.remoteAddress) is not one"))
        }
        guard let user = request.header("X-Remote-User"), !user.isEmpty else {
            return .failure(Refusal(text: "the proxy sent no X-Remote-User"))
        }
        var headers: [(name: String, value: String)] = [("Impersonate-User", user)]
        for header in request.headers where header.0.lowercased() == "x-remote-group" {
            for group in header.1.split(separator: ",") { headers.append(("Impersonate-Group", group.trimmingCharacters(in: .whitespaces))) }
        }
        return .success(headers)
    }

    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
