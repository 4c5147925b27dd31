import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import KubesnapAPI
import Testing

@testable import Kubesnap

/// RestoreSessions that must not lose data: the Snapshot they read cannot be deleted under
/// them, a deleted Running restore leaves the target as it was, and bad input (a Snapshot not
/// Ready, adopted with no source, not verified; a read-only target) is refused or fails with
/// the target untouched.
@Suite("RestoreSession safety")
struct RestoreSessionSafetyTests {
    static let namespace = RestoreSessionTests.namespace

    @Test(
        "deleting a Snapshot waits (Deleting, RestoreInProgress, finalizer kept) for a Running and a TargetBusy-Pending restore, then applies its policy"
    )
    func snapshotDeletionWaitsForRestores() async throws {
        try await withWrappedRestic { harness, restic in
            let (_, snapshot) = try await harness.snapshottedSource(
                ["a.txt": "alpha", "b.txt": "bravo"], deletionPolicy: "Delete")
            let id = try #require(snapshot["status"]["snapshotID"].stringValue)
            try restic.holdRestores()

            try await harness.createRestore("first", snapshot: "snap", target: "restored/app")
            try await harness.waitForRestore("first", phase: "Running", reason: "Restoring")
            try await waitUntil("restic to hold the first restore") {
                (restic.actions().contains("holding restore"), "actions: \(restic.actions())")
            }
            try await harness.createRestore(
                "second", snapshot: "snap", target: "restored/app", preRestoreSnapshot: false)
            let busy = try await harness.waitForRestore("second", phase: "Pending", reason: "TargetBusy")
            #expect(Harness.completed(busy).message.contains("first"), "\(Harness.describe(busy))")

            try await harness.client.delete(Harness.snapshots, namespace: Self.namespace, name: "snap")
            let held = try await harness.waitForStatus(
                Harness.snapshots, Self.namespace, "snap", "Deleting, RestoreInProgress naming both restores"
            ) {
                let ready = ($0["status"]["conditions"].arrayValue ?? []).first {
                    $0["type"].stringValue == "Ready"
                }
                let message = ready?["message"].stringValue ?? ""
                return $0["status"]["phase"].stringValue == "Deleting"
                    && ready?["reason"].stringValue == "RestoreInProgress"
                    && message.contains("first") && message.contains("second")
            }
            #expect(held["metadata"]["finalizers"].arrayValue?.contains("kubesnap.io/finalizer") == true)
            let idsWhileHeld = try await harness.resticSnapshots(
                repository: harness.repositoryRoot + "/repo", password: "pw-restore"
            )
            .compactMap { $0["id"].stringValue }
            #expect(
                idsWhileHeld.contains(id), "the restic snapshot stays while restores read it: \(idsWhileHeld)"
            )

            try restic.release()
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "first", "Succeeded", timeout: .seconds(120))
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "second", "Succeeded", timeout: .seconds(120))
            let target = (harness.sourceRoot as NSString).appendingPathComponent("restored/app")
            #expect(try FileTree.describe(target) == FileTree.describe(harness.sourceRoot + "/app"))
            // Both restores ended: the deletion goes on, by its policy (Delete).
            try await harness.waitForGone(Harness.snapshots, Self.namespace, "snap", timeout: .seconds(120))
            try await waitUntil(
                "the deleted Snapshot's restic snapshot \(id) to be forgotten", timeout: .seconds(60)
            ) {
                let ids = try await harness.resticSnapshots(
                    repository: harness.repositoryRoot + "/repo", password: "pw-restore"
                )
                .compactMap { $0["id"].stringValue }
                return (!ids.contains(id), "restic snapshots: \(ids)")
            }
            try await waitUntil("the Events of the wait", timeout: .seconds(30)) {
                let snapshotReasons = try await harness.eventReasons(Self.namespace, about: "snap")
                let sessionReasons = try await harness.eventReasons(Self.namespace, about: "second")
                return (
                    snapshotReasons.contains("RestoreInProgress") && sessionReasons.contains("TargetBusy"),
                    "snap: \(snapshotReasons); second: \(sessionReasons)"
                )
            }
        }
    }

    @Test(
        "a backup of a target being restored waits (SourceBusy, naming the RestoreSession) and then holds the restored data"
    )
    func backupWaitsForRestore() async throws {
        try await withWrappedRestic { harness, restic in
            let (dir, _) = try await harness.snapshottedSource(["a.txt": "alpha", "b.txt": "bravo"])
            let restoredTree = try FileTree.describe(dir)
            try "changed".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
            try restic.holdRestores()
            try await harness.createRestore("restoring", snapshot: "snap", preRestoreSnapshot: false)
            try await harness.waitForRestore("restoring", phase: "Running", reason: "Restoring")
            try await waitUntil("restic to hold the restore") {
                (restic.actions().contains("holding restore"), "actions: \(restic.actions())")
            }
            try await harness.createSnapshot(Self.namespace, "during", repository: "repo", source: "app")
            let waiting = try await harness.waitForReason(
                Harness.snapshots, Self.namespace, "during", phase: "Pending", reason: "SourceBusy")
            #expect(
                Harness.readyMessage(waiting).contains("RestoreSession \"restoring\""),
                "\(Harness.describe(waiting))")
            try restic.release()
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "restoring", "Succeeded", timeout: .seconds(120))
            try await harness.waitForStatus(
                Harness.snapshots, Self.namespace, "during", "Ready and verified", timeout: .seconds(90)
            ) {
                $0["status"]["phase"].stringValue == "Ready"
                    && $0["status"]["verificationStatus"].stringValue == "OK"
            }
            // The backup ran after the swap: restoring it gives the restored tree, not a mix.
            try await harness.createRestore(
                "check", snapshot: "during", target: "check", preRestoreSnapshot: false)
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "check", "Succeeded", timeout: .seconds(120))
            #expect(try FileTree.describe(harness.sourceRoot + "/check") == restoredTree)
        }
    }

    @Test("a restore into a source being backed up waits (TargetBusy, naming the Snapshot), then runs")
    func restoreWaitsForBackup() async throws {
        try await withWrappedRestic { harness, restic in
            let (dir, _) = try await harness.snapshottedSource(["a.txt": "alpha"])
            // The wrapper holds backups of sources named hold*, until release.
            let held = try harness.makeSource("hold-app", files: ["old.txt": "old"])
            try await harness.createSnapshot(Self.namespace, "held", repository: "repo", source: held)
            try await harness.waitForPhase(Harness.snapshots, Self.namespace, "held", "Running")
            try await harness.createRestore(
                "into-held", snapshot: "snap", target: held, preRestoreSnapshot: false)
            let waiting = try await harness.waitForRestore(
                "into-held", phase: "Pending", reason: "TargetBusy")
            #expect(
                Harness.completed(waiting).message.contains("Snapshot \"held\""),
                "\(Harness.describe(waiting))")
            #expect(try FileTree.describe(harness.sourceRoot + "/" + held).keys.sorted() == ["old.txt"])
            try restic.release()
            try await harness.waitForPhase(
                Harness.snapshots, Self.namespace, "held", "Ready", timeout: .seconds(120))
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "into-held", "Succeeded", timeout: .seconds(120))
            #expect(try FileTree.describe(harness.sourceRoot + "/" + held) == FileTree.describe(dir))
        }
    }

    @Test(
        "deleting a Running RestoreSession cancels restic; the target keeps its old content, staging is removed, the pre-restore Snapshot stays"
    )
    func deletingRunningRestoreCancelsIt() async throws {
        try await withWrappedRestic { harness, restic in
            let (dir, _) = try await harness.snapshottedSource(["a.txt": "alpha", "b.txt": "bravo"])
            try "changed".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
            try "new".write(toFile: dir + "/new.txt", atomically: true, encoding: .utf8)
            let changed = try FileTree.describe(dir)
            try restic.holdRestores()

            try await harness.createRestore("cancel-me", snapshot: "snap")
            try await harness.waitForRestore(
                "cancel-me", phase: "Running", reason: "Restoring", timeout: .seconds(120))
            try await waitUntil("restic to hold the restore") {
                (restic.actions().contains("holding restore"), "actions: \(restic.actions())")
            }
            let staged = try harness.restoreLeftovers()
            #expect(
                staged.contains { $0.hasPrefix(".kubesnap-restore-") },
                "restic wrote the staging directory: \(staged)")

            try await harness.client.delete(Harness.restores, namespace: Self.namespace, name: "cancel-me")
            try await harness.waitForGone(Harness.restores, Self.namespace, "cancel-me")
            #expect(
                restic.actions().contains("restore stopped by a signal"),
                "restic was stopped: \(restic.actions())")
            #expect(try FileTree.describe(dir) == changed, "the target keeps its old content")
            #expect(try harness.restoreLeftovers().isEmpty, "the staging directory is removed")
            let pre = try await harness.get(Harness.snapshots, Self.namespace, "cancel-me-pre-restore")
            #expect(
                pre?["status"]["phase"].stringValue == "Ready",
                "the pre-restore Snapshot stays: \(Harness.describe(pre))")
        }
    }

    @Test(
        "a Snapshot not Ready keeps the restore Pending (SnapshotNotReady) until it is; an adopted Snapshot never read back is SnapshotNotVerified; with no source and no target it is InvalidSpec naming spec.target"
    )
    func snapshotNotReadyAndAdoptedWithoutSource() async throws {
        try await withOperator { harness in
            // A Repository whose Secret is missing: its Snapshot waits, and so does the restore.
            try await harness.createRepository(Self.namespace, "late-repo", path: "late", secret: "late-pw")
            let source = try harness.makeSource("app", files: ["a.txt": "alpha"])
            try await harness.createSnapshot(
                Self.namespace, "waiting", repository: "late-repo", source: source)
            try await harness.createRestore("not-ready", snapshot: "waiting", target: "restored/app")
            let pending = try await harness.waitForRestore(
                "not-ready", phase: "Pending", reason: "SnapshotNotReady")
            #expect(Harness.completed(pending).message.contains("waiting"), "\(Harness.describe(pending))")
            try await harness.createSecret(Self.namespace, "late-pw", password: "pw-late")
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "not-ready", "Succeeded", timeout: .seconds(120))
            #expect(
                try FileTree.describe(harness.sourceRoot + "/restored/app")
                    == FileTree.describe(harness.sourceRoot + "/app"))

            // An adopted restic snapshot: its Snapshot names no source to restore into.
            try await harness.readyRepository(Self.namespace, "repo", path: "repo", password: "pw-restore")
            let made = try await harness.restic(
                ["-r", harness.repositoryRoot + "/repo", "backup", "--json", harness.sourceRoot + "/app"],
                password: "pw-restore")
            let summary = made.stdout.split(separator: "\n").compactMap {
                try? JSONValue.parse(Data($0.utf8))
            }
            .first { $0["message_type"].stringValue == "summary" }
            let id = try #require(summary?["snapshot_id"].stringValue, "restic backup: \(made)")
            try await harness.createSnapshot(Self.namespace, "adopted", repository: "repo", snapshotID: id)
            try await harness.waitForPhase(Harness.snapshots, Self.namespace, "adopted", "Ready")
            // Adopted, never read back: refused (waiting would be forever), with what to do.
            try await harness.createRestore("never-verified", snapshot: "adopted", target: "from-adopted")
            let refused = try await harness.waitForRestore(
                "never-verified", phase: "Failed", reason: "SnapshotNotVerified")
            #expect(
                Harness.completed(refused).message.contains("kubesnap.io/verify-requested"),
                "\(Harness.describe(refused))")
            _ = try await harness.client.patch(
                Harness.snapshots, namespace: Self.namespace, name: "adopted", type: .merge,
                ["metadata": ["annotations": ["kubesnap.io/verify-requested": "1"]]])
            try await harness.waitForStatus(
                Harness.snapshots, Self.namespace, "adopted", "Ready and verified", timeout: .seconds(90)
            ) {
                $0["status"]["phase"].stringValue == "Ready"
                    && $0["status"]["verificationStatus"].stringValue == "OK"
            }
            try await harness.createRestore("no-target", snapshot: "adopted")
            let invalid = try await harness.waitForRestore(
                "no-target", phase: "Failed", reason: "InvalidSpec")
            #expect(
                Harness.completed(invalid).message.hasPrefix("spec.target"), "\(Harness.describe(invalid))")
            // With a target it restores.
            try await harness.createRestore("with-target", snapshot: "adopted", target: "from-adopted")
            try await harness.waitForPhase(
                Harness.restores, Self.namespace, "with-target", "Succeeded", timeout: .seconds(120))
        }
    }

    @Test(
        "a Snapshot whose verification is not OK: SnapshotNotVerified, unless kubesnap.io/restore-unverified is \"true\" (a Warning Event; the corrupted data then fails the restore and the target is untouched)"
    )
    func unverifiedSnapshot() async throws {
        try await withOperator { harness in
            let (dir, _) = try await harness.snapshottedSource([
                "big.txt": String(repeating: "0123456789abcdef", count: 4096)
            ])
            try "changed".write(toFile: dir + "/big.txt", atomically: true, encoding: .utf8)
            let changed = try FileTree.describe(dir)
            // Corrupt every data pack, and ask for a verification, which reports it.
            #expect(try harness.corruptDataPacks(repository: "repo") > 0)
            _ = try await harness.client.patch(
                Harness.snapshots, namespace: Self.namespace, name: "snap", type: .merge,
                ["metadata": ["annotations": ["kubesnap.io/verify-requested": "after-corruption"]]])
            try await harness.waitForStatus(
                Harness.snapshots, Self.namespace, "snap", "a verification error", timeout: .seconds(90)
            ) {
                let text = $0["status"]["verificationStatus"].stringValue ?? ""
                return !text.isEmpty && text != "OK"
            }

            try await harness.createRestore("refused", snapshot: "snap", preRestoreSnapshot: false)
            let refused = try await harness.waitForRestore(
                "refused", phase: "Failed", reason: "SnapshotNotVerified")
            #expect(
                Harness.completed(refused).message.contains("kubesnap.io/restore-unverified"),
                "\(Harness.describe(refused))")

            try await harness.createRestore(
                "anyway", snapshot: "snap", preRestoreSnapshot: false,
                annotations: ["kubesnap.io/restore-unverified": "true"])
            let anyway = try await harness.waitForPhase(
                Harness.restores, Self.namespace, "anyway", "Failed", timeout: .seconds(120))
            #expect(
                ["RestoreFailed", "VerificationFailed"].contains(Harness.completed(anyway).reason),
                "\(Harness.describe(anyway))")
            #expect(try FileTree.describe(dir) == changed, "the target is untouched")
            #expect(try harness.restoreLeftovers().isEmpty)
            try await waitUntil("the Warning Event about the unverified Snapshot", timeout: .seconds(30)) {
                let reasons = try await harness.eventReasons(Self.namespace, about: "anyway")
                return (reasons.contains("SnapshotNotVerified"), "Events: \(reasons)")
            }
        }
    }

    @Test("a target on a read-only filesystem: RestoreFailed with the OS error, the target untouched")
    func readOnlyTarget() async throws {
        try await withOperator { harness in
            try await harness.snapshottedSource(["a.txt": "alpha"])
            let readOnly = try ReadOnlyDirectory(
                harness.sourceRoot + "/ro", files: ["app/a.txt": "old", "app/b.txt": "bravo"])
            defer { readOnly.remove() }
            let before = try FileTree.describe(readOnly.path + "/app")

            try await harness.createRestore(
                "read-only", snapshot: "snap", target: "ro/app", preRestoreSnapshot: false)
            let failed = try await harness.waitForRestore(
                "read-only", phase: "Failed", reason: "RestoreFailed", timeout: .seconds(120))
            let message = Harness.completed(failed).message
            #expect(
                message.contains(readOnly.expectedError),
                "the OS error (\(readOnly.expectedError)) is named: \(message)")
            #expect(try FileTree.describe(readOnly.path + "/app") == before, "the target is untouched")
            #expect(try harness.restoreLeftovers(in: readOnly.path).isEmpty)
        }
    }
}

/// A directory whose content cannot be changed: as root (which permissions do not stop) a
/// tmpfs mounted there and remounted read-only, otherwise a directory without write permission.
struct ReadOnlyDirectory {
    let path: String
    let mounted: Bool
    /// What the operating system says when the restore tries to write there.
    var expectedError: String { mounted ? "Read-only file system" : "Permission denied" }

    init(_ path: String, files: [String: String]) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        mounted = getuid() == 0
        if mounted {
            let mount = try Self.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", path])
            guard mount == 0 else { throw TestFailure("mount tmpfs at \(path) failed (\(mount))") }
        }
        for (relative, text) in files {
            let file = (path as NSString).appendingPathComponent(relative)
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        }
        if mounted {
            let remount = try Self.run("/usr/bin/mount", ["-o", "remount,ro", path])
            guard remount == 0 else {
                _ = try? Self.run("/usr/bin/umount", [path])
                throw TestFailure("remount read-only of \(path) failed (\(remount))")
            }
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: path)
        }
    }

    func remove() {
        if mounted {
            _ = try? Self.run("/usr/bin/umount", [path])
        } else {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
