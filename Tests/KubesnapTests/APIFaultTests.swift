import Foundation
import KubeAPIServer
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

/// Single API faults, each aimed at exactly one request, that once left a state users see
/// (issue 20): an annotation owing space forever, a false backend alarm, a lost Event.
@Suite("Faults between the operator and the API server")
struct APIFaultTests {
    @Test("a 503 on the Repository's status write is retried; it never turns the Repository Failed with a backend reason")
    func statusWriteFailureIsNotABackendFailure() async throws {
        try await withOperator { h in
            let faults = h.api.server.faults
            faults.fail(FaultRule(verb: "patch", resource: "repositories", subresource: "status", name: "repo", count: 1, code: 503))
            try await h.createSecret("default", "pw", password: "status-503")
            try await h.createRepository("default", "repo", path: "status-503", secret: "pw")
            try await h.waitForPhase(Harness.repositories, "default", "repo", "Ready")
            #expect(faults.injectedFailures[503] == 1, "the fault was injected: \(faults.injectedFailures)")
            // Events are written in the order recorded: once RepositoryReady is there, so is any
            // Warning recorded before it.
            let reasons = try await waitFor("the RepositoryReady Event") { () -> WaitProbe<[String]> in
                let reasons = try await h.eventReasons("default", about: "repo")
                return reasons.contains("RepositoryReady") ? .done(reasons) : .notYet("\(reasons)")
            }
            #expect(!reasons.contains("BackendUnreachable"), "a false backend alarm: \(reasons)")
            let repository = try #require(try await h.get(Harness.repositories, "default", "repo"))
            let ready = repository["status"]["conditions"].arrayValue?.first { $0["type"] == "Ready" }
            #expect(ready?["reason"] == "RepositoryReady", "\(Harness.describe(repository))")
        }
    }

    @Test("an Event whose POST meets a 503 is written on a later try")
    func eventPostFailureIsRetried() async throws {
        try await withOperator { h in
            let faults = h.api.server.faults
            faults.fail(FaultRule(verb: "create", resource: "events", namespace: "default", count: 1, code: 503))
            try await h.readyRepository("default", "repo", path: "event-503", password: "event-503")
            // The Repository's first two Events (Initialized, RepositoryReady): the first met the
            // fault.
            try await waitUntil("both Events of the new Repository to be written") {
                let reasons = try await h.eventReasons("default", about: "repo")
                return (reasons.contains("Initialized") && reasons.contains("RepositoryReady"), "\(reasons)")
            }
            #expect(faults.injectedFailures[503] == 1, "the fault was injected: \(faults.injectedFailures)")
        }
    }

    @Test("a 503 on exactly the PATCH that removes kubesnap.io/prune-pending does not leave it owing")
    func prunePendingAnnotationGoesDespiteAFailedPatch() async throws {
        try await withOperator(configure: { $0.pruneDelay = .seconds(3) }) { h in
            let faults = h.api.server.faults
            let source = try h.makeSource("prune-503", files: ["data.txt": "to be deleted"])
            try await h.readyRepository("default", "repo", path: "prune-503", password: "prune-503")
            try await h.createSnapshot("default", "gone", repository: "repo", source: source, deletionPolicy: "Delete")
            try await h.waitForPhase(Harness.snapshots, "default", "gone", "Ready")
            _ = try await h.client.delete(Harness.snapshots, namespace: "default", name: "gone")
            let annotation = "kubesnap.io/prune-pending"
            try await waitUntil("the owed prune to be written down") {
                let repository = try await h.get(Harness.repositories, "default", "repo")
                return (!(repository?["metadata"]["annotations"][annotation].isNull ?? true), "\(repository?["metadata"] ?? .null)")
            }
            // The next PATCH of the Repository itself is the annotation's removal, after the prune.
            faults.fail(FaultRule(verb: "patch", resource: "repositories", subresource: "", name: "repo", count: 1, code: 503))
            try await waitUntil("the annotation to go once the prune has run", timeout: .seconds(90)) {
                let repository = try await h.get(Harness.repositories, "default", "repo")
                let gone = repository?["metadata"]["annotations"][annotation].isNull ?? false
                return (gone && faults.injectedFailures[503] == 1, "annotations \(repository?["metadata"]["annotations"] ?? .null), injected \(faults.injectedFailures)")
            }
            try await h.waitForGone(Harness.snapshots, "default", "gone")
        }
    }
}
