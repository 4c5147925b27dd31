import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// A killed operator (and the restic it ran, as in a pod kill) restarted mid-backup: the
/// Snapshot ends Ready or Failed/Interrupted, never stays Running, never gets two copies, and a
/// stale restic lock does not block the repository.
@Suite struct RestartTests {
    /// Writes `files` files of `mebibytes` MiB of random data each (incompressible, not deduplicated).
    static func writeRandomData(to directory: String, files: Int, mebibytes: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else {
            throw E2EError("cannot open /dev/urandom")
        }
        defer { try? random.close() }
        for index in 0..<files {
            let path = "\(directory)/random-\(index).bin"
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? out.close() }
            for _ in 0..<mebibytes {
                let chunk = random.readData(ofLength: 1 << 20)
                guard chunk.count == 1 << 20 else { throw E2EError("short read from /dev/urandom") }
                try out.write(contentsOf: chunk)
            }
        }
    }

    @Test func operatorKilledMidBackupNeverLeavesRunningOrTwoCopies() async throws {
        let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-restart")
        defer {
            cluster.kill()
            cluster.directory.remove()
        }
        try Self.writeRandomData(to: cluster.directory.appending("sources/big"), files: 6, mebibytes: 50)
        try cluster.writeSmallSource("small")

        var first: KubesnapProcess? = try cluster.startOperator(name: "operator-1")
        defer { first?.kill9() }
        let kubectl = cluster.kubectl
        try await kubectl.apply(
            DemoManifests.namespaceSecretRepository(namespace: "restart", path: "restart/app"))
        try await kubectl.waitForObject("repo", "app-repo", namespace: "restart", "to be Ready") {
            $0.phase == "Ready"
        }
        try await kubectl.apply(DemoManifests.snapshot(name: "big", namespace: "restart", source: "big"))
        let running = try await kubectl.waitForObject(
            "snap", "big", namespace: "restart", "to be Running", timeout: .seconds(120),
            rejected: {
                ["Ready", "Failed"].contains($0.phase)
                    ? "finished (\($0.phase)) before the operator could be killed" : nil
            }
        ) { $0.phase == "Running" }
        let uid = try #require(running["metadata"]["uid"].stringValue)

        // Kill the operator and what it runs (restic), as a pod kill would, while the capture runs.
        let operatorProcess = try #require(first)
        let resticPids = try await waitFor(
            "the operator to run restic backup", timeout: .seconds(60), poll: .milliseconds(20)
        ) {
            let children = ProcessTree.descendants(of: operatorProcess.child.pid)
            let backups = children.filter {
                ProcessTree.name(of: $0) == "restic" && ProcessTree.arguments(of: $0).contains("backup")
            }
            return backups.isEmpty
                ? .notYet(
                    "children: \(children.map { ProcessTree.arguments(of: $0).prefix(3).joined(separator: " ") })"
                )
                : .done(backups)
        }
        // Mid-capture: restic holds its lock and has written data.
        let repositoryPath = cluster.repositoryRoot + "/restart/app"
        try await waitUntil(
            "restic backup to hold a lock and write packs", timeout: .seconds(60), poll: .milliseconds(20)
        ) {
            let locks =
                (try? FileManager.default.contentsOfDirectory(atPath: repositoryPath + "/locks")) ?? []
            let packs = (FileManager.default.subpaths(atPath: repositoryPath + "/data") ?? []).filter {
                $0.count > 3
            }
            return (!locks.isEmpty && !packs.isEmpty, "locks \(locks.count), packs \(packs.count)")
        }
        operatorProcess.kill9()  // with its restic
        first = nil
        let atKill = try #require(try await kubectl.get("snap", "big", namespace: "restart"))
        #expect(
            atKill.phase == "Running",
            "the backup was no longer running when the operator was killed: \(atKill["status"])")
        try await waitUntil("the killed restic processes \(resticPids) to be gone", timeout: .seconds(10)) {
            let alive = resticPids.filter { kill($0, 0) == 0 && ProcessTree.name(of: $0) == "restic" }
            return (alive.isEmpty, "alive: \(alive)")
        }

        let restic = ResticCLI(
            repository: cluster.repositoryRoot + "/restart/app", password: DemoManifests.password,
            cacheDir: cluster.directory.appending("restic-cache"))
        let locksAfterKill = try await restic.run(["list", "locks", "--no-lock"]).stdout
            .split(separator: "\n").filter { !$0.isEmpty }

        let second = try cluster.startOperator(name: "operator-2")
        defer { second.kill9() }
        let finished = try await kubectl.waitForObject(
            "snap", "big", namespace: "restart", "to end Ready or Failed/Interrupted", timeout: .seconds(180),
            rejected: {
                $0.phase == "Failed" && $0.conditionReason("Ready") != "Interrupted"
                    ? "failed with another reason" : nil
            }
        ) { $0.phase == "Ready" || $0.phase == "Failed" }
        #expect(
            finished.phase == "Ready" || finished.conditionReason("Ready") == "Interrupted",
            "\(finished["status"])")

        let copies = try await restic.snapshots(tag: "kubesnap-uid=\(uid)")
        #expect(copies.count <= 1, "more than one restic snapshot for Snapshot uid \(uid): \(copies)")
        if finished.phase == "Ready" {
            #expect(
                copies.count == 1 && copies.first?["id"] == finished["status"]["snapshotID"],
                "Ready but restic has \(copies)")
        }

        // A stale lock left by the killed restic must not block the repository.
        try await kubectl.apply(DemoManifests.snapshot(name: "after", namespace: "restart", source: "small"))
        try await kubectl.waitForObject(
            "snap", "after", namespace: "restart",
            "to be Ready (locks left by the killed restic: \(locksAfterKill.count))",
            timeout: .seconds(180), rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        print(
            "restart mid-backup: the Snapshot ended \(finished.phase) (\(finished.conditionReason("Ready"))); restic copies: \(copies.count); locks after the kill: \(locksAfterKill.count)"
        )
        let big = try #require(try await kubectl.get("snap", "big", namespace: "restart"))
        #expect(big.phase == finished.phase, "the Snapshot changed phase after it finished: \(big["status"])")
        #expect(try await restic.snapshots(tag: "kubesnap-uid=\(uid)").count <= 1)

        // Deleting a Snapshot (policy Delete) needs restic's exclusive lock (forget): a stale
        // lock must not block it forever.
        let after = try #require(try await kubectl.get("snap", "after", namespace: "restart"))
        let afterID = try #require(after["status"]["snapshotID"].stringValue)
        try await kubectl.deleteAndWait("snap", "after", namespace: "restart", log: second.log)
        let remaining = try await restic.snapshots().compactMap { $0["id"].stringValue }
        #expect(
            !remaining.contains(afterID),
            "the deleted Snapshot's data is still in the repository: \(remaining)")
        // The stale lock is cleared once no kubesnap operation holds the repository.
        try await waitUntil(
            "the stale locks \(locksAfterKill) to be cleared", timeout: .seconds(60), poll: .milliseconds(500)
        ) {
            let locks = try await restic.run(["list", "locks", "--no-lock"]).stdout.split(separator: "\n")
                .filter { !$0.isEmpty }
            return (locks.allSatisfy { !locksAfterKill.contains($0) }, "locks: \(locks)")
        }
    }
}
