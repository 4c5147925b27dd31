import Foundation
import KubeTestSupport
import Testing

/// The web console in a real headless Chromium, driven by Selenium (Tests/Browser/console_test.py):
/// against `kubesnap dev` as the admin, and a `kubesnap console` for the tenant alice, whose
/// Role allows reading Snapshots in one namespace. Screenshots go to a temporary directory, or
/// to docs/ with KUBESNAP_UPDATE_SCREENSHOTS=1 (the README shows those).
@Suite("web console in Chromium")
struct ConsoleBrowserTests {
    @Test func consoleInARealBrowser() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-console")
        defer { directory.remove() }
        let dataDir = directory.appending(".kubesnap")
        let dev = try await KubesnapProcess.dev(
            in: directory.path, dataDir: dataDir, extraArguments: ["--restic", E2E.resticPath])
        defer { dev.kill9() }
        let adminURL = try await Self.loginURL(of: dev, prefix: "console: ")

        let tenantConfig = directory.appending("alice.kubeconfig")
        let written = try await runCommand(
            try E2E.kubesnapBinary(), ["apiserver", "--data-dir", dataDir, "kubeconfig", "--user", "alice", "--output", tenantConfig],
            environment: E2E.environment())
        try #require(written.succeeded, "\(written)")
        let tenant = try KubesnapProcess.start(
            ["console", "--kubeconfig", tenantConfig, "--address", "127.0.0.1:0"], directory: directory.path,
            logPath: directory.appending("tenant-console.log"))
        defer { tenant.kill9() }
        let tenantURL = try await Self.loginURL(of: tenant, prefix: "kubesnap console: ")

        let update = ProcessInfo.processInfo.environment["KUBESNAP_UPDATE_SCREENSHOTS"] == "1"
        let shots = update ? E2E.repositoryRoot + "/docs" : directory.appending("screenshots")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let script = E2E.repositoryRoot + "/Tests/Browser/console_test.py"
        let result = try await runCommand(
            "/usr/bin/env", ["python3", script],
            environment: E2E.environment([
                "CONSOLE_URL": adminURL, "TENANT_URL": tenantURL, "KUBECONFIG": dataDir + "/kubeconfig",
                "WORKDIR": directory.path, "REPOSITORIES": dataDir + "/repositories", "RESTIC": E2E.resticPath,
                "SCREENSHOTS": shots, "PATH": (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            ]),
            directory: directory.path, timeout: .seconds(900))
        #expect(
            result.status == 0,
            "console browser checks failed (exit \(result.status)):\n\(result.stdout)\n--- stderr (last lines):\n\(E2E.tail(result.stderr, lines: 30))\n--- kubesnap dev log (last lines):\n\(E2E.tail(dev.log, lines: 30))"
        )
        print(result.stdout)
    }

    /// The login URL a console printed (`<prefix>http://...`).
    static func loginURL(of process: KubesnapProcess, prefix: String) async throws -> String {
        try await waitFor("the console to print its URL", timeout: .seconds(60), poll: .milliseconds(100)) {
            if !process.isRunning { throw E2EError("the console exited: \(E2E.tail(process.log))") }
            let line = process.log.split(separator: "\n").first { $0.hasPrefix(prefix) && $0.contains("/login?token=") }
            guard let line else { return .notYet(E2E.tail(process.log, lines: 5)) }
            return .done(String(line.dropFirst(prefix.count)))
        }
    }
}
