import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeClient

@Suite struct AuthenticationTests {
    @Test func mutualTLSWithTheServersKubeconfig() async throws {
        try await withAPIServer { server in
            let configuration = try server.adminConfiguration()
            #expect(configuration.clientCertificateData != nil && configuration.clientKeyData != nil)
            #expect(configuration.bearerToken == nil && configuration.bearerTokenFile == nil)
            let client = try KubeClient(configuration: configuration)
            let created = try await client.create(
                .configMaps, namespace: nil, ["metadata": ["name": "mtls"], "data": ["a": "1"]])
            #expect(created.namespace == configuration.defaultNamespace)
            let fetched = try await client.get(.configMaps, namespace: nil, name: "mtls")
            #expect(fetched["data"]["a"] == "1")

            // Without a client certificate the server refuses: the certificate was what authenticated.
            let anonymous = try KubeClient(configuration: try server.anonymousConfiguration())
            await #expect { _ = try await anonymous.get(.configMaps, namespace: nil, name: "mtls") } throws: {
                ($0 as? KubeError)?.isUnauthorized == true
            }
        }
    }

    @Test func tlsVerificationIsOnAndTLSServerNameIsUsed() async throws {
        try await withAPIServer { server in
            var noCA = try server.anonymousConfiguration()
            noCA.certificateAuthorityData = nil
            noCA.bearerToken = server.token
            // The system trust store does not know the server's CA.
            await #expect {
                _ = try await KubeClient(configuration: noCA).list(.namespaces, namespace: nil)
            } throws: { error in
                guard case KubeError.transport(let message) = error else { return false }
                return !message.contains(server.token)
            }
            var insecure = noCA
            insecure.insecureSkipTLSVerify = true
            #expect(
                try await KubeClient(configuration: insecure).list(.namespaces, namespace: nil).items.count
                    > 0)

            var named = try server.anonymousConfiguration()
            named.bearerToken = server.token
            named.tlsServerName = "kubernetes"  // a SAN of the serving certificate (the URL host is 127.0.0.1)
            #expect(
                try await KubeClient(configuration: named).list(.namespaces, namespace: nil).items.count > 0)
            named.tlsServerName = "not-in-the-certificate.example"
            await #expect {
                _ = try await KubeClient(configuration: named).list(.namespaces, namespace: nil)
            } throws: { error in
                if case KubeError.transport = error { return true }
                return false
            }
        }
    }

    @Test func bearerTokenAndBasicAuthFailure() async throws {
        try await withAPIServer { server in
            var configuration = try server.anonymousConfiguration()
            configuration.bearerToken = server.token
            let client = try KubeClient(configuration: configuration)
            #expect(
                try await client.list(.namespaces, namespace: nil).items.contains { $0.name == "default" })

            configuration.bearerToken = "wrong-token-\(UUID().uuidString)"
            let wrong = try KubeClient(configuration: configuration)
            await #expect { _ = try await wrong.list(.namespaces, namespace: nil) } throws: { error in
                (error as? KubeError)?.isUnauthorized == true
                    && !"\(error)".contains(configuration.bearerToken ?? "")
            }
        }
    }

    @Test func tokenFileIsReReadWhenItChangesAndInClusterConfiguration() async throws {
        try await withAPIServer { server in
            let serviceAccount = try TemporaryDirectory(prefix: "client-sa")
            defer { serviceAccount.remove() }
            try serviceAccount.write("token", "stale-token-value\n")
            try serviceAccount.write("ca.crt", try server.caPEM)
            try serviceAccount.write("namespace", "team-x\n")
            let environment = [
                "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(server.port),
            ]
            let configuration = try ClientConfiguration.load(
                environment: environment, serviceAccountDirectory: serviceAccount.path)
            #expect(configuration.defaultNamespace == "team-x")
            let client = try KubeClient(configuration: configuration)
            await #expect { _ = try await client.list(.namespaces, namespace: nil) } throws: {
                ($0 as? KubeError)?.isUnauthorized == true
            }
            // The kubelet rotates the token: the same client picks it up.
            try serviceAccount.write("token", server.token + "\n")
            #expect(try await client.list(.namespaces, namespace: nil).items.count > 0)
            try serviceAccount.write("token", "rotated-away")
            await #expect { _ = try await client.list(.namespaces, namespace: nil) } throws: {
                ($0 as? KubeError)?.isUnauthorized == true
            }
        }
    }

    /// Writes an exec plugin that counts its runs and prints `token` (the wrong one on the first
    /// run when `firstWrong`), valid for `lifetime` seconds.
    static func writePlugin(in dir: TemporaryDirectory, token: String) throws -> String {
        let path = try dir.write(
            "bin/plugin.sh",
            """
            #!/bin/sh
            count_file="\(dir.appending("exec-count"))"
            n=$(cat "$count_file" 2>/dev/null || echo 0)
            n=$((n + 1))
            echo "$n" > "$count_file"
            echo "$@" > "\(dir.appending("exec-args"))"
            case "$KUBERNETES_EXEC_INFO" in *'"kind":"ExecCredential"'*) ;; *) echo "no exec info" >&2; exit 3 ;; esac
            token="\(token)"
            if [ "$FIRST_WRONG" = "yes" ] && [ "$n" -eq 1 ]; then token="wrong-first-token"; fi
            expires=$(date -u -d "+${LIFETIME} seconds" +%Y-%m-%dT%H:%M:%SZ)
            printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$token" "$expires"
            """)
        chmod(path, 0o755)
        return path
    }

    static func runCount(_ dir: TemporaryDirectory) -> Int {
        Int(
            ((try? String(contentsOfFile: dir.appending("exec-count"), encoding: .utf8)) ?? "0")
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    static func writeExecKubeconfig(
        in dir: TemporaryDirectory, server: TestAPIServer, lifetime: Int, firstWrong: Bool
    ) throws -> String {
        let ca = Data(try server.caPEM.utf8).base64EncodedString()
        return try dir.write(
            "config/kubeconfig",
            """
            apiVersion: v1
            kind: Config
            current-context: exec
            clusters:
            - name: local
              cluster:
                server: https://127.0.0.1:\(server.port)
                certificate-authority-data: \(ca)
            users:
            - name: plugin
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ../bin/plugin.sh
                  args: ["--cluster", "local"]
                  env:
                  - {name: LIFETIME, value: "\(lifetime)"}
                  - {name: FIRST_WRONG, value: "\(firstWrong ? "yes" : "no")"}
                  interactiveMode: Never
            contexts:
            - name: exec
              context: {cluster: local, user: plugin}
            """)
    }

    @Test func execPluginIsCachedUntilExpiry() async throws {
        try await withAPIServer { server in
            let dir = try TemporaryDirectory(prefix: "client-exec")
            defer { dir.remove() }
            _ = try Self.writePlugin(in: dir, token: server.token)
            let kubeconfig = try Self.writeExecKubeconfig(
                in: dir, server: server, lifetime: 15, firstWrong: false)
            let client = try KubeClient(
                configuration: try ClientConfiguration.load(kubeconfig: kubeconfig, environment: [:]))
            _ = try await client.list(.namespaces, namespace: nil)
            _ = try await client.list(.configMaps, namespace: "default")
            async let a = client.list(.namespaces, namespace: nil)
            async let b = client.list(.namespaces, namespace: nil)
            _ = try await (a, b)
            #expect(Self.runCount(dir) == 1, "the credential is cached while valid")
            #expect(
                (try? String(contentsOfFile: dir.appending("exec-args"), encoding: .utf8))?.contains(
                    "--cluster local") == true)
            // Once it expires (15 s: long enough that a loaded machine still serves the requests above
            // within it) the next request runs the plugin again.
            try await waitUntil(
                "the plugin to run again after expiry", timeout: .seconds(60), poll: .milliseconds(250)
            ) {
                _ = try await client.list(.namespaces, namespace: nil)
                let count = Self.runCount(dir)
                return (count >= 2, "runs: \(count)")
            }
        }
    }

    @Test func execPluginIsReRunOnceAfter401() async throws {
        try await withAPIServer { server in
            let dir = try TemporaryDirectory(prefix: "client-exec")
            defer { dir.remove() }
            _ = try Self.writePlugin(in: dir, token: server.token)
            let kubeconfig = try Self.writeExecKubeconfig(
                in: dir, server: server, lifetime: 3600, firstWrong: true)
            let client = try KubeClient(
                configuration: try ClientConfiguration.load(kubeconfig: kubeconfig, environment: [:]))
            // First run yields a token the server rejects; the 401 re-runs the plugin once.
            _ = try await client.list(.namespaces, namespace: nil)
            #expect(Self.runCount(dir) == 2)
            _ = try await client.list(.namespaces, namespace: nil)
            #expect(Self.runCount(dir) == 2)
        }
    }

    @Test func execPluginClientCertificateV1beta1() async throws {
        try await withAPIServer { server in
            let dir = try TemporaryDirectory(prefix: "client-exec")
            defer { dir.remove() }
            let admin = try server.adminConfiguration()
            let credential: JSONValue = [
                "apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                "status": [
                    "clientCertificateData": .string(
                        String(decoding: admin.clientCertificateData ?? [], as: UTF8.self)),
                    "clientKeyData": .string(String(decoding: admin.clientKeyData ?? [], as: UTF8.self)),
                ],
            ]
            let output = try dir.write("credential.json", credential.serialized())
            let script = try dir.write("cert-plugin.sh", "#!/bin/sh\ncat '\(output)'\n")
            chmod(script, 0o755)
            var configuration = try server.anonymousConfiguration()
            configuration.execPlugin = ExecCredentialPlugin(
                apiVersion: "client.authentication.k8s.io/v1beta1", command: script)
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(.namespaces, namespace: nil).items.count > 0)
        }
    }

    @Test func execPluginFailuresAreConfigurationErrors() async throws {
        try await withAPIServer { server in
            let dir = try TemporaryDirectory(prefix: "client-exec")
            defer { dir.remove() }
            var configuration = try server.anonymousConfiguration()
            let script = try dir.write("bad.sh", "#!/bin/sh\necho 'not json secret-output'\n")
            chmod(script, 0o755)
            configuration.execPlugin = ExecCredentialPlugin(command: script)
            await #expect {
                _ = try await KubeClient(configuration: configuration).list(.namespaces, namespace: nil)
            } throws: { error in
                guard case KubeError.configuration(let message) = error else { return false }
                return message.contains("bad.sh") && !message.contains("secret-output")
            }
            configuration.execPlugin = ExecCredentialPlugin(
                command: "kubesnap-no-such-plugin", installHint: "install it")
            await #expect {
                _ = try await KubeClient(configuration: configuration).list(.namespaces, namespace: nil)
            } throws: {
                "\($0)".contains("install it")
            }
        }
    }

    @Test func mergedKubeconfigAgainstTheServer() async throws {
        try await withAPIServer { server in
            let dir = try TemporaryDirectory(prefix: "client-merge")
            defer { dir.remove() }
            // The first file names the context and a token user; the cluster comes from the
            // server's own kubeconfig (second in the list).
            let first = try dir.write(
                "first.yaml",
                """
                apiVersion: v1
                kind: Config
                current-context: via-token
                users:
                - name: token-user
                  user: {token: \(server.token)}
                contexts:
                - name: via-token
                  context: {cluster: kubesnap, user: token-user, namespace: merged-ns}
                """)
            let environment = ["KUBECONFIG": "\(first):\(server.kubeconfigPath)"]
            let configuration = try ClientConfiguration.load(environment: environment)
            #expect(configuration.contextName == "via-token")
            #expect(configuration.defaultNamespace == "merged-ns")
            #expect(configuration.bearerToken == server.token && configuration.clientCertificateData == nil)
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(.namespaces, namespace: nil).items.count > 0)
            // The server's own context is still reachable by name.
            let admin = try ClientConfiguration.load(context: "kubesnap", environment: environment)
            #expect(admin.clientCertificateData != nil)
            #expect(
                try await KubeClient(configuration: admin).list(.namespaces, namespace: nil).items.count > 0)
        }
    }
}
