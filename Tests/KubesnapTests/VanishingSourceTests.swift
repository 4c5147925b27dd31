import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Restic
import Testing

@testable import Kubesnap

/// A source that vanishes while its backup runs. The behaviour kubesnap gives:
/// - the whole source gone when restic reads it: restic saves nothing; the Snapshot ends Failed
///   with reason `SourceNotFound` and a message naming `spec.source.path` (and a Warning Event
///   saying the same), never Running and never retried into a copy taken later than asked;
/// - some files gone while restic reads: restic 0.14 exits 3 and saves what it could read; the
///   Snapshot is Ready with Ready reason `BackupIncomplete` and a Warning Event
///   `BackupIncomplete` naming the missing files; the incomplete restic snapshot is kept (it is
///   what was there) and verified like any other.
/// The moments of vanishing are fixed by `ResticWrapper`, not by timing.
@Suite("A source that vanishes mid-backup")
struct VanishingSourceTests {
    @Test("whole source gone when restic reads it: Failed, SourceNotFound naming spec.source.path; files gone while it reads: Ready, BackupIncomplete")
    func sourceVanishesMidBackup() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default"
            try await h.readyRepository(ns, "repo", path: "vanish", password: "vanish-pass")

            // The whole source.
            let whole = try h.makeSource("vanish-whole", files: ["a": "a", "b": "b"])
            try await h.createSnapshot(ns, "whole", repository: "repo", source: whole)
            let failed = try await h.waitForReason(Harness.snapshots, ns, "whole", phase: "Failed", reason: "SourceNotFound")
            #expect(wrapper.actions().contains { $0.hasSuffix("/vanish-whole") }, "the source was removed by restic's start: \(wrapper.actions())")
            let message = Harness.readyMessage(failed)
            #expect(message.contains("spec.source.path \"vanish-whole\""), "\(message)")
            #expect(failed["status"]["snapshotID"].isNull)
            try await waitUntil("a SourceNotFound Event about whole") {
                let reasons = try await h.eventReasons(ns, about: "whole")
                return (reasons.contains("SourceNotFound"), "\(reasons)")
            }

            // Part of a source: two big sparse files read first, then z-dir (removed while restic reads).
            let part = try h.makeSource("vanish-part", files: ["keep": "kept"])
            let partPath = (h.sourceRoot as NSString).appendingPathComponent(part)
            for big in ["a-big-1", "a-big-2"] {
                let file = (partPath as NSString).appendingPathComponent(big)
                #expect(FileManager.default.createFile(atPath: file, contents: nil))
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
                try handle.truncate(atOffset: 256 << 20)
                try handle.close()
            }
            let zDirectory = (partPath as NSString).appendingPathComponent("z-dir")
            try FileManager.default.createDirectory(atPath: zDirectory, withIntermediateDirectories: true)
            for index in 1...3 {
                try "z\(index)".write(toFile: "\(zDirectory)/f\(index)", atomically: true, encoding: .utf8)
            }
            try await h.createSnapshot(ns, "part", repository: "repo", source: part)
            let incomplete = try await h.waitForReason(
                Harness.snapshots, ns, "part", phase: "Ready", reason: "BackupIncomplete", timeout: .seconds(180))
            #expect(wrapper.actions().contains { $0.hasSuffix("/vanish-part/z-dir") }, "\(wrapper.actions())")
            #expect(Harness.readyMessage(incomplete).contains("incomplete"), "\(Harness.readyMessage(incomplete))")
            // keep, a-big-1 and a-big-2 were saved; nothing of z-dir.
            #expect(incomplete["status"]["fileCount"].intValue == 3, "\(incomplete["status"])")
            let id = try #require(incomplete["status"]["snapshotID"].stringValue)
            let event: JSONValue = try await waitFor("a BackupIncomplete Event about part") {
                let events = try await h.client.list(.events, namespace: ns).items.filter {
                    $0["involvedObject"]["name"].stringValue == "part"
                }
                if let event = events.first(where: { $0["reason"].stringValue == "BackupIncomplete" }) { return .done(event) }
                return .notYet("\(events.map { $0["reason"].stringValue ?? "" })")
            }
            #expect(event["type"].stringValue == "Warning")
            let eventMessage = event["message"].stringValue ?? ""
            #expect(eventMessage.contains("z-dir"), "\(eventMessage)")
            #expect(!eventMessage.contains("message_type"), "restic's JSON is not passed on as it is: \(eventMessage)")

            // The incomplete snapshot is kept and verified; the failed one left no data.
            let listed = try await h.resticSnapshots(repository: h.repositoryRoot + "/vanish", password: "vanish-pass")
            #expect(listed.compactMap { $0["id"].stringValue } == [id])
            try await h.waitForStatus(Harness.snapshots, ns, "part", "verified", timeout: .seconds(180)) {
                $0["status"]["verificationStatus"].stringValue == "OK"
            }
            let again = try await h.get(Harness.snapshots, ns, "whole")
            #expect(again?["status"]["phase"].stringValue == "Failed", "\(Harness.describe(again))")
        }
    }

    @Test("restic 0.14's stderr of an incomplete backup becomes one line per unreadable item")
    func unreadableItems() {
        let stderr = """
            {"message_type":"error","error":{"Op":"lstat","Path":"src/z-dir/f2","Err":2},"during":"archival","item":"/src/z-dir/f2"}
            {"message_type":"error","error":{},"during":"archival","item":"src/z-dir/f1"}
            Warning: at least one source file could not be read

            """
        #expect(
            BackupResult.unreadableItems(stderr: stderr) == [
                "/src/z-dir/f2: lstat: No such file or directory", "src/z-dir/f1: could not be read",
            ])
        #expect(BackupResult.unreadableItems(stderr: "something else\n") == ["something else"])
        #expect(!BackupResult.unreadableItems(stderr: "").isEmpty, "an exit 3 never reads as complete")
    }
}
