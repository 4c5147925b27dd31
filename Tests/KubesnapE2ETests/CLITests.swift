import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// The `kubesnap` command line: help, bad flags, and the lifecycle of `dev` and `apiserver`.
@Suite struct CLITests {
    /// Runs the kubesnap binary to completion.
    func kubesnap(_ arguments: [String], directory: String? = nil, timeout: Duration = .seconds(60))
        async throws
        -> CommandResult
    {
        try await runCommand(
            try E2E.kubesnapBinary(), arguments, environment: E2E.environment(), directory: directory,
            timeout: timeout)
    }

    /// The non-empty lines of `text`.
    func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
    }

    @Test func topLevelHelpListsEverySubcommand() async throws {
        let result = try await kubesnap(["--help"])
        #expect(result.status == 0, "kubesnap --help: \(result)")
        for subcommand in ["operator", "apiserver", "dev"] {
            #expect(
                result.stdout.contains(subcommand),
                "kubesnap --help does not mention \(subcommand): \(result.stdout)")
        }
    }

    @Test(arguments: [
        (
            "operator",
            [
                "--kubeconfig", "--namespace", "--workers", "--leader-elect", "--metrics-bind-address",
                "--health-probe-bind-address", "--source-root", "--repository-root", "--cache-dir",
                "--kube-api-qps", "--kube-api-burst", "--max-concurrent-operations",
            ]
        ),
        ("apiserver", ["--data-dir", "--port", "--host"]),
        ("dev", ["--data-dir", "--port", "--workers", "--source-root", "--repository-root", "--max-concurrent-operations"]),
    ])
    func subcommandHelpDocumentsItsFlags(subcommand: String, flags: [String]) async throws {
        let result = try await kubesnap([subcommand, "--help"])
        #expect(result.status == 0, "kubesnap \(subcommand) --help: \(result)")
        for flag in flags {
            #expect(
                result.stdout.contains(flag),
                "kubesnap \(subcommand) --help does not document \(flag): \(result.stdout)")
        }
        // The hidden test-only flags stay hidden.
        #expect(
            !result.stdout.contains("--enable-fault-injection"), "\(subcommand) --help shows a hidden flag")
    }

    @Test(arguments: [
        (["apiserver", "--port", "abc"], "--port"),
        (["dev", "--port", "abc"], "--port"),
        (["apiserver", "--port", "70000"], "--port"),
        (["operator", "--workers", "0"], "--workers"),
        (["dev", "--workers", "0"], "--workers"),
        (["operator", "--max-concurrent-operations", "0"], "--max-concurrent-operations"),
        (["operator", "--log-level", "loud"], "--log-level"),
        (["operator", "--kube-api-qps=-1"], "--kube-api-qps"),
        (["operator", "--kube-api-qps", "20000"], "--kube-api-qps"),
        (["dev", "--kube-api-burst", "0"], "--kube-api-burst"),
        (["operator", "--no-such-flag"], "--no-such-flag"),
        (["apiserver", "--no-such-flag"], "--no-such-flag"),
        (["no-such-command"], "no-such-command"),
    ])
    func badFlagsExitNonZeroWithAOneLineError(arguments: [String], named: String) async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-cli")
        defer { directory.remove() }
        let result = try await kubesnap(arguments, directory: directory.path, timeout: .seconds(30))
        // Exactly one line, `kubesnap: <what is wrong>`, naming the flag.
        let errorLines = lines(result.stderr)
        #expect(result.status != 0, "kubesnap \(arguments.joined(separator: " ")) exited 0: \(result)")
        #expect(
            errorLines.count == 1 && errorLines.first?.hasPrefix("kubesnap: ") == true,
            "kubesnap \(arguments.joined(separator: " ")): expected one `kubesnap: ...` line, got:\n\(result.stderr)"
        )
        #expect(!result.stderr.contains("Fatal error"), "kubesnap crashed: \(result.stderr)")
        #expect(
            errorLines.first?.contains(named) == true,
            "kubesnap \(arguments.joined(separator: " ")): the error does not name \(named): \(result.stderr)"
        )
        // A bad flag must never start a server (nothing written to the default data dir).
        #expect(!FileManager.default.fileExists(atPath: directory.appending(".kubesnap/kubeconfig")))
    }

    @Test func operatorWithAMissingKubeconfigNamesTheFile() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-cli")
        defer { directory.remove() }
        let missing = directory.appending("nonexistent/kubeconfig")
        let result = try await kubesnap(
            [
                "operator", "--kubeconfig", missing, "--health-probe-bind-address", "0",
                "--metrics-bind-address", "0",
                "--cache-dir", directory.appending("cache"),
            ],
            directory: directory.path, timeout: .seconds(30))
        let errorLines = lines(result.stderr)
        #expect(result.status != 0, "operator with a missing kubeconfig exited 0: \(result)")
        #expect(errorLines.count == 1, "expected a one-line error, got:\n\(result.stderr)")
        #expect(result.stderr.contains(missing), "the error does not name \(missing): \(result.stderr)")
    }

    @Test func apiserverWritesItsKubeconfigOnlyOnceItAnswers() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-cli")
        defer { directory.remove() }
        let dataDir = directory.appending("data")
        let server = try KubesnapProcess.start(
            ["apiserver", "--port", "0", "--data-dir", dataDir], directory: directory.path,
            logPath: directory.appending("apiserver.log"))
        defer { server.kill9() }
        let kubeconfig = dataDir + "/kubeconfig"
        // Watch closely for the file; the first request after it appears must succeed.
        try await waitUntil("\(kubeconfig) to appear", timeout: .seconds(60), poll: .milliseconds(5)) {
            if !server.isRunning { throw E2EError("apiserver exited: \(server.log)") }
            return (
                FileManager.default.fileExists(atPath: kubeconfig),
                "not yet; log: \(E2E.tail(server.log, lines: 3))"
            )
        }
        let kubectl = Kubectl(kubeconfig: kubeconfig)
        let first = try await kubectl.run(["get", "namespaces", "-o", "name"])
        #expect(first.succeeded, "the first request after the kubeconfig appeared failed: \(first)")
        #expect(first.stdout.contains("namespace/default"), "no default namespace: \(first.stdout)")
        let status = await server.stop(signal: SIGTERM)
        #expect(
            status == 0,
            "apiserver did not exit 0 on SIGTERM (status \(String(describing: status))): \(E2E.tail(server.log))"
        )
        // A script that waits for the file must not find one pointing at a server that is gone
        // (else it runs kubectl against a dead port after the next start).
        #expect(
            !FileManager.default.fileExists(atPath: kubeconfig),
            "after a clean stop, \(kubeconfig) still points at the stopped server: a restart's waiter would take it for the new one"
        )
    }

    /// SIGINT stops `kubesnap dev` with status 0, and a restart on the same data directory finds
    /// every object (same UID, same status) and the repository's data as they were.
    @Test func devStopsOnSIGINTAndARestartFindsEverything() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-dev")
        defer { directory.remove() }
        try E2E.copyFromRepository("deploy/examples/data", to: directory.appending("data"))
        let first = try await KubesnapProcess.dev(in: directory.path, logName: "dev-1.log")
        defer { first.kill9() }
        let kubectl = Kubectl(kubeconfig: directory.appending(".kubesnap/kubeconfig"))
        try await kubectl.apply(
            DemoManifests.namespaceSecretRepository(namespace: "restart", path: "restart/app"))
        try await kubectl.waitForObject("repo", "app-repo", namespace: "restart", "to be Ready") {
            $0.phase == "Ready"
        }
        try await kubectl.apply(DemoManifests.snapshot(name: "one", namespace: "restart", source: "data/app"))
        let before = try await kubectl.waitForObject(
            "snap", "one", namespace: "restart", "to be verified", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0["status"]["verificationStatus"].stringValue == "OK" }

        let status = await first.stop(signal: SIGINT, timeout: .seconds(30))
        #expect(
            status == 0,
            "kubesnap dev did not exit 0 on SIGINT (status \(String(describing: status))): \(E2E.tail(first.log))"
        )

        let second = try await KubesnapProcess.dev(in: directory.path, logName: "dev-2.log")
        defer { second.kill9() }
        let after = try #require(
            try await kubectl.get("snap", "one", namespace: "restart"), "snapshot gone after restart")
        #expect(after["metadata"]["uid"] == before["metadata"]["uid"])
        #expect(after["status"]["snapshotID"] == before["status"]["snapshotID"])
        #expect(after.phase == "Ready")
        #expect(try await kubectl.get("repo", "app-repo", namespace: "restart") != nil)
        #expect(try await kubectl.get("secret", "app-repo-password", namespace: "restart") != nil)
        // The restarted operator keeps it Ready (it never re-captures: same snapshotID).
        try await kubectl.waitForObject("repo", "app-repo", namespace: "restart", "to be Ready again") {
            $0.phase == "Ready" && $0["status"]["snapshotCount"].intValue == 1
        }
        let restic = ResticCLI(
            repository: directory.appending(".kubesnap/repositories/restart/app"),
            password: DemoManifests.password,
            cacheDir: directory.appending("restic-cache"))
        let snapshots = try await restic.snapshots()
        #expect(
            snapshots.map { $0["id"] } == [before["status"]["snapshotID"]], "restic snapshots: \(snapshots)")
        let secondStatus = await second.stop(signal: SIGINT, timeout: .seconds(30))
        #expect(secondStatus == 0, "restarted kubesnap dev did not exit 0 on SIGINT: \(E2E.tail(second.log))")
    }
}

/// Small manifests the tests apply.
enum DemoManifests {
    static let password = "e2e-repository-password"

    static func namespaceSecretRepository(
        namespace: String, name: String = "app-repo", path: String, deletionPolicy: String = "Retain"
    ) -> String {
        """
        \(namespaceAndSecret(namespace))
        ---
        \(repository(name: name, namespace: namespace, path: path, deletionPolicy: deletionPolicy))
        """
    }

    /// The namespace and its repository password Secret `app-repo-password`.
    static func namespaceAndSecret(_ namespace: String) -> String {
        """
        apiVersion: v1
        kind: Namespace
        metadata: {name: \(namespace)}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: app-repo-password, namespace: \(namespace)}
        stringData: {password: \(password)}
        """
    }

    static func repository(name: String, namespace: String, path: String, deletionPolicy: String = "Retain")
        -> String
    {
        """
        apiVersion: kubesnap.io/v1alpha1
        kind: Repository
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          backend: {local: {path: "\(path)"}}
          encryptionSecret: {name: app-repo-password}
          deletionPolicy: \(deletionPolicy)
        """
    }

    static func snapshot(
        name: String, namespace: String, repository: String = "app-repo", source: String,
        deletionPolicy: String = "Delete"
    ) -> String {
        """
        apiVersion: kubesnap.io/v1alpha1
        kind: Snapshot
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          repository: \(repository)
          source: {path: "\(source)"}
          deletionPolicy: \(deletionPolicy)
        """
    }
}
