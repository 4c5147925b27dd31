import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import Restic

/// `forgetWithoutRestic`: kubesnap forgets snapshots of a local repository the way restic does
/// (lock, remove snapshot files, unlock), checked against the real restic on real repositories.
@Suite struct ForgetWithoutResticTests {
    /// The master key as restic prints it.
    static func masterKey(_ fixture: LocalFixture, _ repository: ResticRepository) async throws -> ResticMasterKey {
        let printed = try await resticCLI(["cat", "masterkey"], repository: repository.location, password: fixture.password)
        #expect(printed.succeeded, "\(printed.stderr)")
        return try #require(ResticMasterKey(masterKeyJSON: Array(printed.stdout.utf8)), "restic cat masterkey printed no key")
    }

    @Test func masterKeyOpensWhatResticWrote() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, _) = try await fixture.initializedRepository()
        let key = try await Self.masterKey(fixture, repository)
        let config = try #require(FileManager.default.contents(atPath: fixture.repositoryPath + "/config"))
        let plaintext = try #require(key.open(Array(config)), "the master key does not open restic's config")
        let json = try JSONValue.parse(plaintext)
        #expect(json["id"].stringValue?.count == 64, "config: \(json)")
        #expect(json["version"].intValue != nil, "config: \(json)")

        // A damaged byte fails the tag; only a whole master key is read.
        var damaged = Array(config)
        damaged[20] ^= 0x01
        #expect(key.open(damaged) == nil)
        #expect(ResticMasterKey(masterKeyJSON: Array(#"{"mac":{"k":"AAAA","r":"AAAA"},"encrypt":"AAAA"}"#.utf8)) == nil)
        #expect("\(key)" == "ResticMasterKey(<redacted>)")
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains("encryption") && !dumped.contains("macK"), "\(dumped)")
        // What it seals, it opens, and restic too (below, through a lock).
        let sealed = try key.seal(Array("hello".utf8))
        #expect(sealed.count == 16 + 5 + 16)
        #expect(key.open(sealed) == Array("hello".utf8))
    }

    @Test func resticReadsTheLockAndHonoursIt() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, _) = try await fixture.initializedRepository()
        let key = try await Self.masterKey(fixture, repository)
        let lock = try ResticLockFile.ofThisProcess(exclusive: true).sealed(with: key)
        let name = ResticMasterKey.storageID(of: lock)
        #expect(FileManager.default.createFile(atPath: fixture.repositoryPath + "/locks/" + name, contents: Data(lock)))

        // restic decrypts it (`cat lock`) and reads the same fields it writes.
        let locks = try await repository.locks()
        #expect(locks.count == 1)
        #expect(locks.first?.id == name)
        #expect(locks.first?.exclusive == true)
        #expect(locks.first?.pid == getpid())
        #expect(locks.first?.hostname == ResticLockFile.localHostname)
        #expect(abs(locks.first.map { $0.time.timeIntervalSinceNow } ?? 99) < 60)
        // ... and does not back up while it stands.
        let blocked = try await resticCLI(
            ["backup", try fixture.source("data")], repository: repository.location, password: fixture.password)
        #expect(!blocked.succeeded)
        #expect(blocked.stderr.contains("locked exclusively"), "\(blocked)")
    }

    @Test func forgetsExactlyThoseSnapshotsAndLeavesARepositoryResticReads() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, ids) = try await fixture.initializedRepository(snapshots: 3)
        let unknown = String(repeating: "ab", count: 32)

        let result = try await repository.forgetWithoutRestic(ids: [ids[0], unknown, ids[1], ids[0]])
        #expect(result == ForgetResult(removed: [ids[0], ids[1]], notFound: [unknown], pruned: false))
        #expect(try await repository.snapshots().map(\.id) == [ids[2]])
        let locks = try FileManager.default.contentsOfDirectory(atPath: fixture.repositoryPath + "/locks")
        #expect(locks.isEmpty, "left in locks/: \(locks)")
        #expect(try await repository.check(readData: true) == .ok)

        // The data goes at the next prune, which restic runs on the repository as it is.
        let packsBefore = fixture.packFiles()
        try await repository.prune()
        #expect(fixture.packFiles().count < packsBefore.count, "prune removed no pack")
        #expect(try await repository.check(readData: true) == .ok)
        #expect(try await repository.verify(snapshotID: ids[2]).isOK)
    }

    @Test func anotherLockLeavesItToRestic() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, _) = try await fixture.initializedRepository()
        let id = try await repository.backup(path: try fixture.source("data")).snapshotID
        // A lock of another process: a shared one, as a running `restic backup` holds.
        let key = try await Self.masterKey(fixture, repository)
        let other = try ResticLockFile.ofThisProcess(exclusive: false).sealed(with: key)
        let otherPath = fixture.repositoryPath + "/locks/" + ResticMasterKey.storageID(of: other)
        #expect(FileManager.default.createFile(atPath: otherPath, contents: Data(other)))

        #expect(try await repository.forgetWithoutRestic(ids: [id]) == nil)
        #expect(try await repository.snapshots().map(\.id) == [id])
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.repositoryPath + "/locks") == [
            ResticMasterKey.storageID(of: other)
        ])
        try FileManager.default.removeItem(atPath: otherPath)
        #expect(try await repository.forgetWithoutRestic(ids: [id])?.removed == [id])
    }

    @Test func aRepositoryMadeAgainAtTheSamePlaceIsOpenedAgain() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let (repository, _) = try await fixture.initializedRepository()
        #expect(await repository.prepareForgetWithoutRestic())
        let first = try await repository.backup(path: try fixture.source("data")).snapshotID
        #expect(try await repository.forgetWithoutRestic(ids: [first])?.removed == [first])

        // Same place, same password, another master key: the cached key no longer opens it.
        try FileManager.default.removeItem(atPath: fixture.repositoryPath)
        try await repository.initialize()
        let second = try await repository.backup(path: try fixture.source("again")).snapshotID
        #expect(try await repository.forgetWithoutRestic(ids: [second])?.removed == [second])
        #expect(try await repository.snapshots().isEmpty)
        #expect(try await repository.check(readData: false) == .ok)
    }

    @Test func notForThisProcessWhereItCannot() async throws {
        let fixture = try LocalFixture()
        defer { fixture.remove() }
        let id = String(repeating: "cd", count: 32)
        // A wrong password opens no key file: restic is left to say so.
        try await fixture.repository().initialize()
        let wrong = try fixture.repository(password: "not the password")
        #expect(try await wrong.forgetWithoutRestic(ids: [id]) == nil)
        #expect(await !wrong.prepareForgetWithoutRestic())
        // Id prefixes need restic's resolving.
        #expect(try await fixture.repository().forgetWithoutRestic(ids: ["cdcdcdcd"]) == nil)
        // Remote backends go through restic.
        let rest = try ResticRepository(
            backend: .rest(url: "http://127.0.0.1:\(try closedLoopbackPort())/"), password: "p",
            cacheDirectory: fixture.cachePath, executable: try toolPath("restic"))
        #expect(try await rest.forgetWithoutRestic(ids: [id]) == nil)
    }
}
