import Foundation
import KubeJSON
import KubeTestSupport

/// A tiny HTTP client for the server's own tests: real HTTPS through curl with the server's CA,
/// authenticating with the bearer token, the admin client certificate, or nothing.
struct RawClient {
    enum Auth { case token, certificate, none, badToken }

    let server: TestAPIServer
    var auth: Auth = .token

    struct Response: CustomStringConvertible {
        var code: Int
        var body: JSONValue
        var text: String
        var description: String { "\(code) \(text.prefix(600))" }
    }

    private var dataDir: String { server.directory.appending("data") }

    func arguments(_ method: String, _ path: String, contentType: String?, headers: [String] = []) -> [String] {
        var args = ["-sS", "--max-time", "60", "-X", method, "--cacert", dataDir + "/ca.crt"]
        switch auth {
        case .token: args += ["-H", "Authorization: Bearer \(server.token)"]
        case .badToken: args += ["-H", "Authorization: Bearer not-the-token"]
        case .certificate: args += ["--cert", dataDir + "/admin.crt", "--key", dataDir + "/admin.key"]
        case .none: break
        }
        if let contentType { args += ["-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        for h in headers { args += ["-H", h] }
        return args + [server.baseURL + path]
    }

    func request(_ method: String, _ path: String, body: JSONValue? = nil, contentType: String = "application/json", headers: [String] = []) async throws -> Response {
        try await request(method, path, text: body.map { $0.serialized() }, contentType: contentType, headers: headers)
    }

    func request(_ method: String, _ path: String, text: String?, contentType: String = "application/json", headers: [String] = []) async throws -> Response {
        var args = arguments(method, path, contentType: text == nil ? nil : contentType, headers: headers)
        args.insert(contentsOf: ["-w", "\n%{http_code}"], at: 0)
        let result = try await runCommand("/usr/bin/curl", args, input: text ?? nil)
        guard result.succeeded else { throw RawClientError(description: "curl failed: \(result)") }
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.popLast() ?? "") ?? 0
        let text = lines.joined(separator: "\n")
        return Response(code: code, body: (try? JSONValue.parse(text)) ?? .null, text: text)
    }

    func get(_ path: String) async throws -> Response { try await request("GET", path) }
    func post(_ path: String, _ body: JSONValue) async throws -> Response { try await request("POST", path, body: body) }
    func put(_ path: String, _ body: JSONValue) async throws -> Response { try await request("PUT", path, body: body) }
    func delete(_ path: String, _ body: JSONValue? = nil) async throws -> Response { try await request("DELETE", path, body: body) }
    func patch(_ path: String, _ body: JSONValue, type: String = "application/merge-patch+json") async throws -> Response {
        try await request("PATCH", path, body: body, contentType: type)
    }

    /// A long-running `curl -N` (a watch) whose output accumulates in a log.
    func stream(_ path: String, in dir: TemporaryDirectory, name: String) throws -> ChildProcess {
        try ChildProcess("/usr/bin/curl", ["-N"] + arguments("GET", path, contentType: nil), logPath: dir.appending(name + ".log"))
    }
}

/// Watch events in a log of JSON lines.
func watchEvents(_ log: String) -> [JSONValue] {
    log.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }.filter { $0["type"].stringValue != nil }
}

/// kubectl against a test server.
func kubectl(_ server: TestAPIServer, _ args: [String], input: String? = nil) async throws -> CommandResult {
    try await runCommand(
        "/usr/bin/kubectl", ["--kubeconfig", server.kubeconfigPath] + args,
        environment: ["HOME": server.directory.path, "PATH": "/usr/bin:/bin"], input: input, timeout: .seconds(90))
}

func configMap(_ name: String, namespace: String = "default", data: [String: String] = [:], labels: [String: String] = [:]) -> JSONValue {
    var meta: JSONValue = ["name": .string(name), "namespace": .string(namespace)]
    if !labels.isEmpty { meta["labels"] = .object(labels.mapValues(JSONValue.string)) }
    return ["apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": .object(data.mapValues(JSONValue.string))]
}

struct RawClientError: Error, CustomStringConvertible { var description: String }
