import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Verification and BackupSessions, end to end")
struct VerificationAndSessionTests {
    @Test("a corrupted pack and a new verify-requested value give a verification error; the phase stays Ready")
    func corruptedPackIsReported() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("verify", files: ["big.txt": String(repeating: "0123456789abcdef", count: 4096)])
            try await h.readyRepository(ns, "repo", path: "verify", password: "verify-pass")
            try await h.createSnapshot(ns, "snap", repository: "repo", source: source)
            try await h.waitForStatus(Harness.snapshots, ns, "snap", "verified OK") {
                $0["status"]["verificationStatus"].stringValue == "OK"
            }
            // Corrupt every data pack (flip bytes in the middle).
            #expect(try h.corruptDataPacks(repository: "verify") > 0)
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "snap", type: .merge,
                ["metadata": ["annotations": ["kubesnap.io/verify-requested": "after-corruption"]]])
            let checked = try await h.waitForStatus(Harness.snapshots, ns, "snap", "a verification error") {
                let text = $0["status"]["verificationStatus"].stringValue ?? ""
                return !text.isEmpty && text != "OK"
            }
            #expect(checked["status"]["phase"].stringValue == "Ready")
            #expect(checked["status"]["lastVerifyRequest"].stringValue == "after-corruption")
            let verified = checked["status"]["conditions"].arrayValue?.first { $0["type"] == "Verified" }
            #expect(verified?["status"].stringValue == "False")
        }
    }

    @Test("a BackupSession over two repositories makes two labelled Snapshots and ends Ready")
    func sessionOverTwoRepositories() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("session", files: ["s": "session data"])
            try await h.createSecret(ns, "pw", password: "session-pass")
            try await h.createRepository(ns, "app-repo", path: "app", secret: "pw")
            try await h.createRepository(ns, "offsite-repo", path: "offsite", secret: "pw")
            _ = try await h.client.create(
                Harness.sessions, namespace: ns,
                [
                    "apiVersion": "kubesnap.io/v1alpha1", "kind": "BackupSession",
                    "metadata": ["name": "nightly", "namespace": .string(ns)],
                    "spec": ["source": ["path": .string(source)], "repositories": ["app-repo", "offsite-repo"], "deletionPolicy": "Retain"],
                ])
            let session = try await h.waitForPhase(Harness.sessions, ns, "nightly", "Ready", timeout: .seconds(90))
            let entries = session["status"]["snapshots"].arrayValue ?? []
            #expect(Set(entries.compactMap { $0["name"].stringValue }) == ["nightly-app-repo", "nightly-offsite-repo"])
            #expect(entries.allSatisfy { $0["phase"] == "Ready" })
            #expect(session["status"]["snapshotsSummary"].stringValue == "2/2")
            #expect(session["status"]["startTime"].stringValue != nil)
            #expect(session["status"]["completionTime"].stringValue != nil)
            #expect(session["status"]["duration"].stringValue != nil)

            let selected = try await h.client.list(
                Harness.snapshots, namespace: ns,
                options: ListOptions(labelSelector: "kubesnap.io/invoker-kind=BackupSession,kubesnap.io/invoker-name=nightly"))
            #expect(selected.items.count == 2)
            for snapshot in selected.items {
                #expect(snapshot["spec"]["invoker"]["name"].stringValue == "nightly")
                #expect(snapshot["spec"]["deletionPolicy"].stringValue == "Retain")
                #expect(snapshot["metadata"]["labels"]["kubesnap.io/repository"] == snapshot["spec"]["repository"])
            }
            // Snapshots outlive their session.
            _ = try await h.client.delete(Harness.sessions, namespace: ns, name: "nightly")
            try await h.waitForGone(Harness.sessions, ns, "nightly")
            #expect(try await h.get(Harness.snapshots, ns, "nightly-app-repo")?["status"]["phase"].stringValue == "Ready")
        }
    }

    @Test("deleting a running BackupSession cancels its Snapshots (Failed, Cancelled) and keeps them")
    func deletingRunningSessionCancels() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("slow", files: [:])
            // A large sparse file: restic reads all of it, which takes a while.
            let big = h.sourceRoot + "/slow/big.img"
            let truncated = try await runCommand("/usr/bin/truncate", ["-s", "20G", big])
            #expect(truncated.succeeded, "\(truncated)")
            try await h.readyRepository(ns, "repo", path: "cancel", password: "cancel-pass")
            _ = try await h.client.create(
                Harness.sessions, namespace: ns,
                [
                    "apiVersion": "kubesnap.io/v1alpha1", "kind": "BackupSession",
                    "metadata": ["name": "slow", "namespace": .string(ns)],
                    "spec": ["source": ["path": .string(source)], "repositories": ["repo"]],
                ])
            try await h.waitForPhase(Harness.snapshots, ns, "slow-repo", "Running")
            _ = try await h.client.delete(Harness.sessions, namespace: ns, name: "slow")
            try await h.waitForReason(Harness.snapshots, ns, "slow-repo", phase: "Failed", reason: "Cancelled")
            try await h.waitForGone(Harness.sessions, ns, "slow")
            #expect(try await h.get(Harness.snapshots, ns, "slow-repo") != nil)
            #expect(try await h.resticSnapshots(repository: h.repositoryRoot + "/cancel", password: "cancel-pass").isEmpty)
        }
    }
}
