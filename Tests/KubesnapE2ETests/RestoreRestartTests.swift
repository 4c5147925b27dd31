import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// The operator SIGKILLed (with the restic it runs, as in a pod kill) at three points of a
/// restore, and started again: during the pre-restore Snapshot, during `restic restore`, and
/// between the swap's two renames. Each time the target is whole afterwards (all old or all
/// new, compared as trees), the RestoreSession finishes or ends Interrupted (never stays
/// Running), no staging or old directory is left, and a restore that succeeded is not run again.
@Suite struct RestoreRestartTests {
    static let namespace = "restore-restart"

    /// A restic that runs the real one and, while `hold-backup` or `hold-restore` exists in its
    /// directory, holds a finished `backup` or `restore` (writing "holding backup" or "holding
    /// restore" to actions.log) until `release` exists: the operator sees the command running
    /// for as long as the test wants, with its data written. `hold-backup-before` holds a
    /// backup before restic starts ("holding backup before restic"): nothing is written.
    struct HoldingRestic {
        let directory: String
        var executable: String { directory + "/restic" }

        init(in directory: String) throws {
            self.directory = directory
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let script = """
                #!/bin/bash
                dir='\(directory)'
                echo "$*" >> "$dir/runs.log"
                command=""
                for argument in "$@"; do
                  case "$argument" in backup|restore) command="$argument"; break ;; esac
                done
                if [ -n "$command" ] && [ -e "$dir/hold-$command-before" ]; then
                  echo "holding $command before restic" >> "$dir/actions.log"
                  while [ -d "$dir" ] && [ ! -e "$dir/release" ]; do sleep 0.01; done
                fi
                if [ -n "$command" ] && [ -e "$dir/hold-$command" ]; then
                  '\(E2E.resticPath)' "$@"
                  status=$?
                  echo "holding $command" >> "$dir/actions.log"
                  while [ -d "$dir" ] && [ ! -e "$dir/release" ]; do sleep 0.01; done
                  exit $status
                fi
                exec '\(E2E.resticPath)' "$@"

                """
            try script.write(toFile: executable, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executable)
        }

        func hold(_ command: String) throws {
            try "".write(toFile: "\(directory)/hold-\(command)", atomically: true, encoding: .utf8)
        }

        func stopHolding(_ command: String) throws {
            try FileManager.default.removeItem(atPath: "\(directory)/hold-\(command)")
        }

        func actions() -> [String] { lines("actions.log") }
        func runs() -> [String] { lines("runs.log") }

        private func lines(_ file: String) -> [String] {
            ((try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)) ?? "").split(
                separator: "\n"
            )
            .map(String.init)
        }
    }

    static func restore(_ name: String, snapshot: String, target: String, preRestoreSnapshot: Bool = true)
        -> String
    {
        """
        apiVersion: kubesnap.io/v1alpha1
        kind: RestoreSession
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          snapshot: \(snapshot)
          target: {path: "\(target)"}
          preRestoreSnapshot: \(preRestoreSnapshot)
        """
    }

    /// Writes the target's old content: other files than the snapshot's, and one changed.
    static func writeOldContent(_ cluster: E2ECluster, _ target: String) throws {
        try cluster.directory.write("sources/\(target)/a.txt", "old alpha\n")
        try cluster.directory.write("sources/\(target)/only-old.txt", "only in the old content\n")
        try cluster.directory.write("sources/\(target)/old-dir/x.txt", "x\n")
    }

    /// `.kubesnap-*` names beside the targets (all under the source root).
    static func leftovers(_ cluster: E2ECluster) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: cluster.sourceRoot).filter {
                $0.hasPrefix(".kubesnap")
            }
        } catch {
            return ["(the source root cannot be listed: \(error))"]
        }
    }

    /// Waits until the RestoreSession has finished (Succeeded, or Failed with reason `Interrupted`).
    static func waitFinished(_ kubectl: Kubectl, _ name: String) async throws -> JSONValue {
        try await kubectl.waitForObject(
            "rst", name, namespace: namespace, "to end Succeeded or Failed/Interrupted",
            timeout: .seconds(180),
            rejected: {
                $0.phase == "Failed" && $0.conditionReason("Completed") != "Interrupted"
                    ? "failed with reason \($0.conditionReason("Completed"))" : nil
            }
        ) { $0.phase == "Succeeded" || $0.phase == "Failed" }
    }

    /// Waits until the RestoreSession `name` has finished and expects it Failed, Interrupted,
    /// with `target` holding its old content whole and nothing left beside it; returns it.
    static func expectInterrupted(
        _ kubectl: Kubectl, _ name: String, _ cluster: E2ECluster, target: String, old: [String: String]?
    ) async throws -> JSONValue {
        let session = try await waitFinished(kubectl, name)
        #expect(
            session.phase == "Failed" && session.conditionReason("Completed") == "Interrupted",
            "\(name): \(session["status"])")
        #expect(
            try FileTree.describe(cluster.sourceRoot + "/" + target) == old,
            "\(name): the target keeps its old content, whole")
        #expect(leftovers(cluster).isEmpty, "\(name): left beside the targets: \(leftovers(cluster))")
        return session
    }

    @Test func operatorKilledDuringARestoreLeavesTheTargetWhole() async throws {
        let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-restore-restart")
        defer {
            cluster.kill()
            cluster.directory.remove()
        }
        let restic = try HoldingRestic(in: cluster.directory.appending("restic-wrapper"))
        let pauses = cluster.directory.appending("pauses")
        try FileManager.default.createDirectory(atPath: pauses, withIntermediateDirectories: true)
        let kubectl = cluster.kubectl
        var current: KubesnapProcess? = try cluster.startOperator(
            name: "operator-1", restic: restic.executable)
        defer { current?.kill9() }

        try cluster.writeSmallSource("app")
        let snapshotTree = try FileTree.describe(cluster.sourceRoot + "/app")
        try await kubectl.apply(
            DemoManifests.namespaceSecretRepository(namespace: Self.namespace, path: "restore-restart"))
        try await kubectl.apply(
            DemoManifests.snapshot(name: "snap", namespace: Self.namespace, source: "app"))
        try await kubectl.waitForObject("snap", "snap", namespace: Self.namespace, "to be Ready and verified")
        {
            $0.phase == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK"
        }
        var oldTrees: [String: [String: String]] = [:]
        for target in ["during-pre-restore", "before-pre-restore", "during-restore", "between-renames"] {
            try Self.writeOldContent(cluster, target)
            oldTrees[target] = try FileTree.describe(cluster.sourceRoot + "/" + target)
        }

        /// SIGKILLs the operator (and its restic) and starts the next one.
        func restart(_ name: String, environment: [String: String] = [:]) throws {
            current?.kill9()
            current = try cluster.startOperator(
                name: name, restic: restic.executable, environment: environment)
        }

        // 1. During the pre-restore Snapshot: its restic backup has written the snapshot, the
        // operator has not seen it end. The restarted operator adopts it (the tagged copy), and
        // the restore goes on to the end.
        try restic.hold("backup")
        try await kubectl.apply(Self.restore("first", snapshot: "snap", target: "during-pre-restore"))
        try await waitUntil("the pre-restore backup to be held") {
            (restic.actions().contains("holding backup"), "actions: \(restic.actions())")
        }
        let atFirstKill = try #require(try await kubectl.get("rst", "first", namespace: Self.namespace))
        #expect(
            atFirstKill.conditionReason("Completed") == "PreRestoreSnapshotRunning",
            "\(atFirstKill["status"])")
        try restic.stopHolding("backup")
        try restart("operator-2")
        let first = try await Self.waitFinished(kubectl, "first")
        let firstTree = try FileTree.describe(cluster.sourceRoot + "/during-pre-restore")
        #expect(
            firstTree == oldTrees["during-pre-restore"] || firstTree == snapshotTree,
            "the target is all old or all new: \(firstTree)")
        if first.phase == "Succeeded" {
            #expect(firstTree == snapshotTree, "Succeeded, and the target is the snapshot")
            let pre = try await kubectl.waitForObject(
                "snap", "first-pre-restore", namespace: Self.namespace, "to be Ready"
            ) { $0.phase == "Ready" }
            #expect(pre["status"]["snapshotID"].stringValue != nil)
        } else {
            #expect(
                firstTree == oldTrees["during-pre-restore"],
                "Interrupted before the restore: the target keeps its old content")
        }
        #expect(Self.leftovers(cluster).isEmpty, "left beside the targets: \(Self.leftovers(cluster))")

        // 1b. During the pre-restore Snapshot, before its restic backup wrote anything: the
        // restarted operator finds no copy, the pre-restore Snapshot and the session end
        // Interrupted, the target untouched.
        try restic.hold("backup-before")
        try await kubectl.apply(Self.restore("first-b", snapshot: "snap", target: "before-pre-restore"))
        try await waitUntil("the pre-restore backup to be held before restic starts") {
            (restic.actions().contains("holding backup before restic"), "actions: \(restic.actions())")
        }
        try restic.stopHolding("backup-before")
        try restart("operator-2b")
        _ = try await Self.expectInterrupted(
            kubectl, "first-b", cluster, target: "before-pre-restore", old: oldTrees["before-pre-restore"])
        let preB = try #require(
            try await kubectl.get("snap", "first-b-pre-restore", namespace: Self.namespace))
        #expect(preB.phase == "Failed" && preB.conditionReason("Ready") == "Interrupted", "\(preB["status"])")

        // 2. During restic restore: the staging directory is written, restic has not ended.
        try restic.hold("restore")
        try await kubectl.apply(
            Self.restore("second", snapshot: "snap", target: "during-restore", preRestoreSnapshot: false))
        try await waitUntil("the restore to be held") {
            (restic.actions().contains("holding restore"), "actions: \(restic.actions())")
        }
        #expect(
            Self.leftovers(cluster).contains { $0.hasPrefix(".kubesnap-restore-") },
            "restic wrote the staging directory")
        try restic.stopHolding("restore")
        try restart(
            "operator-3",
            environment: ["KUBESNAP_TEST_PAUSE_AT": "between-renames", "KUBESNAP_TEST_PAUSE_DIR": pauses])
        let second = try await Self.expectInterrupted(
            kubectl, "second", cluster, target: "during-restore", old: oldTrees["during-restore"])

        // 3. Between the renames: the old content is moved aside, the restored tree not yet in
        // place (the operator stops there, see PausePoints).
        try await kubectl.apply(
            Self.restore("third", snapshot: "snap", target: "between-renames", preRestoreSnapshot: false))
        try await waitUntil("the operator to stop between the renames", timeout: .seconds(120)) {
            (
                FileManager.default.fileExists(atPath: pauses + "/between-renames.reached"),
                "status: \((try? await kubectl.get("rst", "third", namespace: Self.namespace))?["status"].serialized() ?? "-")"
            )
        }
        #expect(
            !FileManager.default.fileExists(atPath: cluster.sourceRoot + "/between-renames"),
            "the target is moved aside")
        #expect(Self.leftovers(cluster).contains { $0.hasPrefix(".kubesnap-old-") })
        let runsBeforeLastRestart = restic.runs().count
        try restart("operator-4")
        let third = try await Self.expectInterrupted(
            kubectl, "third", cluster, target: "between-renames", old: oldTrees["between-renames"])

        // A finished restore is never run again: none of the restarted operators restored
        // "first" a second time (a change to its target since stays), and no restore ran since.
        if first.phase == "Succeeded" {
            #expect(try FileTree.describe(cluster.sourceRoot + "/during-pre-restore") == snapshotTree)
        }
        let after = try #require(try await kubectl.get("rst", "first", namespace: Self.namespace))
        #expect(after["status"]["completionTime"] == first["status"]["completionTime"], "\(after["status"])")
        let newRestores = restic.runs().dropFirst(runsBeforeLastRestart).filter { $0.contains(" restore ") }
        #expect(newRestores.isEmpty, "restores run after the last restart: \(newRestores)")
        print(
            "restore restarts: killed during the pre-restore Snapshot -> \(first.phase) (\(first.conditionReason("Completed"))); before its backup wrote anything -> Interrupted; during restic restore -> \(second.conditionReason("Completed")); between the renames -> \(third.conditionReason("Completed"))"
        )
        for name in ["first", "first-b", "second", "third"] {
            let session = try #require(try await kubectl.get("rst", name, namespace: Self.namespace))
            #expect(session.phase != "Running", "\(name) stays Running: \(session["status"])")
        }
    }
}
