import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Snapshot lifecycle, end to end")
struct SnapshotLifecycleTests {
    @Test("Repository Ready, Snapshot Ready and verified, restic lists it; Delete removes exactly its data")
    func snapshotReadyThenDelete() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("app", files: ["a.txt": "alpha", "b.txt": String(repeating: "beta ", count: 1000)])
            try await h.createSecret(ns, "repo-password", password: "s3cret-pass")
            try await h.createRepository(ns, "repo", path: "demo/app", secret: "repo-password")
            let repository = try await h.waitForPhase(Harness.repositories, ns, "repo", "Ready")
            let repoPath = h.repositoryRoot + "/demo/app"
            #expect(repository["status"]["storage"].stringValue == "local")
            #expect(repository["status"]["backendURL"].stringValue?.hasSuffix("/demo/app") == true)
            #expect(repository["status"]["verificationStatus"].stringValue == "OK")

            try await h.createSnapshot(ns, "first", repository: "repo", source: source)
            try await h.createSnapshot(ns, "second", repository: "repo", source: source)
            let first = try await h.waitForStatus(Harness.snapshots, ns, "first", "Ready and verified OK") {
                $0["status"]["phase"].stringValue == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK"
            }
            let second = try await h.waitForStatus(Harness.snapshots, ns, "second", "Ready and verified OK") {
                $0["status"]["phase"].stringValue == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK"
            }
            let firstID = try #require(first["status"]["snapshotID"].stringValue)
            let secondID = try #require(second["status"]["snapshotID"].stringValue)
            #expect(firstID.count == 64)
            #expect(first["status"]["fileCount"].intValue == 2)
            #expect(first["metadata"]["finalizers"].arrayValue?.contains("kubesnap.io/finalizer") == true)

            // Each outcome is said once, by the status write that recorded it.
            for reason in ["BackupStarted", "BackupCompleted", "VerificationSucceeded"] {
                let event = try await waitFor("the \(reason) Event of first") { () -> WaitProbe<JSONValue> in
                    let events = try await h.client.list(.events, namespace: ns).items.filter {
                        $0["involvedObject"]["name"] == "first" && $0["reason"] == .string(reason)
                    }
                    return events.count == 1 ? .done(events[0]) : .notYet("\(events.count) \(reason) Events")
                }
                #expect(event["count"].intValue ?? 1 == 1, "\(event)")
            }

            // restic itself sees both, tagged with the Snapshots' UIDs.
            let listed = try await h.resticSnapshots(repository: repoPath, password: "s3cret-pass")
            #expect(Set(listed.compactMap { $0["id"].stringValue }) == [firstID, secondID])
            let firstTags = listed.first { $0["id"].stringValue == firstID }?["tags"].arrayValue?.compactMap(\.stringValue) ?? []
            #expect(firstTags.contains("kubesnap-uid=\(first.uid ?? "")"))

            // The Repository counts them.
            try await h.waitForStatus(Harness.repositories, ns, "repo", "snapshotCount 2") {
                $0["status"]["snapshotCount"].intValue == 2 && ($0["status"]["sizeBytes"].intValue ?? 0) > 0
            }

            // Delete (the default with a source) removes exactly this snapshot's data.
            _ = try await h.client.delete(Harness.snapshots, namespace: ns, name: "first")
            try await h.waitForGone(Harness.snapshots, ns, "first")
            let after = try await h.resticSnapshots(repository: repoPath, password: "s3cret-pass")
            #expect(after.compactMap { $0["id"].stringValue } == [secondID])
            // Events give way to reconciles (at most 2 s): the object can be gone before its Event.
            try await waitUntil("a DataDeleted Event about first") {
                let reasons = try await h.eventReasons(ns, about: "first")
                return (reasons.contains("DataDeleted"), "\(reasons)")
            }
        }
    }
}
