import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Bad input ends in a condition that names it, end to end")
struct BadInputTests {
    @Test("missing Repository, missing Secret, wrong password, paths outside roots, a backend used twice")
    func badInputs() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("bad", files: ["f": "f"])

            try await h.createSnapshot(ns, "no-repo", repository: "nowhere", source: source)
            let noRepo = try await h.waitForReason(Harness.snapshots, ns, "no-repo", phase: "Failed", reason: "RepositoryNotFound")
            #expect(Harness.readyMessage(noRepo).contains("\"nowhere\""))

            try await h.createRepository(ns, "no-secret", path: "no-secret", secret: "absent")
            let noSecret = try await h.waitForReason(Harness.repositories, ns, "no-secret", phase: "Failed", reason: "SecretNotFound")
            #expect(Harness.readyMessage(noSecret).contains("\"absent\""))

            // A repository made with another password.
            let foreign = h.repositoryRoot + "/foreign"
            let made = try await h.restic(["-r", foreign, "init"], password: "the-real-one")
            #expect(made.succeeded, "\(made)")
            try await h.createSecret(ns, "wrong", password: "not-the-real-one")
            try await h.createRepository(ns, "wrong-password", path: "foreign", secret: "wrong")
            let wrong = try await h.waitForReason(
                Harness.repositories, ns, "wrong-password", phase: "Failed", reason: "AuthenticationFailed")
            #expect(!Harness.describe(wrong).contains("not-the-real-one"))

            try await h.createSecret(ns, "pw", password: "good-pass")
            try await h.createRepository(ns, "outside", path: "/etc/kubesnap-escape", secret: "pw")
            let outside = try await h.waitForReason(Harness.repositories, ns, "outside", phase: "Failed", reason: "InvalidSpec")
            #expect(Harness.readyMessage(outside).contains("spec.backend.local.path"))
            #expect(Harness.readyMessage(outside).contains("repository root"))

            try await h.createRepository(ns, "good", path: "good", secret: "pw")
            try await h.waitForPhase(Harness.repositories, ns, "good", "Ready")
            try await h.createRepository(ns, "twin", path: "./good", secret: "pw")
            let twin = try await h.waitForReason(Harness.repositories, ns, "twin", phase: "Failed", reason: "BackendInUse")
            #expect(Harness.readyMessage(twin).contains("already used by Repository \"good\""))

            try await h.createSnapshot(ns, "escape", repository: "good", source: "../../../etc")
            let escape = try await h.waitForReason(Harness.snapshots, ns, "escape", phase: "Failed", reason: "InvalidSpec")
            #expect(Harness.readyMessage(escape).contains("spec.source.path"))
            #expect(Harness.readyMessage(escape).contains("source root"))

            try await h.createSnapshot(ns, "no-source", repository: "good", source: "does-not-exist")
            try await h.waitForReason(Harness.snapshots, ns, "no-source", phase: "Failed", reason: "SourceNotFound")

            // Both source and snapshotID: the CRD's rule rejects it, or the operator fails it.
            do {
                try await h.createSnapshot(ns, "both", repository: "good", source: source, snapshotID: "abcdef12")
                try await h.waitForReason(Harness.snapshots, ns, "both", phase: "Failed", reason: "InvalidSpec")
            } catch let error as KubeError {
                #expect(error.isInvalid, "\(error)")
            }

            // An unknown deletionPolicy: the CRD's enum rejects it, or it is treated as Retain and reported.
            do {
                try await h.createSnapshot(ns, "odd-policy", repository: "good", source: source, deletionPolicy: "Shred")
                try await h.waitForPhase(Harness.snapshots, ns, "odd-policy", "Ready")
                _ = try await h.client.delete(Harness.snapshots, namespace: ns, name: "odd-policy")
                try await h.waitForGone(Harness.snapshots, ns, "odd-policy")
                try await waitUntil("an UnknownDeletionPolicy Event about odd-policy") {
                    let reasons = try await h.eventReasons(ns, about: "odd-policy")
                    return (reasons.contains("UnknownDeletionPolicy"), "\(reasons)")
                }
                #expect(try await h.resticSnapshots(repository: h.repositoryRoot + "/good", password: "good-pass").count == 1)
            } catch let error as KubeError {
                #expect(error.isInvalid, "\(error)")
            }
        }
    }
}
