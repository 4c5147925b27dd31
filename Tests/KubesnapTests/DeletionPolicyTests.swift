import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Deletion policies, adoption and namespaces, end to end")
struct DeletionPolicyTests {
    @Test("Retain keeps the data; a static Snapshot adopts it (again after its deletion); second adopters and an unknown id fail")
    func retainThenAdopt() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("keep", files: ["data.txt": "keep me"])
            try await h.readyRepository(ns, "repo", path: "retain", password: "retain-pass")
            try await h.createSnapshot(ns, "kept", repository: "repo", source: source, deletionPolicy: "Retain")
            let kept = try await h.waitForPhase(Harness.snapshots, ns, "kept", "Ready")
            let id = try #require(kept["status"]["snapshotID"].stringValue)
            // A rival adopter fails while "kept" holds the id, and does not stand in the way of the
            // adopter that comes once "kept" is gone.
            try await h.createSnapshot(ns, "early-rival", repository: "repo", snapshotID: id)
            try await h.waitForReason(Harness.snapshots, ns, "early-rival", phase: "Failed", reason: "AlreadyAdopted")

            _ = try await h.client.delete(Harness.snapshots, namespace: ns, name: "kept")
            try await h.waitForGone(Harness.snapshots, ns, "kept")
            let listed = try await h.resticSnapshots(repository: h.repositoryRoot + "/retain", password: "retain-pass")
            #expect(listed.compactMap { $0["id"].stringValue } == [id])

            try await h.createSnapshot(ns, "adopted", repository: "repo", snapshotID: String(id.prefix(12)))
            let adopted = try await h.waitForReason(Harness.snapshots, ns, "adopted", phase: "Ready", reason: "Adopted")
            #expect(adopted["status"]["snapshotID"].stringValue == id)
            // The adoption is said once, by the status write that made the Snapshot Ready.
            let adoptedEvent = try await waitFor("the Adopted Event") { () -> WaitProbe<JSONValue> in
                let events = try await h.client.list(.events, namespace: ns).items.filter {
                    $0["involvedObject"]["name"] == "adopted" && $0["reason"] == "Adopted"
                }
                return events.count == 1 ? .done(events[0]) : .notYet("\(events.count) Adopted Events")
            }
            #expect(adoptedEvent["count"].intValue ?? 1 == 1, "\(adoptedEvent)")

            try await h.createSnapshot(ns, "second-adopter", repository: "repo", snapshotID: id)
            let second = try await h.waitForReason(
                Harness.snapshots, ns, "second-adopter", phase: "Failed", reason: "AlreadyAdopted")
            let message = second["status"]["conditions"].arrayValue?.first { $0["type"] == "Ready" }?["message"].stringValue ?? ""
            #expect(message.contains("adopted"))

            try await h.createSnapshot(ns, "unknown-id", repository: "repo", snapshotID: "deadbeefdeadbeef")
            try await h.waitForReason(Harness.snapshots, ns, "unknown-id", phase: "Failed", reason: "SnapshotNotFound")

            // The adopted Snapshot defaults to Retain: deleting it keeps the data.
            _ = try await h.client.delete(Harness.snapshots, namespace: ns, name: "adopted")
            try await h.waitForGone(Harness.snapshots, ns, "adopted")
            let still = try await h.resticSnapshots(repository: h.repositoryRoot + "/retain", password: "retain-pass")
            #expect(still.compactMap { $0["id"].stringValue } == [id])

            // And it can be adopted again (its deleted adopter's claim does not stand), by one
            // Snapshot only: the second-adopter failed for good.
            try await h.createSnapshot(ns, "adopted-again", repository: "repo", snapshotID: id)
            try await h.waitForReason(Harness.snapshots, ns, "adopted-again", phase: "Ready", reason: "Adopted")
            try await h.createSnapshot(ns, "third-adopter", repository: "repo", snapshotID: id)
            try await h.waitForReason(Harness.snapshots, ns, "third-adopter", phase: "Failed", reason: "AlreadyAdopted")
        }
    }

    @Test("Repository Retain keeps the backend, Repository Delete wipes it; both delete their Snapshot objects")
    func repositoryPolicies() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("repo-policies", files: ["x": "x"])
            try await h.createSecret(ns, "pw", password: "policy-pass")
            try await h.createRepository(ns, "kept-repo", path: "kept", secret: "pw", deletionPolicy: "Retain")
            try await h.createRepository(ns, "wiped-repo", path: "wiped", secret: "pw", deletionPolicy: "Delete")
            try await h.waitForPhase(Harness.repositories, ns, "kept-repo", "Ready")
            try await h.waitForPhase(Harness.repositories, ns, "wiped-repo", "Ready")
            try await h.createSnapshot(ns, "in-kept", repository: "kept-repo", source: source)
            try await h.createSnapshot(ns, "in-wiped", repository: "wiped-repo", source: source)
            let inKept = try await h.waitForPhase(Harness.snapshots, ns, "in-kept", "Ready")
            try await h.waitForPhase(Harness.snapshots, ns, "in-wiped", "Ready")

            _ = try await h.client.delete(Harness.repositories, namespace: ns, name: "kept-repo")
            _ = try await h.client.delete(Harness.repositories, namespace: ns, name: "wiped-repo")
            try await h.waitForGone(Harness.repositories, ns, "kept-repo")
            try await h.waitForGone(Harness.repositories, ns, "wiped-repo")
            try await h.waitForGone(Harness.snapshots, ns, "in-kept")
            try await h.waitForGone(Harness.snapshots, ns, "in-wiped")

            let kept = try await h.resticSnapshots(repository: h.repositoryRoot + "/kept", password: "policy-pass")
            #expect(kept.compactMap { $0["id"].stringValue } == [inKept["status"]["snapshotID"].stringValue ?? "?"])
            #expect(!FileManager.default.fileExists(atPath: h.repositoryRoot + "/wiped"))
        }
    }

    @Test("Deleting a namespace keeps backup data whatever the policies say")
    func namespaceDeletionKeepsData() async throws {
        try await withOperator { h in
            let ns = "doomed"
            _ = try await h.client.create(.namespaces, namespace: nil, ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "doomed"]])
            let source = try h.makeSource("doomed-src", files: ["f": "f"])
            try await h.createSecret(ns, "pw", password: "ns-pass")
            try await h.createRepository(ns, "repo", path: "doomed", secret: "pw", deletionPolicy: "Delete")
            try await h.waitForPhase(Harness.repositories, ns, "repo", "Ready")
            try await h.createSnapshot(ns, "snap", repository: "repo", source: source, deletionPolicy: "Delete")
            let snap = try await h.waitForPhase(Harness.snapshots, ns, "snap", "Ready")
            let id = try #require(snap["status"]["snapshotID"].stringValue)

            _ = try await h.client.delete(.namespaces, namespace: nil, name: ns)
            try await h.waitForGone(Harness.snapshots, ns, "snap")
            try await h.waitForGone(Harness.repositories, ns, "repo")
            let listed = try await h.resticSnapshots(repository: h.repositoryRoot + "/doomed", password: "ns-pass")
            #expect(listed.compactMap { $0["id"].stringValue } == [id])
        }
    }
}
