// TestAPIServer: an in-process kubesnap API server for tests.
//
//     let server = try await TestAPIServer.start()          // fresh temp dir, port 0, faults on
//     defer { Task { await server.stop() } }                 // or `await server.stop()` at the end
//     server.kubeconfigPath   // for kubectl --kubeconfig / ClientConfiguration.load(kubeconfig:)
//     server.token            // bearer token the server also accepts
//     server.server           // the APIServer (faults, apply, port)
//
// `stop()` shuts the server down and removes its directory. `restart()` stops it and starts a new
// server on the same data directory and the same port (objects persist; the kubeconfig stays valid).
import Foundation
import KubeAPIServer

/// A running in-process API server with its own temporary data directory.
public final class TestAPIServer: Sendable {
    public let directory: TemporaryDirectory
    private let current: LockedServer

    public var server: APIServer { current.value }
    public var kubeconfigPath: String { server.kubeconfigPath }
    public var port: Int { server.port }
    public var baseURL: String { "https://127.0.0.1:\(server.port)" }
    /// The CA certificate (PEM file) that signed the serving and admin certificates.
    public var caCertificatePath: String { directory.appending("data/ca.crt") }
    /// The bearer token in `<dataDirectory>/token`.
    public var token: String {
        ((try? String(contentsOfFile: directory.appending("data/token"), encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private init(directory: TemporaryDirectory, server: APIServer) {
        self.directory = directory
        current = LockedServer(server)
    }

    /// Starts a server in a fresh temporary directory on a free port (fault injection enabled).
    public static func start(configure: (inout APIServerConfiguration) -> Void = { _ in }) async throws -> TestAPIServer {
        let directory = try TemporaryDirectory(prefix: "kubesnap-apiserver")
        var configuration = APIServerConfiguration(dataDirectory: directory.appending("data"))
        configuration.port = 0
        configuration.enableFaultInjection = true
        configure(&configuration)
        let server = APIServer(configuration: configuration)
        do {
            try await server.start()
        } catch {
            directory.remove()
            throw error
        }
        return TestAPIServer(directory: directory, server: server)
    }

    /// Stops the server and starts a new one on the same data directory and port.
    public func restart() async throws {
        var configuration = server.configuration
        configuration.port = server.port
        await server.shutdown()
        let next = APIServer(configuration: configuration)
        try await next.start()
        current.value = next
    }

    /// The server's count of requests by verb (any case) and resource/subresource, from its
    /// `/metrics` (`apiserver_request_total`), fetched with curl as any scraper would.
    public func requestCount(verb: String, resource: String, subresource: String = "") async throws -> Int {
        let header = directory.appending("auth-header")
        try "Authorization: Bearer \(token)\n".write(toFile: header, atomically: true, encoding: .utf8)
        let result = try await runCommand("/usr/bin/curl", ["-sSk", "-H", "@\(header)", "\(baseURL)/metrics"])
        guard result.succeeded else { throw CommandError(description: "curl /metrics: \(result)") }
        var total = 0
        for line in result.stdout.split(separator: "\n") where line.hasPrefix("apiserver_request_total{") {
            let text = String(line)
            guard text.lowercased().contains("verb=\"\(verb.lowercased())\""),
                text.contains("resource=\"\(resource)\""),
                text.contains("subresource=\"\(subresource)\""), let value = text.split(separator: " ").last
            else { continue }
            total += Int(Double(value) ?? 0)
        }
        return total
    }

    /// Shuts the server down and removes its directory.
    public func stop() async {
        await server.shutdown()
        directory.remove()
    }
}

private final class LockedServer: @unchecked Sendable {
    private let lock = NSLock()
    private var server: APIServer
    init(_ server: APIServer) { self.server = server }
    var value: APIServer {
        get { lock.lock(); defer { lock.unlock() }; return server }
        set { lock.lock(); server = newValue; lock.unlock() }
    }
}
