import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import CurlTransport
@testable import KubeClient

@Suite struct ConfigurationTests {
    static let caPEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

    @Test func mergedKubeconfigFirstFileWins() throws {
        let dir = try TemporaryDirectory(prefix: "client-config")
        defer { dir.remove() }
        try dir.write("certs/ca.crt", Self.caPEM)
        // First file: no current-context, defines cluster "shared" and user "alice" (relative CA path).
        let first = try dir.write(
            "a/config",
            """
            apiVersion: v1
            kind: Config
            clusters:
            - name: shared
              cluster:
                server: https://first.example:6443
                certificate-authority: ../certs/ca.crt
                tls-server-name: api.internal
            users:
            - name: alice
              user:
                token: first-token-secret
            contexts:
            - name: dev
              context: {cluster: shared, user: alice, namespace: team-a}
            """)
        // Second file: sets current-context and redefines "shared" (ignored: first wins).
        let second = try dir.write(
            "b/config",
            """
            apiVersion: v1
            kind: Config
            clusters:
            - name: shared
              cluster: {server: "https://second.example:6443"}
            - name: other
              cluster: {server: "https://other.example", insecure-skip-tls-verify: true}
            users:
            - name: alice
              user: {token: second-token}
            - name: bob
              user: {username: bob, password: hunter2-secret}
            contexts:
            - name: dev
              context: {cluster: other, user: bob}
            - name: ops
              context: {cluster: other, user: bob}
            current-context: ops
            """)
        let missing = dir.appending("does-not-exist")
        let environment = ["KUBECONFIG": "\(missing):\(first):\(second)", "HOME": dir.path]
        let config = try ClientConfiguration.load(environment: environment)
        // current-context comes from the first file that sets it (the second); context "ops" is
        // only defined there.
        #expect(config.contextName == "ops")
        #expect(config.server == "https://other.example")
        #expect(config.insecureSkipTLSVerify)
        #expect(config.username == "bob")
        #expect(config.defaultNamespace == "default")

        let dev = try ClientConfiguration.load(context: "dev", environment: environment)
        // "dev" and "shared" and "alice" come from the first file.
        #expect(dev.server == "https://first.example:6443")
        #expect(dev.bearerToken == "first-token-secret")
        #expect(dev.defaultNamespace == "team-a")
        #expect(dev.tlsServerName == "api.internal")
        #expect(dev.certificateAuthorityData == Array(Self.caPEM.utf8))

        // Redaction: the description and a dump never show credentials.
        var dumped = ""
        dump(dev, to: &dumped)
        for text in [dev.description, "\(dev)", dumped, config.description] {
            #expect(!text.contains("first-token-secret"))
            #expect(!text.contains("hunter2-secret"))
        }
        #expect(dev.description.contains("<redacted>"))
    }

    @Test func explicitPathHomeFallbackAndErrors() throws {
        let dir = try TemporaryDirectory(prefix: "client-config")
        defer { dir.remove() }
        // JSON is valid YAML.
        try dir.write(
            ".kube/config",
            """
            {"apiVersion":"v1","kind":"Config","current-context":"c",
             "clusters":[{"name":"k","cluster":{"server":"https://home.example/"}}],
             "users":[{"name":"u","user":{"client-certificate-data":"bm90IGEgY2VydA==","client-key-data":"bm90IGEga2V5"}}],
             "contexts":[{"name":"c","context":{"cluster":"k","user":"u","namespace":"ns1"}}]}
            """)
        let home = try ClientConfiguration.load(environment: ["HOME": dir.path])
        #expect(home.server == "https://home.example")
        #expect(home.defaultNamespace == "ns1")
        #expect(home.clientCertificateData == Array("not a cert".utf8))
        #expect(!home.description.contains("not a key"))

        #expect {
            _ = try ClientConfiguration.load(kubeconfig: dir.appending("nope"), environment: [:])
        } throws: { "\($0)".contains("nope") }

        func expectError(_ yaml: String, mentions: [String], context: String? = nil) throws {
            let path = try dir.write("bad-\(UUID().uuidString)", yaml)
            #expect {
                _ = try ClientConfiguration.load(kubeconfig: path, context: context, environment: [:])
            } throws: { error in
                guard case KubeError.configuration(let message) = error else { return false }
                return message.contains(path) && mentions.allSatisfy { message.contains($0) }
            }
        }
        let base = """
            current-context: c
            contexts: [{name: c, context: {cluster: k, user: u}}]
            """
        try expectError(
            base + "\nclusters: [{name: k, cluster: {}}]\nusers: [{name: u, user: {}}]",
            mentions: ["clusters[k]", "server"])
        try expectError(
            base
                + "\nclusters: [{name: k, cluster: {server: 'https://x', certificate-authority-data: '%%%secret-not-base64'}}]\nusers: [{name: u, user: {}}]",
            mentions: ["certificate-authority-data", "base64"])
        try expectError(
            base
                + "\nclusters: [{name: k, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {client-key-data: 'a2V5'}}]",
            mentions: ["users[u]", "client-certificate"])
        try expectError(
            base + "\nclusters: [{name: k, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {}}]",
            mentions: ["missing"], context: "missing")
        try expectError(
            base
                + "\nclusters: [{name: k, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}}}]",
            mentions: ["exec.apiVersion"])
        try expectError(
            "clusters: [{name: k, cluster: {server: 'https://x'}}]", mentions: ["current-context"])
        try expectError("clusters: {a: b}", mentions: ["clusters"])
        try expectError("clusters: [unclosed", mentions: [])
        // A bad value never appears in the message.
        let path = try dir.write(
            "leak",
            base
                + "\nclusters: [{name: k, cluster: {server: 'https://x', certificate-authority-data: '%%%secret-not-base64'}}]\nusers: [{name: u, user: {}}]"
        )
        #expect { _ = try ClientConfiguration.load(kubeconfig: path, environment: [:]) } throws: {
            !"\($0)".contains("secret-not-base64")
        }
    }

    @Test func inClusterFromADirectory() throws {
        let dir = try TemporaryDirectory(prefix: "client-sa")
        defer { dir.remove() }
        try dir.write("token", "sa-token-secret\n")
        try dir.write("ca.crt", Self.caPEM)
        try dir.write("namespace", "kubesnap-system\n")
        let environment = [
            "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
            "HOME": dir.appending("no-home"),
        ]
        let config = try ClientConfiguration.load(environment: environment, serviceAccountDirectory: dir.path)
        #expect(config.server == "https://10.0.0.1:443")
        #expect(config.defaultNamespace == "kubesnap-system")
        #expect(config.bearerTokenFile == dir.appending("token"))
        #expect(config.certificateAuthorityData == Array(Self.caPEM.utf8))
        let v6 = try ClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"],
            serviceAccountDirectory: dir.path)
        #expect(v6.server == "https://[fd00::1]:6443")
        #expect(throws: KubeError.self) {
            _ = try ClientConfiguration.load(
                environment: ["HOME": dir.appending("no-home")], serviceAccountDirectory: dir.path)
        }
        #expect(throws: KubeError.self) {
            _ = try ClientConfiguration.inCluster(
                environment: environment, serviceAccountDirectory: dir.appending("empty"))
        }
    }

    @Test func tokenFileIsReReadWhenItChanges() throws {
        let dir = try TemporaryDirectory(prefix: "client-token")
        defer { dir.remove() }
        let path = try dir.write("token", "one\n")
        let reader = TokenFileReader(path: path)
        #expect(try reader.token() == "one")
        try dir.write("token", "two")
        #expect(try reader.token() == "two")
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: KubeError.self) { _ = try reader.token() }
    }

    @Test func statusErrorsAndHelpers() throws {
        let body =
            #"{"kind":"Status","apiVersion":"v1","status":"Failure","code":422,"reason":"Invalid","message":"Secret \"x\" is invalid","details":{"name":"x","kind":"secrets","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"metadata.name"}]}}"#
        let error = KubeClient.apiError(HTTPResponse(status: 422, headers: [], body: Array(body.utf8)))
        #expect(error.isInvalid)
        #expect(!error.isNotFound)
        #expect(
            error.status?.causes == [
                StatusCause(reason: "FieldValueRequired", message: "Required value", field: "metadata.name")
            ])
        let plain = KubeClient.apiError(
            HTTPResponse(status: 404, headers: [], body: Array("404 page not found".utf8)))
        #expect(plain.isNotFound)
        #expect(KubeError.api(APIStatus(code: 409, reason: "AlreadyExists")).isAlreadyExists)
        #expect(!KubeError.api(APIStatus(code: 409, reason: "AlreadyExists")).isConflict)
        #expect(KubeError.api(APIStatus(code: 409, reason: "Conflict")).isConflict)
        #expect(KubeError.api(APIStatus(code: 410, reason: "Expired")).isGone)
        #expect(KubeError.api(APIStatus(code: 429, reason: "TooManyRequests")).isTooManyRequests)
        #expect(!KubeError.transport("x").isNotFound)
    }

    @Test func tlsServerNameRewritesTheURLHost() {
        #expect(CurlTransfer.hostAndPort(of: "https://127.0.0.1:6443/api") ?? ("", 0) == ("127.0.0.1", 6443))
        #expect(CurlTransfer.hostAndPort(of: "https://[::1]/x") ?? ("", 0) == ("[::1]", 443))
        #expect(
            CurlTransfer.replacingHost(
                in: "https://127.0.0.1:6443/api?x=1", host: "127.0.0.1", with: "kubernetes")
                == "https://kubernetes:6443/api?x=1")
    }
}
