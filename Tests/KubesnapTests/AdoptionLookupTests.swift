import Foundation
import KubeController
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

    /// A claim stands while its holder lives, is taken over once the holder is gone or being
    /// deleted, and is dropped by its holder's release only (the deleted holders' claims do not
    /// pile up in a long-running operator).
    @Test func adoptionClaimsFollowTheirHolders() {
        let claims = AdoptionClaims()
        let first = ObjectKey(namespace: "a", name: "first")
        let second = ObjectKey(namespace: "b", name: "second")
        #expect(claims.claim("loc#1", uid: "u1", key: first) { _ in Issue.record("no holder yet"); return true } == nil)
        #expect(claims.claim("loc#1", uid: "u1", key: first) { _ in Issue.record("its own claim"); return true } == nil)
        #expect(claims.claim("loc#1", uid: "u2", key: second) { $0.key == first } == .init(uid: "u1", key: first))
        #expect(claims.claim("loc#1", uid: "u2", key: second) { _ in false } == nil, "a gone holder's claim is taken over")
        #expect(claims.claim("loc#1", uid: "u1", key: first) { $0.uid == "u2" } == .init(uid: "u2", key: second))
        claims.release("loc#1", uid: "u1")
        #expect(claims.count == 1, "only the holder releases")
        claims.release("loc#1", uid: "u2")
        #expect(claims.count == 0)
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

            try wrapper.holdListings()
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

    /// The Repository's refresh lists its snapshots (that is how it counts them), and the
    /// adoptions that follow are answered from that listing: no restic run of their own.
    @Test("The Repository's refresh listing answers the adoptions that follow")
    func refreshListingAnswersAdoptions() async throws {
        try await withWrappedRestic(configure: {
            // The refresh that adoptions ask for comes after this test's window.
            $0.repositoryRefreshSpacing = .seconds(3600)
            $0.repositoryRefreshInterval = .seconds(3600)
        }) { h, wrapper in
            let ns = "default"
            let password = "refresh-pass"
            let path = h.repositoryRoot + "/made-by-hand"
            // A repository made outside kubesnap, with three snapshots in it.
            let made = try await h.restic(["-r", path, "init"], password: password)
            #expect(made.succeeded, "\(made)")
            for index in 0..<3 {
                let source = try h.makeSource("by-hand-\(index)", files: ["f": "data \(index)"])
                let backup = try await h.restic(["-r", path, "backup", h.sourceRoot + "/" + source], password: password)
                #expect(backup.succeeded, "\(backup)")
            }
            let ids = try await h.resticSnapshots(repository: path, password: password).compactMap { $0["id"].stringValue }
            #expect(ids.count == 3)

            try await h.createSecret(ns, "pw", password: password)
            try await h.createRepository(ns, "repo", path: "made-by-hand", secret: "pw")
            let ready = try await h.waitForStatus(Harness.repositories, ns, "repo", "Ready with 3 snapshots") {
                $0["status"]["phase"] == "Ready" && $0["status"]["snapshotCount"].intValue == 3
            }
            // The size is what the repository's files take on disk.
            let bytes = try await h.bytesOnDisk(path)
            #expect(ready["status"]["sizeBytes"].intValue == bytes, "\(ready["status"]); find: \(bytes)")
            #expect(wrapper.runs().filter { $0.contains(" stats") }.isEmpty, "\(wrapper.runs())")

            let marker = wrapper.runs().count
            for (index, id) in ids.enumerated() {
                // One by a short id: a prefix is found in the same listing.
                try await h.createSnapshot(ns, "adopted-\(index)", repository: "repo", snapshotID: index == 0 ? String(id.prefix(8)) : id)
            }
            for (index, id) in ids.enumerated() {
                let adopted = try await h.waitForReason(Harness.snapshots, ns, "adopted-\(index)", phase: "Ready", reason: "Adopted")
                #expect(adopted["status"]["snapshotID"].stringValue == id)
            }
            let runs = Array(wrapper.runs().dropFirst(marker))
            #expect(!runs.contains { $0.contains(" snapshots") }, "restic runs of the adoptions: \(runs)")
        }
    }

    /// An answer that waited longer than `maxAge` to be taken (its Snapshot was busy with
    /// something else) is not handed out: it is asked again, with a new listing. With `maxAge`
    /// zero every answer is stale by the time it is taken; with a minute it is taken as is.
    @Test("An answer older than maxAge is asked again")
    func staleAnswerIsAskedAgain() async throws {
        let directory = try TemporaryDirectory(prefix: "catalog-max-age")
        defer { directory.remove() }
        let path = directory.appending("repo")
        let environment = ["RESTIC_PASSWORD": "max-age-pass", "PATH": "/usr/bin:/bin", "HOME": directory.path]
        let source = directory.appending("source")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try "data".write(toFile: source + "/f", atomically: true, encoding: .utf8)
        for arguments in [["init"], ["backup", source]] {
            let made = try await runCommand("/usr/bin/restic", ["--no-cache", "-r", path] + arguments, environment: environment)
            #expect(made.succeeded, "\(made)")
        }
        let repository = try ResticRepository(
            backend: .local(path: path), password: "max-age-pass", cacheDirectory: directory.appending("cache"),
            executable: "/usr/bin/restic")
        let id = try #require(try await repository.snapshots().first?.id)

        for (maxAge, reused) in [(Duration.zero, false), (.seconds(60), true)] {
            let catalog = SnapshotCatalog(maxAge: maxAge)
            let key = ObjectKey(namespace: "default", name: "adopting")
            var completions = catalog.completions.makeAsyncIterator()
            guard case .pending = await catalog.lookUp(.id(id), in: repository, uid: "u1", key: key) else {
                Issue.record("the first lookup had no listing to answer from")
                return
            }
            #expect(await completions.next() == key)
            let second = await catalog.lookUp(.id(id), in: repository, uid: "u1", key: key)
            if reused {
                guard case .found(let found) = second else {
                    Issue.record("a fresh answer was not taken: \(second)")
                    return
                }
                #expect(found.map(\.id) == [id])
                #expect(await catalog.listingCount == 1)
            } else {
                guard case .pending = second else {
                    Issue.record("a stale answer was handed out: \(second)")
                    return
                }
                #expect(await completions.next() == key)
                #expect(await catalog.listingCount == 2, "the stale answer's listing was not used again")
            }
        }
    }

    /// A kept result goes once it is `retention` old (every Repository refresh makes a listing;
    /// a large repository's is megabytes), and one kept without a retention stays.
    @Test("Fetched results are dropped after their retention")
    func resultsExpire() async throws {
        let expiring = FreshFetches<Int>(retention: .milliseconds(200))
        let kept = FreshFetches<Int>()
        for fetches in [expiring, kept] {
            #expect(try await fetches.value(for: "k", startedAfter: .now) { 42 }.value == 42)
            #expect(await fetches.newest("k")?.value == 42)
        }
        try await waitUntil("the result kept for 200 ms to be dropped", timeout: .seconds(30)) {
            (await expiring.newest("k") == nil, "still kept")
        }
        #expect(await kept.newest("k")?.value == 42)
    }
}
