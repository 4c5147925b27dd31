import ChildProcesses
import Foundation
import KubeTestSupport
import Testing

@testable import Restic

@Suite struct CancellationAndLockTests {
    /// Random data first (restic writes packs of it, which shows the backup is under way), then a
    /// sparse file: gigabytes for restic to read and hash, no disk used.
    private func slowSource(_ fixture: LocalFixture) throws -> String {
        let root = fixture.directory.appending("huge")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try randomData(24 << 20).write(to: URL(fileURLWithPath: root + "/a-random.bin"))
        let file = root + "/sparse.img"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.truncate(atOffset: 64 << 30)
        try handle.close()
        return root
    }

    /// Runs a backup of `source`, waits until restic holds its lock, runs `whileLocked`, then
    /// cancels the backup and returns how it ended.
    private func cancelRunningBackup(
        _ repository: ResticRepository, source: String, fixture: LocalFixture,
        whileLocked: () async throws -> Void = {}
    ) async throws -> Result<BackupResult, any Error> {
        try await cancelRunningBackup(repository, source: source) {
            (!fixture.lockFiles().isEmpty && !fixture.packFiles().isEmpty,
             "locks: \(fixture.lockFiles()), packs: \(fixture.packFiles().count)")
        } whileLocked: {
            try await whileLocked()
        }
    }

    /// The same, on any backend: `lockedAndWriting` says when restic holds its lock and writes data.
    private func cancelRunningBackup(
        _ repository: ResticRepository, source: String,
        lockedAndWriting: @escaping () async throws -> (Bool, String),
        whileLocked: () async throws -> Void = {}
    ) async throws -> Result<BackupResult, any Error> {
        try await withThrowingTaskGroup(of: Result<BackupResult, any Error>.self) { group in
            group.addTask {
                do { return .success(try await repository.backup(path: source)) } catch { return .failure(error) }
            }
            // Once data packs appear, restic is past taking (and registering) its lock: a signal
            // that lands while restic is still creating its lock file can leak the lock.
            try await waitUntil("restic backup to hold its lock and write data", timeout: .seconds(60)) {
                try await lockedAndWriting()
            }
            try await whileLocked()
            group.cancelAll()
            return try await group.next() ?? .failure(TestFailure("no result"))
        }
    }

    /// The walk behind a repository's size and unfinished files: every regular file, by its
    /// path under the root, with names of every length (up to 255 bytes, where a directory
    /// record is longest), through nested directories; symbolic links are not followed.
    @Test func visitingFilesFindsEveryRegularFileByItsPath() throws {
        let root = try TemporaryDirectory(prefix: "visit-files")
        defer { root.remove() }
        var expected: [String: Int] = [:]
        let nested = "data/" + String(repeating: "d", count: 200)
        try FileManager.default.createDirectory(atPath: root.path + "/" + nested, withIntermediateDirectories: true)
        for length in [1, 2, 7, 8, 9, 15, 16, 17, 64, 100, 128, 200, 254, 255] {
            for (index, directory) in ["", "data", nested].enumerated() {
                let name = String(repeating: Character(UnicodeScalar(UInt8(97 + (length + index) % 26))), count: length)
                let relative = directory.isEmpty ? name : directory + "/" + name
                let bytes = length + index
                try Data(repeating: 1, count: bytes).write(to: URL(fileURLWithPath: root.path + "/" + relative))
                expected[relative] = bytes
            }
        }
        try FileManager.default.createSymbolicLink(atPath: root.path + "/link", withDestinationPath: root.path + "/data")
        var seen: [String: Int] = [:]
        LocalRepositoryFiles.visitFiles(under: root.path) { relative, info in
            #expect(seen[relative] == nil, "visited twice: \(relative)")
            seen[relative] = Int(info.st_size)
        }
        #expect(seen == expected)
    }

    @Test func cancellingABackupStopsResticWhichRemovesItsLock() async throws {
        let fixture = try LocalFixture(prefix: "restic-cancel")
        defer { fixture.remove() }
        let registry = ResticProcessRegistry()
        let repository = try fixture.repository(registry: registry)
        try await repository.initialize()
        let source = try slowSource(fixture)

        let outcome = try await cancelRunningBackup(repository, source: source, fixture: fixture) {
            #expect(registry.runningPIDs.count == 1, "the running backup is registered")
        }
        guard case .failure(let error) = outcome, error is CancellationError else {
            Issue.record("expected CancellationError, got \(outcome)")
            return
        }
        // The call returns only after restic is gone, and SIGINT let restic remove its own lock.
        #expect(processes(mentioning: fixture.repositoryPath).isEmpty)
        #expect(registry.runningPIDs.isEmpty)
        #expect(try await repository.locks().isEmpty)
        #expect(try await repository.removeStaleLocks() == .noLocks)
        #expect(try await repository.snapshots().isEmpty)
    }

    /// A restic killed while it writes a pack leaves the pack's temporary file in `data/`;
    /// neither prune nor check removes it. It is listed once nobody wrote it for the given
    /// time, and removed without harm to the repository.
    @Test func aKilledResticLeavesAnUnfinishedFileThatIsListedAndRemoved() async throws {
        let fixture = try LocalFixture(prefix: "restic-unfinished")
        defer { fixture.remove() }
        let repository = try fixture.repository()
        try await repository.initialize()
        let source = fixture.directory.appending("random")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try randomData(96 << 20).write(to: URL(fileURLWithPath: source + "/data.bin"))
        let restic = try ChildProcess(
            try toolPath("restic"), ["--no-cache", "-r", fixture.repositoryPath, "backup", source],
            environment: ["RESTIC_PASSWORD": fixture.password, "PATH": "/usr/bin:/bin", "HOME": fixture.directory.path],
            logPath: fixture.directory.appending("restic.log"))
        // A pack is written under a temporary name and renamed when whole: stop restic while one
        // is being written (still there once restic is stopped), then kill it.
        try await waitUntil("restic stopped while it writes a pack", timeout: .seconds(60), poll: .milliseconds(1)) {
            guard fixture.packFiles().contains(where: { $0.contains("-tmp-") }) else {
                return (false, "packs: \(fixture.packFiles()); restic running: \(restic.isRunning)")
            }
            restic.process.signal(SIGSTOP)
            // Every thread of restic stopped (state T) before the look that decides.
            let tasks = "/proc/\(restic.pid)/task"
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            while clock.now < deadline {
                let states = ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).map { task in
                    let stat = (try? String(contentsOfFile: "\(tasks)/\(task)/stat", encoding: .utf8)) ?? ""
                    return stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? "?"
                }
                if !states.isEmpty && states.allSatisfy({ $0 == "T" || $0 == "t" }) { break }
                await Task.yield()
            }
            if fixture.packFiles().contains(where: { $0.contains("-tmp-") }) { return (true, "") }
            restic.process.signal(SIGCONT)  // renamed meanwhile: wait for the next pack
            return (false, "a pack was renamed before restic stopped")
        }
        await restic.stop(signal: SIGKILL)
        let leftover = try #require(fixture.packFiles().first { $0.contains("-tmp-") })
        let relative = String(leftover.dropFirst(fixture.repositoryPath.count + 1))

        // Just written: not listed yet. Untouched for two hours: listed, with its size.
        #expect(await repository.unfinishedFiles(idle: .seconds(3600)).isEmpty)
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: leftover)
        let listed = await repository.unfinishedFiles(idle: .seconds(3600))
        let size = try #require(try FileManager.default.attributesOfItem(atPath: leftover)[.size] as? Int)
        #expect(listed.map(\.path) == [relative] && listed.map(\.bytes) == [Int64(size)], "\(listed)")

        // Only unfinished files are removed; the repository is whole afterwards.
        #expect(throws: ResticError.self) { try repository.removeUnfinishedFiles(["config"]) }
        #expect(throws: ResticError.self) { try repository.removeUnfinishedFiles(["../x-tmp-1"]) }
        try repository.removeUnfinishedFiles(listed.map(\.path))
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(FileManager.default.fileExists(atPath: fixture.repositoryPath + "/config"))
        _ = try await repository.removeStaleLocks()  // the killed backup's lock
        #expect(try await repository.check(readData: true) == .ok)
    }

    @Test func aKilledResticLeavesAStaleLockThatIsDetectedAndRemoved() async throws {
        let fixture = try LocalFixture(prefix: "restic-stale")
        defer { fixture.remove() }
        // SIGTERM ends restic 0.14 without its cleanup, like a crash: the lock stays.
        let repository = try fixture.repository(
            cancellation: CancellationPolicy(signal: SIGTERM, gracePeriod: .seconds(5)))
        try await repository.initialize()
        let source = try slowSource(fixture)

        let outcome = try await cancelRunningBackup(repository, source: source, fixture: fixture) {
            // While the backup runs, its lock is live and is kept.
            let locks = try await repository.locks()
            #expect(locks.count == 1)
            #expect(locks.allSatisfy { !repository.isStale($0) })
            guard case .kept(let live, let stale) = try await repository.removeStaleLocks() else {
                Issue.record("a live lock must be kept")
                return
            }
            #expect(live.count == 1 && stale.isEmpty)
        }
        guard case .failure(let error) = outcome, error is CancellationError else {
            Issue.record("expected CancellationError, got \(outcome)")
            return
        }
        #expect(processes(mentioning: fixture.repositoryPath).isEmpty)

        let locks = try await repository.locks()
        #expect(locks.count == 1)
        let lock = try #require(locks.first)
        #expect(repository.isStale(lock))
        #expect(!lock.exclusive)
        #expect(lock.hostname == ResticLockFile.localHostname)

        // The stale lock blocks an exclusive operation until it is removed.
        await #expect {
            try await repository.prune()
        } throws: { error in
            (error as? ResticError)?.kind == .locked
        }
        // A pid we say is ours keeps the lock.
        guard case .kept = try await repository.removeStaleLocks(excludingPIDs: [lock.pid]) else {
            Issue.record("an excluded pid must keep its lock")
            return
        }
        #expect(try await repository.removeStaleLocks() == .removed([lock]))
        #expect(try await repository.locks().isEmpty)
        let noRestic = try fixture.repository(executable: "/bin/false")
        #expect(try await noRestic.locks().isEmpty, "an empty locks/ is read without restic")
        try await repository.prune()
    }
    /// On S3 the lock files are listed from the bucket (no restic run), and a stale one is found
    /// and removed there as on a local disk.
    @Test func anS3LockIsListedFromTheBucketAndAStaleOneRemoved() async throws {
        let fixture = try LocalFixture(prefix: "restic-s3-lock")
        defer { fixture.remove() }
        let (moto, backend) = try await startMotoRepository(fixture, prefix: "locks/app")
        defer { moto.child.kill9() }
        let repository = try ResticRepository(
            backend: backend, password: fixture.password, cacheDirectory: fixture.cachePath,
            executable: try toolPath("restic"), cancellation: CancellationPolicy(signal: SIGTERM, gracePeriod: .seconds(5)))
        try await repository.initialize()
        // Without locks there is nothing for restic to read: a restic that always fails is not run.
        let noRestic = try ResticRepository(
            backend: backend, password: fixture.password, cacheDirectory: fixture.cachePath, executable: "/bin/false")
        #expect(try await noRestic.locks().isEmpty)
        let source = try slowSource(fixture)

        let outcome = try await cancelRunningBackup(repository, source: source) {
            let locks = try await repository.locks()
            let packs = try await repository.fileNames(in: "data") ?? []
            return (locks.count == 1 && !packs.isEmpty, "locks: \(locks), packs: \(packs.count)")
        } whileLocked: {
            let locks = try await repository.locks()
            #expect(locks.count == 1 && locks.allSatisfy { !repository.isStale($0) }, "\(locks)")
        }
        guard case .failure(let error) = outcome, error is CancellationError else {
            Issue.record("expected CancellationError, got \(outcome)")
            return
        }
        let locks = try await repository.locks()
        #expect(locks.count == 1 && locks.allSatisfy { repository.isStale($0) }, "\(locks)")
        #expect(try await repository.removeStaleLocks() == .removed(locks))
        #expect(try await repository.locks().isEmpty)
        let listed = try await resticCLI(
            ["list", "locks"], repository: repository.location, password: fixture.password,
            extraEnvironment: ["AWS_ACCESS_KEY_ID": "kubesnap-test", "AWS_SECRET_ACCESS_KEY": "kubesnap-test-secret"])
        #expect(listed.succeeded && listed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(listed)")
    }

    /// pids wrap around: a lock whose pid now belongs to a process that started after the lock
    /// was made is stale (its maker is gone), while a process that started before it may hold it.
    @Test func aLockWhosePidWasReusedByALaterProcessIsStale() async throws {
        let fixture = try LocalFixture(prefix: "restic-pid-reuse")
        defer { fixture.remove() }
        let repository = try fixture.repository()
        let later = try SpawnedProcess(executable: "/bin/sleep", arguments: ["30"])
        defer {
            later.signal(SIGKILL)
            _ = later.waitUntilExit()
        }
        let started = try #require(ResticLock.processStartTime(later.pid))
        #expect(abs(started.timeIntervalSinceNow) < 60, "start time read from /proc: \(started)")
        func lock(madeAt time: Date) -> ResticLock {
            ResticLock(
                id: String(repeating: "a", count: 64), pid: later.pid, hostname: ResticLockFile.localHostname,
                username: nil, time: time, exclusive: false)
        }
        #expect(repository.isStale(lock(madeAt: started.addingTimeInterval(-3600))), "made an hour before its pid's process started")
        #expect(!repository.isStale(lock(madeAt: started.addingTimeInterval(5))), "made by the process that has the pid")
    }
}
