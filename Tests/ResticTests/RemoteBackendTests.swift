import Foundation
import KubeTestSupport
import Testing

@testable import Restic

@Suite struct RemoteBackendTests {
    @Test func s3BackendOnMoto() async throws {
        let fixture = try LocalFixture(prefix: "restic-s3")
        defer { fixture.remove() }
        let (moto, backend) = try await startMotoRepository(fixture, prefix: "demo/app")
        defer { moto.child.kill9() }
        let endpoint = "http://127.0.0.1:\(moto.port)"
        let credentials = motoCredentials
        let repository = try ResticRepository(
            backend: backend, password: fixture.password, cacheDirectory: fixture.cachePath, executable: try toolPath("restic"))
        #expect(repository.location == "s3:\(endpoint)/backups/demo/app")
        #expect(try await repository.probe() == .notInitialized)
        #expect(try await repository.initializeIfNeeded())
        guard case .ready(let empty) = try await repository.probe() else {
            Issue.record("the new repository did not open")
            return
        }
        #expect(empty.snapshots.isEmpty && (empty.storedBytes ?? 0) > 0, "\(empty)")
        #expect(try await repository.probe(readSize: false) == .ready(RepositoryContents(snapshots: [], storedBytes: nil)))

        let result = try await repository.backup(path: try fixture.source("app"), tags: ["kubesnap"])
        // The stored size is the bucket listing's: the backup's random 120,000 bytes are in it.
        guard case .ready(let backedUp) = try await repository.probe() else {
            Issue.record("the repository did not open after the backup")
            return
        }
        #expect(backedUp.snapshots.map(\.id) == [result.snapshotID])
        let emptyBytes = try #require(empty.storedBytes)
        let backedUpBytes = try #require(backedUp.storedBytes)
        #expect(backedUpBytes >= emptyBytes + 120_000, "\(emptyBytes) -> \(backedUpBytes)")
        #expect(result.snapshotID.count == 64)
        #expect(try await repository.snapshots(tags: ["kubesnap"]).map(\.id) == [result.snapshotID])
        // A remote repository's metadata is cached, so that later listings spare the GETs.
        #expect(repository.usesCache && fixture.cachedRepositories().count == 1, "\(fixture.cachedRepositories())")
        let verification = try await repository.verify(snapshotID: result.snapshotID)
        #expect(verification.isOK, "\(verification)")
        #expect(try await repository.stats().snapshotCount == 1)

        // The repository is a plain restic repository: the CLI reads it without kubesnap.
        let listed = try await resticCLI(
            ["snapshots", "--json"], repository: repository.location, password: fixture.password,
            extraEnvironment: ["AWS_ACCESS_KEY_ID": "kubesnap-test", "AWS_SECRET_ACCESS_KEY": "kubesnap-test-secret"])
        #expect(listed.succeeded && listed.stdout.contains(result.snapshotID), "\(listed)")

        let wrong = try ResticRepository(
            backend: .s3(endpoint: endpoint, bucket: "backups", prefix: "demo/app", region: nil, credentials: credentials),
            password: "wrong", cacheDirectory: fixture.cachePath, executable: try toolPath("restic"))
        guard case .wrongPassword = try await wrong.probe() else {
            Issue.record("wrong password on S3 not classified")
            return
        }

        // Wiping removes exactly this repository's prefix: a neighbour repository stays.
        let neighbour = try ResticRepository(
            backend: .s3(endpoint: endpoint, bucket: "backups", prefix: "demo/app-other", region: nil, credentials: credentials),
            password: fixture.password, cacheDirectory: fixture.cachePath, executable: try toolPath("restic"))
        try await neighbour.initialize()
        #expect(try await repository.wipe() == true)
        guard case .notInitialized = try await repository.probe() else {
            Issue.record("the wiped S3 repository still answers as a repository")
            return
        }
        #expect(try await repository.wipe() == false)
        guard case .ready = try await neighbour.probe() else {
            Issue.record("wiping demo/app touched demo/app-other")
            return
        }
    }

    @Test func restBackendOnRclone() async throws {
        let fixture = try LocalFixture(prefix: "restic-rest")
        defer { fixture.remove() }
        let served = fixture.directory.appending("served")
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        let rclone = try await startServer(
            try toolPath("rclone"), ["serve", "restic", "--addr", "127.0.0.1:0", served],
            logPath: fixture.directory.appending("rclone.log"))
        defer { rclone.child.kill9() }

        let repository = try ResticRepository(
            backend: .rest(url: "http://127.0.0.1:\(rclone.port)/"), password: fixture.password,
            cacheDirectory: fixture.cachePath, executable: try toolPath("restic"))
        #expect(try await repository.probe() == .notInitialized)
        try await repository.initialize()
        #expect(FileManager.default.fileExists(atPath: served + "/config"))
        let result = try await repository.backup(path: try fixture.source("app"))
        #expect(try await repository.snapshot(id: result.shortID)?.id == result.snapshotID)
        #expect(try await repository.verify(snapshotID: result.snapshotID).isOK)
        // rest cannot be listed without restic: the size is restic's (`stats --mode raw-data`).
        let stats = try await repository.stats()
        #expect(
            try await repository.probe()
                == .ready(RepositoryContents(snapshots: repository.snapshots(), storedBytes: stats.totalSizeBytes)))
    }

    @Test func unreachableBackendsAreClassified() async throws {
        let fixture = try LocalFixture(prefix: "restic-unreachable")
        defer { fixture.remove() }
        let port = try closedLoopbackPort()
        let backends: [ResticBackend] = [
            .rest(url: "http://127.0.0.1:\(port)/"),
            .s3(endpoint: "http://127.0.0.1:\(port)", bucket: "backups", prefix: nil, region: nil, credentials: motoCredentials),
        ]
        for backend in backends {
            let repository = try ResticRepository(
                backend: backend, password: fixture.password, cacheDirectory: fixture.cachePath,
                executable: try toolPath("restic"))
            guard case .unreachable(let message) = try await repository.probe() else {
                Issue.record("\(backend.storageType) on a closed port not classified as unreachable")
                continue
            }
            #expect(message.contains("connection refused"))
            await #expect {
                _ = try await repository.snapshots()
            } throws: { error in
                (error as? ResticError)?.kind == .backendUnreachable
            }
        }
    }
}
