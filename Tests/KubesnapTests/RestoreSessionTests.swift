import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import KubesnapAPI
import Testing

@testable import Kubesnap

/// RestoreSessions against the built-in API server and real restic: restore by swap over
/// changed data, the pre-restore Snapshot and undo, a new path, and bad input.
@Suite("RestoreSession")
struct RestoreSessionTests {
    static let namespace = "default"

    static func setMode(_ path: String, _ mode: Int, mtime: TimeInterval? = nil) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: NSNumber(value: mode)]
        if let mtime { attributes[.modificationDate] = Date(timeIntervalSince1970: mtime) }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }

    @Test("restore over changed data: extra files gone, changed files, modes and times back; the pre-restore Snapshot holds the data from before, and restoring it undoes the restore")
    func restoreOverChangedDataAndUndo() async throws {
        try await withOperator { harness in
            try await harness.readyRepository(Self.namespace, "repo", path: "repo", password: "pw-restore")
            let source = try harness.makeSource("app", files: ["a.txt": "alpha", "b.txt": "bravo"])
            let dir = (harness.sourceRoot as NSString).appendingPathComponent(source)
            try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
            try "charlie".write(toFile: dir + "/sub/c.txt", atomically: true, encoding: .utf8)
            try Self.setMode(dir + "/b.txt", 0o600, mtime: 1_600_000_000)
            try Self.setMode(dir + "/sub/c.txt", 0o640, mtime: 1_500_000_000)
            let original = try FileTree.describe(dir)
            try await harness.verifiedSnapshot("before-migration", source: source)

            // The "migration": a changed file, a removed one, new ones, other modes.
            try "ALPHA changed".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
            try FileManager.default.removeItem(atPath: dir + "/sub/c.txt")
            try "extra".write(toFile: dir + "/extra.txt", atomically: true, encoding: .utf8)
            try "more".write(toFile: dir + "/sub/new.txt", atomically: true, encoding: .utf8)
            try Self.setMode(dir + "/b.txt", 0o644, mtime: 1_700_000_000)
            let changed = try FileTree.describe(dir)
            #expect(changed != original)

            try await harness.createRestore("undo-migration", snapshot: "before-migration")
            let done = try await harness.waitForPhase(Harness.restores, Self.namespace, "undo-migration", "Succeeded", timeout: .seconds(120))
            #expect(try FileTree.describe(dir) == original, "the target is exactly the snapshot")
            #expect(done["status"]["verificationStatus"].stringValue == "OK")
            #expect(done["status"]["restoredFiles"].intValue == 3)
            #expect(done["status"]["restoredBytes"].intValue == Int64("alphabravocharlie".utf8.count))
            #expect(done["status"]["preRestoreSnapshot"].stringValue == "undo-migration-pre-restore")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: harness.sourceRoot).filter { $0.hasPrefix(".kubesnap") }
            #expect(leftovers.isEmpty, "staging and old directories are removed: \(leftovers)")

            // The pre-restore Snapshot: Ready, verified, labelled, and holding the changed data.
            let pre = try await harness.waitForPhase(Harness.snapshots, Self.namespace, "undo-migration-pre-restore", "Ready")
            #expect(pre["metadata"]["labels"]["kubesnap.io/pre-restore-of"].stringValue == "undo-migration")
            #expect(pre["status"]["verificationStatus"].stringValue == "OK")
            #expect(pre["spec"]["deletionPolicy"].stringValue == "Delete")
            // Events are sent in the background: wait for them with a deadline.
            try await waitUntil("the RestoreSession's Events", timeout: .seconds(30)) {
                let reasons = try await harness.eventReasons(Self.namespace, about: "undo-migration")
                let wanted = ["RestoreStarted", "PreRestoreSnapshotTaken", "RestoreCompleted"]
                return (wanted.allSatisfy(reasons.contains), "Events seen: \(reasons)")
            }

            // Undo: restore the pre-restore Snapshot; the target is as it was before the restore.
            try await harness.createRestore("undo-undo", snapshot: "undo-migration-pre-restore", preRestoreSnapshot: false)
            let undone = try await harness.waitForPhase(Harness.restores, Self.namespace, "undo-undo", "Succeeded", timeout: .seconds(120))
            #expect(try FileTree.describe(dir) == changed, "the pre-restore Snapshot held exactly the data from before the restore")
            #expect(undone["status"]["preRestoreSnapshot"].stringValue == nil)
            let message = (undone["status"]["conditions"].arrayValue ?? []).first { $0["type"].stringValue == "Completed" }?["message"].stringValue ?? ""
            #expect(message.contains("preRestoreSnapshot is false"), "\(message)")
        }
    }

    @Test("restore into a new, empty path: no pre-restore Snapshot, the condition says why")
    func restoreIntoNewPath() async throws {
        try await withOperator { harness in
            let (dir, _) = try await harness.snapshottedSource(["a.txt": "alpha"])
            try await harness.createRestore("to-new", snapshot: "snap", target: "restored/app")
            let done = try await harness.waitForPhase(Harness.restores, Self.namespace, "to-new", "Succeeded", timeout: .seconds(120))
            let target = (harness.sourceRoot as NSString).appendingPathComponent("restored/app")
            #expect(try FileTree.describe(target) == FileTree.describe(dir))
            #expect(done["status"]["preRestoreSnapshot"].stringValue == nil)
            #expect(try await harness.get(Harness.snapshots, Self.namespace, "to-new-pre-restore") == nil)
            let message = (done["status"]["conditions"].arrayValue ?? []).first { $0["type"].stringValue == "Completed" }?["message"].stringValue ?? ""
            #expect(message.contains("empty or missing"), "\(message)")
        }
    }

    @Test("bad input: a missing Snapshot, a target outside the source root, a target that is a file")
    func badInput() async throws {
        try await withOperator { harness in
            try await harness.snapshottedSource(["a.txt": "alpha"])
            try "x".write(toFile: harness.sourceRoot + "/plain-file", atomically: true, encoding: .utf8)

            try await harness.createRestore("no-snapshot", snapshot: "nope")
            try await harness.createRestore("outside", snapshot: "snap", target: "/etc")
            try await harness.createRestore("a-file", snapshot: "snap", target: "plain-file")
            for (name, reason, field) in [
                ("no-snapshot", "SnapshotNotFound", "spec.snapshot"), ("outside", "InvalidSpec", "spec.target.path"),
                ("a-file", "InvalidSpec", "spec.target.path"),
            ] {
                let object = try await harness.waitForStatus(Harness.restores, Self.namespace, name, "Failed, \(reason)") {
                    $0["status"]["phase"].stringValue == "Failed"
                }
                let condition = (object["status"]["conditions"].arrayValue ?? []).first { $0["type"].stringValue == "Completed" }
                #expect(condition?["reason"].stringValue == reason, "\(name): \(Harness.describe(object))")
                #expect(condition?["message"].stringValue?.contains(field) == true, "\(name): \(Harness.describe(object))")
            }
            #expect(try String(contentsOfFile: harness.sourceRoot + "/plain-file", encoding: .utf8) == "x")
        }
    }
}

extension Harness {
    /// The Ready Repository `repo`, the source `app` holding `files`, and its Ready, verified
    /// Snapshot `snap`: the source's absolute path and the Snapshot.
    @discardableResult
    func snapshottedSource(_ files: [String: String], deletionPolicy: String? = nil) async throws -> (String, JSONValue) {
        try await readyRepository(RestoreSessionTests.namespace, "repo", path: "repo", password: "pw-restore")
        let source = try makeSource("app", files: files)
        let snapshot = try await verifiedSnapshot("snap", source: source, deletionPolicy: deletionPolicy)
        return ((sourceRoot as NSString).appendingPathComponent(source), snapshot)
    }

    /// Flips bytes in the middle of every data pack of the local repository at `repository`
    /// (under the repository root); returns how many packs it corrupted.
    func corruptDataPacks(repository: String) throws -> Int {
        let data = (repositoryRoot as NSString).appendingPathComponent(repository) + "/data"
        var corrupted = 0
        for sub in try FileManager.default.contentsOfDirectory(atPath: data) {
            for pack in try FileManager.default.contentsOfDirectory(atPath: "\(data)/\(sub)") {
                let path = "\(data)/\(sub)/\(pack)"
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                for index in stride(from: bytes.count / 4, to: bytes.count * 3 / 4, by: 7) { bytes[index] ^= 0xFF }
                try bytes.write(to: URL(fileURLWithPath: path))
                corrupted += 1
            }
        }
        return corrupted
    }
    /// Creates the RestoreSession `name` (in RestoreSessionTests.namespace) restoring `snapshot`.
    func createRestore(
        _ name: String, snapshot: String, target: String? = nil, preRestoreSnapshot: Bool? = nil,
        annotations: [String: String] = [:]
    ) async throws {
        var spec: JSONValue = ["snapshot": .string(snapshot)]
        if let target { spec["target"] = ["path": .string(target)] }
        if let preRestoreSnapshot { spec["preRestoreSnapshot"] = .bool(preRestoreSnapshot) }
        var metadata: JSONValue = ["name": .string(name), "namespace": .string(RestoreSessionTests.namespace)]
        if !annotations.isEmpty { metadata["annotations"] = .object(annotations.mapValues { .string($0) }) }
        _ = try await client.create(
            Harness.restores, namespace: RestoreSessionTests.namespace,
            ["apiVersion": "kubesnap.io/v1alpha1", "kind": "RestoreSession", "metadata": metadata, "spec": spec])
    }

    /// A Ready, verified Snapshot `name` of `source` in the Repository `repository`.
    @discardableResult
    func verifiedSnapshot(
        _ name: String, source: String, repository: String = "repo", deletionPolicy: String? = nil
    ) async throws -> JSONValue {
        try await createSnapshot(
            RestoreSessionTests.namespace, name, repository: repository, source: source, deletionPolicy: deletionPolicy)
        return try await waitForStatus(
            Harness.snapshots, RestoreSessionTests.namespace, name, "Ready and verified OK", timeout: .seconds(90)
        ) {
            $0["status"]["phase"].stringValue == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK"
        }
    }

    /// The RestoreSession's `Completed` condition (reason, message).
    static func completed(_ object: JSONValue) -> (reason: String, message: String) {
        let condition = (object["status"]["conditions"].arrayValue ?? []).first { $0["type"].stringValue == "Completed" }
        return (condition?["reason"].stringValue ?? "", condition?["message"].stringValue ?? "")
    }

    /// Waits until the RestoreSession `name` is in `phase` with `Completed` reason `reason`.
    @discardableResult
    func waitForRestore(_ name: String, phase: String, reason: String, timeout: Duration = .seconds(90)) async throws -> JSONValue {
        try await waitForStatus(
            Harness.restores, RestoreSessionTests.namespace, name, "phase \(phase), reason \(reason)", timeout: timeout
        ) {
            $0["status"]["phase"].stringValue == phase && Self.completed($0).reason == reason
        }
    }

    /// Names beside targets that a restore leaves while it runs (staging, old content).
    func restoreLeftovers(in directory: String? = nil) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory ?? sourceRoot).filter { $0.hasPrefix(".kubesnap") }
    }
}
