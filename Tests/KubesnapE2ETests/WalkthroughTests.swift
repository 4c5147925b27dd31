import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// The README's walk-through, run line by line against `kubesnap dev`, so the docs stay true.
@Suite struct WalkthroughTests {
    /// The shell lines between the README's walk-through markers (code fences dropped).
    static func walkthroughScript() throws -> String {
        let readme = try String(contentsOfFile: E2E.repositoryRoot + "/README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- walkthrough:start -->"),
            let end = readme.range(of: "<!-- walkthrough:end -->"), start.upperBound < end.lowerBound
        else {
            throw E2EError("README.md has no <!-- walkthrough:start --> ... <!-- walkthrough:end --> block")
        }
        let lines = readme[start.upperBound..<end.lowerBound].split(
            separator: "\n", omittingEmptySubsequences: false
        )
        .filter { !$0.hasPrefix("```") }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func readmeWalkthroughRunsAgainstKubesnapDev() async throws {
        let script = try Self.walkthroughScript()
        #expect(script.contains("kubectl"), "the walk-through has no kubectl line: \(script)")

        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-walkthrough")
        defer { directory.remove() }
        try E2E.copyFromRepository("deploy", to: directory.appending("deploy"))
        let dev = try await KubesnapProcess.dev(
            in: directory.path, dataDir: directory.appending(".kubesnap"),
            extraArguments: ["--restic", E2E.resticPath])
        defer { dev.kill9() }

        // restic and kubectl on PATH, first.
        let toolDirectories = Set([
            (E2E.resticPath as NSString).deletingLastPathComponent,
            (E2E.kubectlPath as NSString).deletingLastPathComponent,
        ])
        let path =
            (toolDirectories.sorted() + [ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
            .joined(separator: ":")
        let result = try await runCommand(
            "/bin/bash", ["-e", "-x", "-c", script],
            environment: E2E.environment([
                "PATH": path, "RESTIC_CACHE_DIR": directory.appending("restic-cache"),
            ]),
            directory: directory.path, timeout: .seconds(600))
        #expect(
            result.status == 0,
            "the README walk-through failed (exit \(result.status)).\n--- trace (last lines):\n\(E2E.tail(result.stderr, lines: 30))\n--- stdout (last lines):\n\(E2E.tail(result.stdout, lines: 30))\n--- kubesnap dev log (last lines):\n\(E2E.tail(dev.log, lines: 40))"
        )
        guard result.status == 0 else { return }

        // What the walk-through shows but a shell cannot assert by exit status alone.
        let kubectl = Kubectl(kubeconfig: directory.appending(".kubesnap/kubeconfig"))
        #expect(try await kubectl.get("snap", "bad", namespace: "demo") == nil, "the bad Snapshot was stored")
        let offsite = ResticCLI(
            repository: directory.appending(".kubesnap/repositories/demo/offsite"),
            password: "change-me-demo-password", cacheDir: directory.appending("restic-cache"))
        let offsiteSnapshots = try await offsite.snapshots()
        #expect(
            offsiteSnapshots.isEmpty,
            "deleting nightly-20261122-offsite-repo (policy Delete) left its restic snapshot: \(offsiteSnapshots)"
        )
        let app = ResticCLI(
            repository: directory.appending(".kubesnap/repositories/demo/app"),
            password: "change-me-demo-password",
            cacheDir: directory.appending("restic-cache"))
        let adopted = try #require(try await kubectl.get("snap", "adopted", namespace: "demo"))
        let appIDs = try await app.snapshots().compactMap { $0["id"].stringValue }
        #expect(adopted.phase == "Ready")
        #expect(
            appIDs.contains(adopted["status"]["snapshotID"].stringValue ?? "-"),
            "the adopted snapshot \(adopted["status"]) is not in the app repository \(appIDs)")
        #expect(
            appIDs.count == 2,
            "app repository: expected before-migration's (retained) and the session's, got \(appIDs)")

        // The console's list: `kubectl get snap -n demo` shows its columns, from the CRD's
        // printer columns through the server's Table, with the session's Snapshot filled in.
        let listing = try await kubectl.succeed(["get", "snap", "-n", "demo"])
        let header = listing.split(separator: "\n").first.map(String.init) ?? ""
        let columns = header.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        #expect(
            columns == "NAME REPOSITORY INVOKER KIND INVOKER NAME BACKEND REPOSITORY CREATION TIMESTAMP DELETION POLICY PHASE VERIFICATION STATUS AGE",
            "kubectl get snap -n demo shows other columns:\n\(listing)")
        let row = listing.split(separator: "\n").first { $0.hasPrefix("nightly-20261122-app-repo ") }.map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        } ?? []
        #expect(
            row.count == 10 && row[1] == "app-repo" && row[2] == "BackupSession" && row[3] == "nightly-20261122"
                && row[4].hasPrefix("local:/") && row[6] == "Delete" && row[7] == "Ready" && row[8] == "OK",
            "the session's Snapshot row is not what the console shows:\n\(listing)")
    }
}
