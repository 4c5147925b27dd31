import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import Restic

@Suite struct SnapshotIDTests {
    @Test func idsAreOneToSixtyFourLowercaseASCIIHexDigits() throws {
        for good in ["0", "4f1c2a9e", String(repeating: "ab", count: 32)] {
            #expect(throws: Never.self) { try ResticRepository.validateID(good) }
        }
        // Fullwidth digits and letters are hex digits to Character.isHexDigit.
        for bad in ["", "4F1C", "4f1g", "４f1c", "ａｂ", " 4f1c", "4f1c\n", "-4f1c", String(repeating: "a", count: 65)] {
            #expect(throws: ResticError.self, "\(bad.debugDescription)") { try ResticRepository.validateID(bad) }
        }
    }
}

@Suite struct LocalRepositoryTests {
    @Test func initBackupListVerifyForgetPruneStats() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let repository = try fixture.repository()

        // An empty (here: missing) location is "not initialized"; initializeIfNeeded creates it once.
        #expect(try await repository.probe() == .notInitialized)
        #expect(try await repository.initializeIfNeeded() == true)
        #expect(try await repository.initializeIfNeeded() == false)
        // An open repository comes with its listing and the bytes its files take (config, key).
        let empty = try await repository.probe()
        let emptyBytes = try await fixture.repositoryBytesOnDisk()
        #expect(empty == .ready(RepositoryContents(snapshots: [], storedBytes: emptyBytes)) && emptyBytes > 0, "\(empty)")

        // The wrong password is classified, and the real one never shows up in the message.
        let wrong = try fixture.repository(password: "not the password")
        guard case .wrongPassword(let message) = try await wrong.probe() else {
            Issue.record("wrong password not classified")
            return
        }
        #expect(message.contains("wrong password"))

        let sourceA = try fixture.source("app-a")
        let sourceB = try fixture.source("app-b")
        let first = try await repository.backup(path: sourceA, tags: ["kubesnap", "uid:aaa"], host: "kubesnap-test")
        let second = try await repository.backup(path: sourceB, tags: ["kubesnap", "uid:bbb"], host: "kubesnap-test")
        for result in [first, second] {
            #expect(result.snapshotID.count == 64, "backup must resolve the full id, got \(result.snapshotID)")
            #expect(result.snapshotID.allSatisfy { $0.isHexDigit })
            #expect(result.fileCount == 4)
            #expect(result.totalBytesProcessed == Int64(3 * 40_000 + "hello app-a\n".utf8.count))
            #expect(result.bytesAdded > 0)
            #expect(result.isComplete)
        }
        // A local repository is read in place: restic keeps no cache copy of it.
        #expect(!repository.usesCache && fixture.cachedRepositories().isEmpty, "\(fixture.cachedRepositories())")
        let firstListed = try #require(try await repository.snapshot(id: first.snapshotID))
        #expect(firstListed.paths == [sourceA])
        // The time backup reports is taken as restic starts, as restic's own snapshot time is.
        #expect(abs(firstListed.time.timeIntervalSince(first.time)) < 5)

        // Listing, tag filter (all tags must match), and lookup by short or full id.
        let all = try await repository.snapshots()
        #expect(Set(all.map(\.id)) == [first.snapshotID, second.snapshotID])
        let onlyB = try await repository.snapshots(tags: ["kubesnap", "uid:bbb"])
        #expect(onlyB.map(\.id) == [second.snapshotID])
        #expect(onlyB.first?.tags == ["kubesnap", "uid:bbb"])
        #expect(try await repository.snapshots(tags: ["uid:aaa", "uid:bbb"]).isEmpty)
        #expect(try await repository.snapshot(id: String(first.snapshotID.prefix(8)))?.id == first.snapshotID)
        #expect(try await repository.snapshot(id: second.snapshotID)?.id == second.snapshotID)
        #expect(try await repository.snapshot(id: String(repeating: "0", count: 64)) == nil)
        await #expect(throws: ResticError.self) { _ = try await repository.snapshot(id: "--help") }

        // Verification reads every byte of each snapshot.
        let verification = try await repository.verify(snapshotID: first.snapshotID)
        #expect(verification.isOK, "\(verification.error ?? "")")
        // No lookup before the dump: an id the repository does not hold is restic's own answer.
        await #expect {
            _ = try await repository.verify(snapshotID: String(repeating: "0", count: 64))
        } throws: { error in
            guard case .commandFailed(let failure) = error as? ResticError else { return false }
            return failure.kind == .snapshotNotFound
        }
        #expect(try await repository.check(readData: true) == .ok)

        guard case .ready(let before) = try await repository.probe() else {
            Issue.record("the repository did not open")
            return
        }
        let sizeBefore = RepositoryStats(before)
        #expect(Set(before.snapshots.map(\.id)) == [first.snapshotID, second.snapshotID])
        #expect(sizeBefore.totalSizeBytes >= Int64(6 * 40_000))
        #expect(sizeBefore.totalSizeBytes == (try await fixture.repositoryBytesOnDisk()))
        // restic's own figure (the fallback for backends that cannot be listed) agrees on the count.
        #expect(try await repository.stats().snapshotCount == 2)

        // Forget by full id removes exactly that snapshot; the other stays restorable.
        let forgotten = try await repository.forget(ids: [first.snapshotID])
        #expect(forgotten.removed == [first.snapshotID])
        #expect(forgotten.notFound.isEmpty)
        #expect(try await repository.snapshots().map(\.id) == [second.snapshotID])
        let unknown = String(repeating: "ab", count: 32)
        let none = try await repository.forget(ids: [unknown])
        #expect(none.notFound == [unknown] && none.removed.isEmpty)

        try await repository.prune()
        guard case .ready(let after) = try await repository.probe() else {
            Issue.record("the repository did not open after prune")
            return
        }
        let sizeAfter = RepositoryStats(after)
        #expect(sizeAfter.snapshotCount == 1)
        #expect(sizeAfter.totalSizeBytes == (try await fixture.repositoryBytesOnDisk()))
        #expect(sizeAfter.totalSizeBytes < sizeBefore.totalSizeBytes - 100_000, "prune reclaimed \(sizeBefore) -> \(sizeAfter)")

        let restoreTarget = fixture.directory.appending("restored")
        let restored = try await resticCLI(
            ["restore", second.snapshotID, "--target", restoreTarget], repository: repository.location,
            password: fixture.password)
        #expect(restored.succeeded, "\(restored)")
        #expect(
            FileManager.default.contentsEqual(atPath: sourceB + "/sub", andPath: restoreTarget + sourceB + "/sub"))
        #expect(try await repository.verify(snapshotID: second.snapshotID).isOK)

        // A forgotten snapshot can no longer be verified: that is "not found", not corruption.
        await #expect {
            _ = try await repository.verify(snapshotID: first.snapshotID)
        } throws: { error in
            (error as? ResticError)?.kind == .snapshotNotFound
        }
    }

    @Test func forgetAndPruneInOneCall() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, ids) = try await fixture.initializedRepository(snapshots: 3)
        let result = try await repository.forget(ids: [ids[0], String(ids[1].prefix(10)), "deadbeef"], prune: true)
        #expect(Set(result.removed) == [ids[0], ids[1]])
        #expect(result.notFound == ["deadbeef"])
        #expect(result.pruned)
        #expect(try await repository.snapshots().map(\.id) == [ids[2]])
        #expect(try await repository.check(readData: true) == .ok)
    }

    @Test func corruptedPackIsDetectedByVerifyAndReadDataCheck() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let repository = try fixture.repository()
        try await repository.initialize()

        let packsBefore = fixture.packFiles()
        let damaged = try await repository.backup(path: try fixture.source("damaged", files: 2, size: 300_000))
        let damagedPacks = fixture.packFiles().subtracting(packsBefore)
        let intact = try await repository.backup(path: try fixture.source("intact", files: 2, size: 300_000))
        #expect(try await repository.verify(snapshotID: damaged.snapshotID).isOK)

        // The largest pack the first backup wrote holds its file data; overwrite bytes in it.
        let sizes = damagedPacks.map { path in
            (path, (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
        let dataPack = try #require(sizes.max { $0.1 < $1.1 }?.0)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dataPack)
        let handle = try #require(FileHandle(forUpdatingAtPath: dataPack))
        try handle.seek(toOffset: 1000)
        handle.write(Data(repeating: 0x58, count: 64))
        try handle.close()

        let verification = try await repository.verify(snapshotID: damaged.snapshotID)
        #expect(!verification.isOK)
        #expect(verification.error?.contains("ciphertext verification failed") == true, "\(verification)")
        #expect(!(verification.error ?? "").contains(fixture.password))
        // The other snapshot does not use the damaged pack.
        #expect(try await repository.verify(snapshotID: intact.snapshotID).isOK)

        guard case .errors(let report) = try await repository.check(readData: true) else {
            Issue.record("check --read-data did not report the corrupted pack")
            return
        }
        #expect(report.contains("Pack ID does not match") || report.contains("contains errors"), "\(report)")
    }

    @Test func initializeRefusesANonEmptyDirectoryAndWipeRefusesANonRepository() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        try fixture.directory.write("repo/precious.txt", "not a repository")
        let repository = try fixture.repository()
        #expect(try await repository.probe() == .notInitialized)
        await #expect {
            try await repository.initialize()
        } throws: { error in
            if case .locationNotEmpty = error as? ResticError { return true }
            return false
        }
        await #expect(throws: ResticError.self) { try await repository.wipe() }
        #expect(FileManager.default.fileExists(atPath: fixture.repositoryPath + "/precious.txt"))

        // A real repository is wiped; wiping again is a no-op.
        try FileManager.default.removeItem(atPath: fixture.repositoryPath + "/precious.txt")
        try await repository.initialize()
        _ = try await repository.backup(path: try fixture.source("src"))
        #expect(try await repository.wipe() == true)
        #expect(!FileManager.default.fileExists(atPath: fixture.repositoryPath))
        #expect(try await repository.wipe() == false)
        #expect(FileManager.default.fileExists(atPath: fixture.directory.appending("src/hello.txt")))
    }

    @Test func backupOfAMissingSourceIsClassified() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let repository = try fixture.repository()
        try await repository.initialize()
        await #expect {
            _ = try await repository.backup(path: fixture.directory.appending("nope"))
        } throws: { error in
            (error as? ResticError)?.kind == .sourceNotFound
        }
        await #expect(throws: ResticError.self) { _ = try await repository.backup(path: "relative/path") }
        await #expect(throws: ResticError.self) {
            _ = try await repository.backup(path: fixture.directory.path, tags: ["a,b"])
        }
    }

    @Test func secretsStayOutOfDescriptions() throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let repository = try fixture.repository()
        var dumped = ""
        dump(repository, to: &dumped)
        #expect(!dumped.contains(fixture.password))
        #expect(!String(describing: repository).contains(fixture.password))
        #expect(!String(reflecting: repository).contains(fixture.password))
        let credentials = S3Credentials(accessKeyID: "AKIA", secretAccessKey: "very-secret-key")
        var dumpedCredentials = ""
        dump(ResticBackend.s3(endpoint: nil, bucket: "b", prefix: nil, region: nil, credentials: credentials), to: &dumpedCredentials)
        #expect(!dumpedCredentials.contains("very-secret-key"))
        #expect(!"\(credentials)".contains("very-secret-key"))
    }

    @Test func backendLocations() throws {
        let credentials = S3Credentials(accessKeyID: "a", secretAccessKey: "b")
        #expect(try ResticBackend.local(path: "/srv/repos/demo/").location() == "local:/srv/repos/demo")
        #expect(
            try ResticBackend.s3(
                endpoint: "http://127.0.0.1:9000/", bucket: "backups", prefix: "/demo/app/", region: nil,
                credentials: credentials
            ).location() == "s3:http://127.0.0.1:9000/backups/demo/app")
        #expect(
            try ResticBackend.s3(endpoint: nil, bucket: "backups", prefix: nil, region: "eu-west-1", credentials: credentials)
                .location() == "s3:s3.amazonaws.com/backups")
        #expect(try ResticBackend.rest(url: "http://127.0.0.1:8000").location() == "rest:http://127.0.0.1:8000/")
        #expect(throws: ResticError.self) { try ResticBackend.local(path: "relative").location() }
        #expect(throws: ResticError.self) {
            try ResticBackend.s3(endpoint: "ftp://x", bucket: "b", prefix: nil, region: nil, credentials: credentials).location()
        }
        #expect(throws: ResticError.self) { try ResticBackend.rest(url: "http://user:pw@host/").location() }
    }

    @Test func classifierReadsRestic014Messages() {
        let cases: [(String, ResticFailureKind)] = [
            ("Fatal: wrong password or no key found\n", .wrongPassword),
            (
                "Fatal: unable to open config file: stat /x/config: no such file or directory\nIs there a repository at the following location?\n/x",
                .repositoryNotFound
            ),
            (
                "Fatal: unable to open config file: Stat: Get \"http://127.0.0.1:1/b/?location=\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?",
                .backendUnreachable
            ),
            (
                "Fatal: unable to open config file: client.Head: Head \"http://x.invalid:8000/config\": dial tcp: lookup x.invalid: no such host",
                .backendUnreachable
            ),
            ("Fatal: unable to open S3 backend: Secret ($AWS_SECRET_ACCESS_KEY) is empty", .accessDenied),
            (
                "unable to create lock in backend: repository is already locked by PID 9343 on vm by root (UID 0, GID 0)",
                .locked
            ),
            ("Fatal: create repository at /x failed: config file already exists", .alreadyInitialized),
            ("/nope does not exist, skipping\nFatal: all target directories/files do not exist", .sourceNotFound),
            ("cannot dump file: decrypting blob 97 failed: ciphertext verification failed", .integrity),
            ("something new", .other),
        ]
        for (stderr, kind) in cases {
            #expect(ResticErrorClassifier.classify(stderr: stderr, exitCode: 1) == kind, "\(stderr)")
        }
    }

    @Test func eachRunIsReportedWithItsSubcommandAndOutcome() async throws {
        let fixture = try LocalFixture(prefix: "restic-runs")
        defer { fixture.remove() }
        let registry = ResticProcessRegistry()
        let seen = Locked<[ResticProcessRegistry.Run]>([])
        registry.observeRuns { run in seen.withLock { $0.append(run) } }
        try await fixture.repository(registry: registry).initialize()
        _ = try await fixture.repository(registry: registry).probe()
        _ = try await fixture.repository(password: "not the password", registry: registry).probe()
        let runs = seen.withLock { $0 }
        #expect(runs.map(\.command) == ["init", "snapshots", "snapshots"])
        #expect(runs.map(\.outcome) == ["success", "success", "wrongPassword"])
        #expect(runs.allSatisfy { $0.seconds > 0 })
        // Labels stay a bounded set: ids and paths never become part of one.
        #expect(ResticRepository.subcommand(["cat", "lock", "--", String(repeating: "a", count: 64)]) == "cat lock")
        #expect(ResticRepository.subcommand(["dump", "abcdef12", "/"]) == "dump")
        #expect(ResticRepository.subcommand(["forget", "--prune", "abcdef12"]) == "forget")
    }
}
