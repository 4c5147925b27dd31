import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

/// The Snapshot CRD as an older kubesnap installed it: without the validation rules that make
/// spec.repository, spec.source and spec.snapshotID immutable.
func withoutImmutabilityRules(_ crd: JSONValue) -> JSONValue {
    guard crd["spec"]["names"]["kind"].stringValue == "Snapshot" else { return crd }
    var crd = crd
    let versions = (crd["spec"]["versions"].arrayValue ?? []).map { version -> JSONValue in
        var version = version
        var spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        let rules = spec["x-kubernetes-validations"].arrayValue ?? []
        spec["x-kubernetes-validations"] = .array(rules.filter { !($0["message"].stringValue ?? "").contains("immutable") })
        version["schema"]["openAPIV3Schema"]["properties"]["spec"] = spec
        return version
    }
    crd["spec"]["versions"] = .array(versions)
    return crd
}

/// Behaviour: an immutable field of a Ready Snapshot changed behind the CRD's back (an older CRD
/// without the rules) leaves the data as taken (status.snapshotID, status.backendRepository and
/// the restic snapshot are untouched, nothing is backed up again) and is reported by a condition
/// `ImmutableFieldChanged`=True and a Warning Event of that reason naming the field; restoring
/// the field turns the condition False. Deleting it while spec.repository names another
/// Repository is blocked (phase Deleting, a condition and Event naming spec.repository) until
/// the field is restored: kubesnap never reports data deleted that it did not delete.
@Suite("Immutable Snapshot fields changed past an older CRD")
struct ImmutableFieldTests {
    @Test("changed spec.source.path, spec.repository, spec.snapshotID: ImmutableFieldChanged condition and Warning Event naming the field; data untouched")
    func changedImmutableFieldsAreReportedAndIgnored() async throws {
        try await withOperator(adjustCRD: withoutImmutabilityRules) { h in
            let ns = "default"
            let password = "immutable-pass"
            let repositoryPath = h.repositoryRoot + "/imm"
            try await h.createSecret(ns, "pw", password: password)
            try await h.createRepository(ns, "repo", path: "imm", secret: "pw")
            try await h.createRepository(ns, "other", path: "imm-other", secret: "pw")
            try await h.waitForPhase(Harness.repositories, ns, "repo", "Ready")
            try await h.waitForPhase(Harness.repositories, ns, "other", "Ready")
            let source = try h.makeSource("imm-src", files: ["a": "a"])
            _ = try h.makeSource("imm-src-2", files: ["b": "b"])
            try await h.createSnapshot(ns, "dyn", repository: "repo", source: source)
            let ready = try await h.waitForStatus(Harness.snapshots, ns, "dyn", "Ready and verified") {
                $0["status"]["phase"] == "Ready" && $0["status"]["verificationStatus"] == "OK"
            }
            let id = try #require(ready["status"]["snapshotID"].stringValue)
            let backend = ready["status"]["backendRepository"]

            /// Waits for the condition's status and the newest ImmutableFieldChanged Event about `name` to mention `field`.
            @discardableResult
            func expectReported(_ name: String, field: String) async throws -> JSONValue {
                let object = try await h.waitForStatus(Harness.snapshots, ns, name, "ImmutableFieldChanged=True naming \(field)") {
                    let condition = Conditions.get($0["status"], type: "ImmutableFieldChanged")
                    return condition?.status == "True" && condition?.message.contains(field) == true
                        && $0["status"]["observedGeneration"] == $0["metadata"]["generation"]
                }
                try await waitUntil("a Warning Event ImmutableFieldChanged about \(name) naming \(field)") {
                    let events = try await h.client.list(.events, namespace: ns).items.filter {
                        $0["involvedObject"]["name"].stringValue == name && $0["reason"].stringValue == "ImmutableFieldChanged"
                    }
                    let found = events.contains {
                        $0["type"].stringValue == "Warning" && $0["message"].stringValue?.contains(field) == true
                    }
                    return (found, "\(events.map { $0["message"].stringValue ?? "" })")
                }
                #expect(object["status"]["phase"].stringValue == "Ready")
                return object
            }

            // spec.source.path: accepted by the older CRD, reported, ignored.
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "dyn", type: .merge, ["spec": ["source": ["path": "imm-src-2"]]])
            let sourceChanged = try await expectReported("dyn", field: "spec.source.path")
            #expect(sourceChanged["status"]["snapshotID"].stringValue == id)
            #expect(sourceChanged["status"]["backendRepository"] == backend)

            // spec.repository (another Repository), on top.
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "dyn", type: .merge, ["spec": ["repository": "other"]])
            let repositoryChanged = try await expectReported("dyn", field: "spec.repository")
            #expect(repositoryChanged["status"]["snapshotID"].stringValue == id)
            #expect(repositoryChanged["status"]["backendRepository"] == backend)

            // Restored: the condition turns False.
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "dyn", type: .merge,
                ["spec": ["repository": "repo", "source": ["path": .string(source)]]])
            let restored = try await h.waitForStatus(Harness.snapshots, ns, "dyn", "ImmutableFieldChanged=False") {
                Conditions.get($0["status"], type: "ImmutableFieldChanged")?.status == "False"
            }
            #expect(restored["status"]["snapshotID"].stringValue == id)
            #expect(restored["status"]["phase"].stringValue == "Ready")

            // spec.snapshotID of a static Snapshot.
            let made = try await h.restic(["-r", repositoryPath, "backup", "--json", "--host", "elsewhere", h.sourceRoot + "/imm-src-2"], password: password)
            #expect(made.succeeded, "\(made)")
            let otherID = try #require(
                made.stdout.split(separator: "\n").compactMap { try? JSONValue.parse(Data($0.utf8)) }
                    .first { $0["message_type"] == "summary" }?["snapshot_id"].stringValue)
            try await h.createSnapshot(ns, "static", repository: "repo", snapshotID: otherID)
            let adopted = try await h.waitForPhase(Harness.snapshots, ns, "static", "Ready")
            let adoptedID = try #require(adopted["status"]["snapshotID"].stringValue)
            #expect(adoptedID.hasPrefix(otherID))
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "static", type: .merge, ["spec": ["snapshotID": "deadbeef"]])
            let idChanged = try await expectReported("static", field: "spec.snapshotID")
            #expect(idChanged["status"]["snapshotID"].stringValue == adoptedID)

            // The data is untouched: both restic snapshots, nothing new; the other repository holds nothing.
            let listed = Set(try await h.resticSnapshots(repository: repositoryPath, password: password).compactMap { $0["id"].stringValue })
            #expect(listed == [id, adoptedID])
            #expect(try await h.resticSnapshots(repository: h.repositoryRoot + "/imm-other", password: password).isEmpty)
            let dyn = try await h.get(Harness.snapshots, ns, "dyn")
            #expect(dyn?["status"]["phase"].stringValue == "Ready", "\(Harness.describe(dyn))")

            // Deleting (policy Delete) while spec.repository names another Repository: blocked,
            // never a "deleted" that leaves the data behind; restoring the field lets it finish.
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "dyn", type: .merge, ["spec": ["repository": "other"]])
            try await expectReported("dyn", field: "spec.repository")
            _ = try await h.client.delete(Harness.snapshots, namespace: ns, name: "dyn")
            try await h.waitForStatus(Harness.snapshots, ns, "dyn", "Deleting, blocked naming spec.repository") {
                $0["status"]["phase"] == "Deleting" && Harness.readyMessage($0).contains("spec.repository")
            }
            #expect(try await h.resticSnapshots(repository: repositoryPath, password: password).contains { $0["id"].stringValue == id })
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "dyn", type: .merge, ["spec": ["repository": "repo"]])
            try await h.waitForGone(Harness.snapshots, ns, "dyn")
            try await waitUntil("restic snapshot \(id.prefix(8)) forgotten") {
                let ids = try await h.resticSnapshots(repository: repositoryPath, password: password).compactMap { $0["id"].stringValue }
                return (!ids.contains(id), "\(ids)")
            }
        }
    }
}
