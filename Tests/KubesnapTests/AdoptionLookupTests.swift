import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap
@testable import Restic

@Suite("Adoption lookups")
struct AdoptionLookupTests {
    @Test func listingFindsFullIDsAndUniquePrefixesOnly() throws {
        let ids = ["b7", "a1f0", "a1e9", "c3", "a2"]
        let listing = SnapshotListing(ids.map {
            SnapshotInfo(id: $0, shortID: $0, time: Date(), timeText: "", tags: [], paths: [], hostname: "", tree: "", parent: nil)
        })
        #expect(try listing.match("a1f0")?.id == "a1f0")
        #expect(try listing.match("a1f")?.id == "a1f0")
        #expect(try listing.match("c")?.id == "c3")
        #expect(try listing.match("b7")?.id == "b7")
        for missing in ["a3", "d", "0", "a1f01", "b70"] {
            #expect(try listing.match(missing) == nil, "\(missing)")
        }
        for ambiguous in ["a", "a1", ""] {
            #expect(throws: ResticError.self, "\(ambiguous)") { try listing.match(ambiguous) }
        }
        #expect(try SnapshotListing([]).match("a") == nil)
    }

    /// A static Snapshot's lookup of its id does not hold the reconcile worker while its
    /// repository is listed: with one worker, a Snapshot of another repository is adopted while
    /// the first repository's listing is held, and the first is adopted once it is let go.
    @Test("A repository's slow listing holds no reconcile worker")
    func slowListingHoldsNoWorker() async throws {
        try await withWrappedRestic(configure: { $0.workers = 1 }) { h, wrapper in
            defer { try? wrapper.release() }  // a failed expectation must not leave the listing held
            let ns = "default"
            let password = "lookup-pass"
            let source = try h.makeSource("adoptable", files: ["data.txt": "adopt me"])
            try await h.createSecret(ns, "pw", password: password)
            var ids: [String: String] = [:]
            for name in ["hold-slow", "fast"] {
                try await h.createRepository(ns, name, path: name, secret: "pw")
                try await h.waitForPhase(Harness.repositories, ns, name, "Ready")
                let made = try await h.restic(["-r", h.repositoryRoot + "/" + name, "backup", h.sourceRoot + "/" + source], password: password)
                #expect(made.succeeded, "\(made)")
                let listed = try await h.resticSnapshots(repository: h.repositoryRoot + "/" + name, password: password)
                ids[name] = try #require(listed.first?["id"].stringValue)
            }

            try await h.createSnapshot(ns, "slow", repository: "hold-slow", snapshotID: ids["hold-slow"])
            try await waitUntil("the hold-slow repository's listing to be held") {
                (wrapper.actions().contains { $0.hasPrefix("holding listing of") }, "\(wrapper.actions())")
            }
            try await h.createSnapshot(ns, "fast", repository: "fast", snapshotID: ids["fast"])
            let fast = try await h.waitForReason(Harness.snapshots, ns, "fast", phase: "Ready", reason: "Adopted")
            #expect(fast["status"]["snapshotID"].stringValue == ids["fast"])
            let slow = try #require(try await h.get(Harness.snapshots, ns, "slow"))
            #expect(slow["status"]["phase"].stringValue != "Ready", "its listing is still held: \(slow["status"])")

            try wrapper.release()
            let adopted = try await h.waitForReason(Harness.snapshots, ns, "slow", phase: "Ready", reason: "Adopted")
            #expect(adopted["status"]["snapshotID"].stringValue == ids["hold-slow"])
        }
    }
}
