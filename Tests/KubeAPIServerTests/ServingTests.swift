import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

@Suite("Serving and auth")
struct ServingTests {
    @Test func healthVersionAndAuth() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        #expect(server.port > 0)
        #expect(FileManager.default.fileExists(atPath: server.kubeconfigPath))
        let token = RawClient(server: server, auth: .token)
        let health = try await token.request("GET", "/healthz", text: nil)
        #expect(health.code == 200 && health.text == "ok")
        let version = try await token.get("/version")
        #expect(version.body["gitVersion"] == "v1.32.0-kubesnap")

        let byToken = try await token.get("/api/v1/namespaces/default")
        #expect(byToken.code == 200, "\(byToken)")
        let byCert = try await RawClient(server: server, auth: .certificate).get("/api/v1/namespaces")
        #expect(byCert.code == 200, "\(byCert)")
        #expect((byCert.body["items"].arrayValue ?? []).contains { $0.name == "kube-system" })

        for auth in [RawClient.Auth.none, .badToken] {
            let denied = try await RawClient(server: server, auth: auth).get("/api/v1/namespaces")
            #expect(denied.code == 401, "\(denied)")
            #expect(denied.body["kind"] == "Status" && denied.body["reason"] == "Unauthorized")
        }
    }

    @Test func aBrokenConnectionDoesNotStopTheServer() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        // Plain HTTP to the TLS port, and a garbage TLS client: both must fail alone.
        let plain = try await runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "http://127.0.0.1:\(server.port)/healthz"])
        #expect(!plain.succeeded || !plain.stdout.contains("ok"))
        let insecure = try await runCommand("/usr/bin/curl", ["-sS", "--max-time", "10", "-k", "--http1.1", "-X", "BREW", "https://127.0.0.1:\(server.port)/%%%"])
        _ = insecure
        let ok = try await RawClient(server: server).get("/api/v1/namespaces/default")
        #expect(ok.code == 200, "\(ok)")
    }

    @Test func kubectlVersionAndGet() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let result = try await kubectl(server, ["get", "namespaces"])
        #expect(result.succeeded, "\(result)")
        #expect(result.stdout.contains("kube-system"), "\(result)")
        let version = try await kubectl(server, ["version", "-o", "json"])
        #expect(version.stdout.contains("v1.32.0-kubesnap"), "\(version)")
    }

    @Test func runServesUntilCancelled() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var configuration = APIServerConfiguration(dataDirectory: dir.appending("data"))
        configuration.port = 0
        let server = APIServer(configuration: configuration)
        let task = Task { try await server.run() }
        try await waitUntil("the kubeconfig is written") {
            (FileManager.default.fileExists(atPath: server.kubeconfigPath), "no kubeconfig yet")
        }
        let port = server.port
        #expect(port > 0)
        task.cancel()
        try await task.value
        #expect(server.port == 0, "stopped")
    }
}
