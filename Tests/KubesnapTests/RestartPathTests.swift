import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

@Suite("Restart path, end to end")
struct RestartPathTests {
    @Test("a Snapshot found Running with no backup in this process adopts its tagged restic snapshot, never a second copy")
    func runningWithoutBackupAdoptsTaggedSnapshot() async throws {
        try await withOperator { h in
            let ns = "default"
            let source = try h.makeSource("restart", files: ["r": "restart"])
            try await h.readyRepository(ns, "repo", path: "restart", password: "restart-pass")
            // A repository listing made before the backup (an adoption of an id the repository
            // lacks) must not answer the lookup below: the copy did not exist when it was made.
            try await h.createSnapshot(ns, "unknown", repository: "repo", snapshotID: "deadbeef")
            try await h.waitForReason(Harness.snapshots, ns, "unknown", phase: "Failed", reason: "SnapshotNotFound")
            try await h.createSnapshot(ns, "snap", repository: "repo", source: source)
            let ready = try await h.waitForStatus(Harness.snapshots, ns, "snap", "Ready and verified") {
                $0["status"]["phase"] == "Ready" && $0["status"]["verificationStatus"] == "OK"
            }
            let id = try #require(ready["status"]["snapshotID"].stringValue)

            // What a crash mid-backup leaves: phase Running, no snapshotID, no backup running here.
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "snap", type: .merge,
                ["status": ["phase": "Running", "snapshotID": nil, "verificationStatus": nil]], subresource: "status")
            _ = try await h.client.patch(
                Harness.snapshots, namespace: ns, name: "snap", type: .merge,
                ["metadata": ["annotations": ["test/nudge": "1"]]])
            let adopted = try await h.waitForReason(Harness.snapshots, ns, "snap", phase: "Ready", reason: "SnapshotFound")
            #expect(adopted["status"]["snapshotID"].stringValue == id)
            let listed = try await h.resticSnapshots(repository: h.repositoryRoot + "/restart", password: "restart-pass")
            #expect(listed.compactMap { $0["id"].stringValue } == [id])
        }
    }
}

@Suite("Restart path: many Snapshots left Running")
struct RestartManyRunningTests {
    @Test("Snapshots a crash left Running share one repository listing and end Interrupted, with no copy made")
    func leftRunningShareOneListing() async throws {
        try await withWrappedRestic { h, wrapper in
            let ns = "default"
            try await h.readyRepository(ns, "repo", path: "many", password: "many-pass")

            // What a crash leaves: Snapshots recorded Running whose restic died with the operator.
            await h.runner.stop()
            let names = (0..<8).map { "left-\($0)" }
            for name in names {
                let source = try h.makeSource(name, files: ["f": name])
                _ = try await h.createSnapshot(ns, name, repository: "repo", source: source)
                _ = try await h.client.patch(
                    Harness.snapshots, namespace: ns, name: name, type: .merge, ["status": ["phase": "Running"]],
                    subresource: "status")
            }
            let before = wrapper.runs().count
            h.runner.start()
            for name in names {
                try await h.waitForReason(Harness.snapshots, ns, name, phase: "Failed", reason: "Interrupted")
            }
            let runs = Array(wrapper.runs().dropFirst(before))
            #expect(runs.filter { $0.contains(" snapshots") }.count == 1, "restic runs after the restart: \(runs)")
            #expect(!runs.contains { $0.contains(" backup") }, "no copy is taken later than asked: \(runs)")
        }
    }
}

@Suite("Restart path: a slow repository")
struct RestartSlowRepositoryTests {
    /// The look for a left-Running Snapshot's copy does not hold the reconcile worker while its
    /// repository is listed: with one worker, a Snapshot of another repository is settled while
    /// the first repository's listing is held.
    @Test("A slow listing after a restart holds no reconcile worker")
    func slowListingHoldsNoWorker() async throws {
        try await withWrappedRestic(configure: { $0.workers = 1 }) { h, wrapper in
            defer { try? wrapper.release() }  // a failed expectation must not leave the listing held
            let ns = "default"
            try await h.createSecret(ns, "pw", password: "restart-pass")
            for name in ["hold-slow", "fast"] {
                try await h.createRepository(ns, name, path: name, secret: "pw")
                try await h.waitForPhase(Harness.repositories, ns, name, "Ready")
            }
            // What a crash leaves: a Snapshot in each repository recorded Running, no copy made.
            // The operator lists them by name, so the one of the slow repository comes first.
            await h.runner.stop()
            try wrapper.holdListings()
            let snapshots = [(name: "a-slow", repository: "hold-slow"), (name: "b-fast", repository: "fast")]
            for (name, repository) in snapshots {
                let source = try h.makeSource("restart-\(name)", files: ["f": name])
                _ = try await h.createSnapshot(ns, name, repository: repository, source: source)
                _ = try await h.client.patch(
                    Harness.snapshots, namespace: ns, name: name, type: .merge, ["status": ["phase": "Running"]],
                    subresource: "status")
            }
            h.runner.start()
            try await waitUntil("the hold-slow repository's listing to be held") {
                (wrapper.actions().contains { $0.hasPrefix("holding listing of") }, "\(wrapper.actions())")
            }
            try await h.waitForReason(Harness.snapshots, ns, "b-fast", phase: "Failed", reason: "Interrupted")
            let slow = try #require(try await h.get(Harness.snapshots, ns, "a-slow"))
            #expect(slow["status"]["phase"].stringValue == "Running", "its listing is still held: \(slow["status"])")
            try wrapper.release()
            try await h.waitForReason(Harness.snapshots, ns, "a-slow", phase: "Failed", reason: "Interrupted")
            #expect(!wrapper.runs().contains { $0.contains(" backup") }, "no copy is taken later than asked: \(wrapper.runs())")
        }
    }
}

@Suite("Small pieces")
struct SmallPieceTests {
    @Test("sizes for people")
    func humanSizes() {
        #expect(ByteCount.human(0) == "0 B")
        #expect(ByteCount.human(1023) == "1023 B")
        #expect(ByteCount.human(2_961_152) == "2.8 MiB")
        #expect(ByteCount.human(1536) == "1.5 KiB")
    }

    @Test("bind addresses")
    func bindAddresses() throws {
        #expect(try OperatorConfiguration.parseBindAddress(":8080", flag: "f")! == ("0.0.0.0", 8080))
        #expect(try OperatorConfiguration.parseBindAddress("127.0.0.1:0", flag: "f")! == ("127.0.0.1", 0))
        #expect(try OperatorConfiguration.parseBindAddress("0", flag: "f") == nil)
        #expect(throws: KubesnapError.self) { try OperatorConfiguration.parseBindAddress("localhost:http", flag: "f") }
    }

    @Test("the repository gate serves an exclusive holder only when no shared holder remains")
    func gateOrdering() async throws {
        let gate = RepositoryGate()
        let log = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                try await gate.withAccess("loc", exclusive: false) {
                    log.withLock { $0.append("shared-start") }
                    startedContinuation.yield()
                    for await _ in release { break }
                    log.withLock { $0.append("shared-end") }
                }
            }
            for await _ in started { break }
            group.addTask {
                try await gate.withAccess("loc", exclusive: true) { log.withLock { $0.append("exclusive") } }
            }
            try await waitUntil("the exclusive waiter to queue") { (await gate.isBusy("loc"), "not busy") }
            releaseContinuation.yield()
            try await group.waitForAll()
        }
        #expect(log.withLock { $0 } == ["shared-start", "shared-end", "exclusive"])
        #expect(await !gate.isBusy("loc"))
    }

    @Test("withAccessIfIdle takes the repository only when no operation holds or waits for it, in one step")
    func gateIfIdle() async throws {
        let gate = RepositoryGate()
        #expect(try await gate.withAccessIfIdle("loc", exclusive: true) { 1 } == 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                try await gate.withAccess("loc", exclusive: false) {
                    startedContinuation.yield()
                    for await _ in release { break }
                }
            }
            for await _ in started { break }
            // A backup holds it shared: neither an exclusive nor a shared taker waits.
            let ran = Locked(false)
            #expect(try await gate.withAccessIfIdle("loc", exclusive: true) { ran.withLock { $0 = true } } == nil)
            #expect(try await gate.withAccessIfIdle("loc", exclusive: false) { ran.withLock { $0 = true } } == nil)
            #expect(!ran.withLock { $0 })
            #expect(try await gate.withAccessIfIdle("other", exclusive: true) { 2 } == 2, "another location is free")
            releaseContinuation.yield()
            try await group.waitForAll()
        }
        #expect(try await gate.withAccessIfIdle("loc", exclusive: true) { 3 } == 3)
        #expect(await !gate.isBusy("loc"))
    }
}
