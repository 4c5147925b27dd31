import Foundation
import KubeAPIMachinery
import KubeJSON

/// Turns HTTP requests into store operations and kube-shaped answers.
final class RequestRouter: Sendable {
    let store: ObjectStore
    let log: DurableLog
    let faults: FaultInjector
    let enableFaultInjection: Bool
    let bookmarkInterval: Double
    let serverAddress: Locked<String>
    let metrics: RequestMetrics
    let authentication: Authenticator

    init(
        store: ObjectStore, log: DurableLog, faults: FaultInjector, metrics: RequestMetrics, authentication: Authenticator,
        enableFaultInjection: Bool, bookmarkInterval: Double
    ) {
        self.store = store
        self.authentication = authentication
        self.metrics = metrics
        self.log = log
        self.faults = faults
        self.enableFaultInjection = enableFaultInjection
        self.bookmarkInterval = bookmarkInterval
        serverAddress = Locked("127.0.0.1:6443")
    }

    static let version: JSONValue = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesnap", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
        "platform": "linux/amd64",
    ]

    func handle(_ original: APIRequest) async -> (APIReply, RequestLabels) {
        var labels = RequestLabels()
        let path = original.path.count > 1 && original.path.hasSuffix("/") ? String(original.path.dropLast()) : original.path
        switch path {
        case "/healthz", "/livez", "/readyz", "/healthz/ping", "/livez/ping", "/readyz/ping":
            return (.full(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("ok".utf8)), labels)
        case "/version":
            return (.json(200, Self.version), labels)
        default: break
        }
        guard original.authenticated else { return (.error(.unauthorized), labels) }
        if let notAcceptable = Self.notAcceptable(original, path: path) { return (.error(notAcceptable), labels) }
        let request: APIRequest
        do {
            request = try await impersonated(original)
            if path == "/metrics" || path == "/debug/faults" { try await authorizeNonResource(request, path: path) }
        } catch {
            return (.error(error), labels)
        }
        if path == "/metrics" { return (.full(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metrics.exposition().utf8)), labels) }
        if path == "/debug/faults" {
            guard enableFaultInjection else { return (.error(APIError.notFound("faults", group: "", name: "")), labels) }
            guard request.method == "POST" else { return (.error(.methodNotAllowed("only POST is allowed")), labels) }
            do {
                let body = try JSONValue.parse(request.body)
                try await faults.apply(body)
                return (.json(200, ["kind": "Status", "apiVersion": "v1", "status": "Success"]), labels)
            } catch let e as APIError {
                return (.error(e), labels)
            } catch {
                return (.error(.badRequest("invalid JSON: \(error)")), labels)
            }
        }
        do {
            let reply = try await route(request, path: path, labels: &labels)
            return (Self.negotiated(reply, for: request), labels)
        } catch {
            return (Self.negotiated(.error(error), for: request), labels)
        }
    }

    private func route(_ request: APIRequest, path: String, labels: inout RequestLabels) async throws(APIError) -> APIReply {
        let segments = path.split(separator: "/").map(String.init)
        let resourcePath = (segments.first == "api" && segments.count >= 3) || (segments.first == "apis" && segments.count >= 4)
        if !resourcePath { try await authorizeNonResource(request, path: path) }
        if segments.first == "openapi" { return try await openAPI(segments) }
        guard request.method == "GET" || segments.count > 2 else {
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        switch segments.first {
        case "api":
            if segments.count == 1 {
                return .json(200, ["kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress.current)]]])
            }
            guard segments[1] == "v1" else { throw notFoundPath(path) }
            if segments.count == 2 { return .json(200, await resourceList(group: "", version: "v1")) }
            return try await resourceRequest(request, group: "", version: "v1", rest: Array(segments[2...]), labels: &labels)
        case "apis":
            if segments.count == 1 { return .json(200, await groupList()) }
            let group = segments[1]
            if segments.count == 2 {
                guard let g = await groupDocument(group) else { throw notFoundPath(path) }
                return .json(200, g)
            }
            let version = segments[2]
            if segments.count == 3 {
                let list = await resourceList(group: group, version: version)
                if (list["resources"].arrayValue ?? []).isEmpty { throw notFoundPath(path) }
                return .json(200, list)
            }
            return try await resourceRequest(request, group: group, version: version, rest: Array(segments[3...]), labels: &labels)
        default:
            throw notFoundPath(path)
        }
    }

    func notFoundPath(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource", details: ["causes": [["reason": "UnexpectedServerResponse", "message": "404 page not found"]]])
    }

    // MARK: Discovery

    func groupVersions() async -> [(group: String, versions: [String])] {
        var groups: [String: [String]] = [:]
        var order: [String] = []
        for info in await store.allResources() where !info.group.isEmpty {
            if groups[info.group] == nil { order.append(info.group) }
            for v in info.versions where !(groups[info.group]?.contains(v) ?? false) { groups[info.group, default: []].append(v) }
        }
        return order.map { ($0, groups[$0] ?? []) }
    }

    private func groupEntry(_ group: String, _ versions: [String]) -> JSONValue {
        let sorted = versions.sorted { versionPriority($0) > versionPriority($1) }
        let entries: [JSONValue] = sorted.map { ["groupVersion": .string("\(group)/\($0)"), "version": .string($0)] }
        return ["name": .string(group), "versions": .array(entries), "preferredVersion": entries.first ?? .null]
    }

    /// kube's version ordering: GA > beta > alpha, higher numbers first.
    private func versionPriority(_ v: String) -> Int {
        let scanner = v.dropFirst()
        let major = Int(scanner.prefix { $0.isNumber }) ?? 0
        let rest = scanner.drop { $0.isNumber }
        if rest.isEmpty { return 3_000_000 + major * 1000 }
        let minor = Int(rest.drop { !$0.isNumber }) ?? 0
        if rest.hasPrefix("beta") { return 2_000_000 + major * 1000 + minor }
        if rest.hasPrefix("alpha") { return 1_000_000 + major * 1000 + minor }
        return 0
    }

    func groupList() async -> JSONValue {
        let groups = await groupVersions().map { groupEntry($0.group, $0.versions) }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    func groupDocument(_ group: String) async -> JSONValue? {
        guard let g = await groupVersions().first(where: { $0.group == group }) else { return nil }
        var doc = groupEntry(g.group, g.versions)
        doc["kind"] = "APIGroup"
        doc["apiVersion"] = "v1"
        return doc
    }

    func resourceList(group: String, version: String) async -> JSONValue {
        var resources: [JSONValue] = []
        for info in await store.allResources() where info.group == group && info.versions.contains(version) {
            var entry: JSONValue = [
                "name": .string(info.resource), "singularName": .string(info.singular), "namespaced": .bool(info.namespaced),
                "kind": .string(info.kind), "verbs": .array((info.createOnly ? ["create"] : ResourceInfo.allVerbs).map(JSONValue.string)),
            ]
            if info.key == BuiltinResources.namespaceKey {
                entry["verbs"] = ["create", "delete", "get", "list", "patch", "update", "watch"]
            }
            if !info.shortNames.isEmpty { entry["shortNames"] = .array(info.shortNames.map(JSONValue.string)) }
            if !info.categories.isEmpty { entry["categories"] = .array(info.categories.map(JSONValue.string)) }
            resources.append(entry)
            if info.hasStatus {
                resources.append([
                    "name": .string(info.resource + "/status"), "singularName": "", "namespaced": .bool(info.namespaced),
                    "kind": .string(info.kind), "verbs": ["get", "patch", "update"],
                ])
            }
            if info.key == BuiltinResources.serviceAccountKey {
                resources.append([
                    "name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io",
                    "version": "v1", "kind": "TokenRequest", "verbs": ["create"],
                ])
            }
            if info.key == BuiltinResources.namespaceKey {
                resources.append(["name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources)]
    }

    private func openAPI(_ segments: [String]) async throws(APIError) -> APIReply {
        let crds = await store.customResourceDefinitions()
        if segments.count == 2 && segments[1] == "v2" {
            return .json(200, Machinery.openAPIV2(crds: crds))
        }
        if segments.count >= 2 && segments[1] == "v3" {
            if segments.count == 2 { return .json(200, Machinery.openAPIV3Index(crds: crds)) }
            let rest = segments[2...].joined(separator: "/")
            let gv = rest.hasPrefix("api/") ? String(rest.dropFirst(4)) : (rest.hasPrefix("apis/") ? String(rest.dropFirst(5)) : rest)
            guard let document = Machinery.openAPIV3(groupVersion: gv, crds: crds) else { throw notFoundPath("/openapi/v3/" + rest) }
            return .json(200, document)
        }
        throw notFoundPath("/" + segments.joined(separator: "/"))
    }
}
