import ChildProcesses
import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

/// A real restic `backup --stdin` on the repository: it takes restic's lock and then waits for
/// its standard input (a pipe nobody writes), so it holds the lock exactly as long as the test
/// wants: SIGKILL leaves the lock behind, SIGINT makes restic remove it.
final class LockHoldingRestic: Sendable {
    /// Its standard input is a pipe whose write end this object keeps open and never writes.
    let process: SpawnedProcess

    init(repository: String, password: String, cacheDirectory: String, home: String) throws {
        process = try SpawnedProcess(
            executable: "/usr/bin/restic",
            arguments: [
                "-r", repository, "--cache-dir", cacheDirectory, "backup", "--stdin", "--stdin-filename", "held",
                "--quiet",
            ],
            environment: ["RESTIC_PASSWORD": password, "PATH": "/usr/bin:/bin", "HOME": home],
            standardInput: .pipe)
    }

    var pid: Int32 { process.pid }

    /// SIGKILL: restic cannot remove its lock, which stays behind, stale.
    func kill9() {
        guard process.isRunning else { return }
        _ = process.signal(SIGKILL)
        _ = process.waitUntilExit()
    }

    /// SIGINT: restic cleans up (removes its own lock) and exits.
    func interrupt() {
        guard process.isRunning else { return }
        _ = process.signal(SIGINT)
        _ = process.waitUntilExit()
    }
}

/// Lock files of a local repository.
extension LockHoldingRestic {
    /// Starts a restic that takes the repository's lock, SIGKILLs it once the lock file exists,
    /// and waits until the process is gone: the lock it leaves is stale. Returns its file name
    /// and the dead restic's pid.
    static func leaveStaleLock(repository: String, password: String, cacheDirectory: String, home: String) async throws
        -> (file: String, pid: Int32)
    {
        let killed = try LockHoldingRestic(repository: repository, password: password, cacheDirectory: cacheDirectory, home: home)
        defer { killed.kill9() }
        let staleLock: String = try await waitFor("the killed restic's lock file") {
            let locks = lockFiles(repository)
            return locks.count == 1 ? .done(locks[0]) : .notYet("locks: \(locks)")
        }
        killed.kill9()
        try await waitUntil("the killed restic (pid \(killed.pid)) to be gone, not a zombie") {
            (kill(killed.pid, 0) != 0 && errno == ESRCH, "pid \(killed.pid) still answers")
        }
        return (staleLock, killed.pid)
    }
}

/// The repository's lock files. restic 0.14 writes a lock as `<id>-tmp-<n>` and renames it, so a
/// restic killed in between leaves a file that is no lock (restic and kubesnap skip it): only
/// complete ones (a 64-hex-digit name) count.
func lockFiles(_ repository: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: repository + "/locks")) ?? [])
        .filter { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }
        .sorted()
}

@Suite("Stale restic locks, end to end")
struct StaleLockTests {
    @Test("a lock left by a killed restic is reported as StaleLock, kept while a live lock is held, then removed; a backup then succeeds")
    func staleLockIsReportedAndRemoved() async throws {
        // The Repository re-reads its backend (locks included) every second.
        try await withOperator(configure: { $0.repositoryRefreshInterval = .seconds(1) }) { h in
            let ns = "default"
            let password = "lock-pass"
            let repositoryPath = h.repositoryRoot + "/locked"
            try await h.readyRepository(ns, "repo", path: "locked", password: password)
            let cache = h.root.appending("lock-test-cache")

            // A restic that dies holding its lock.
            let (staleLock, killedPID) = try await LockHoldingRestic.leaveStaleLock(
                repository: repositoryPath, password: password, cacheDirectory: cache, home: h.root.path)
            #expect(lockFiles(repositoryPath) == [staleLock], "SIGKILL leaves the lock behind")

            // A live restic holding a lock of its own: the stale lock is reported, not removed.
            let live = try LockHoldingRestic(repository: repositoryPath, password: password, cacheDirectory: cache, home: h.root.path)
            defer { live.kill9() }
            try await waitUntil("the live restic's lock file") {
                let locks = lockFiles(repositoryPath)
                return (locks.count == 2, "locks: \(locks)")
            }
            let found = try await h.waitForStatus(Harness.repositories, ns, "repo", "StaleLock=True") { object in
                Conditions.get(object["status"], type: "StaleLock")?.status == "True"
            }
            let foundCondition = try #require(Conditions.get(found["status"], type: "StaleLock"))
            #expect(foundCondition.reason == "StaleLockFound")
            #expect(foundCondition.message.contains("pid \(killedPID)"), "\(foundCondition.message)")
            #expect(lockFiles(repositoryPath).contains(staleLock), "kept while a live lock is held")
            #expect(live.process.isRunning, "the live restic was not disturbed")

            // The live one ends (removing its own lock); the next look removes the stale lock.
            live.interrupt()
            #expect(lockFiles(repositoryPath) == [staleLock], "the live restic removed its own lock")
            let removed = try await h.waitForStatus(Harness.repositories, ns, "repo", "StaleLock=False, StaleLockRemoved") { object in
                let condition = Conditions.get(object["status"], type: "StaleLock")
                return condition?.status == "False" && condition?.reason == "StaleLockRemoved"
            }
            #expect(Conditions.get(removed["status"], type: "StaleLock")?.message.contains(String(staleLock.prefix(8))) == true)
            #expect(lockFiles(repositoryPath).isEmpty, "locks: \(lockFiles(repositoryPath))")
            try await waitUntil("a StaleLockRemoved Event") {
                let reasons = try await h.eventReasons(ns, about: "repo")
                return (reasons.contains("StaleLockRemoved"), "\(reasons)")
            }

            // The repository works: a backup succeeds.
            let source = try h.makeSource("after-lock", files: ["f": "after"])
            try await h.createSnapshot(ns, "after", repository: "repo", source: source)
            let ready = try await h.waitForPhase(Harness.snapshots, ns, "after", "Ready")
            let id = try #require(ready["status"]["snapshotID"].stringValue)
            let listed = try await h.resticSnapshots(repository: repositoryPath, password: password)
            #expect(listed.contains { $0["id"].stringValue == id })
        }
    }

    @Test("a stale lock is left alone while a kubesnap backup holds the repository, and removed once it ends")
    func staleLockKeptWhileKubesnapOperates() async throws {
        let port = try freeTCPPort()
        try await withWrappedRestic(configure: {
            $0.repositoryRefreshInterval = .seconds(1)
            $0.serveHealthAndMetrics(on: port)
        }) { h, wrapper in
            let ns = "default"
            let password = "hold-pass"
            let repositoryPath = h.repositoryRoot + "/held"
            try await h.readyRepository(ns, "repo", path: "held", password: password)

            // A kubesnap backup that holds the repository until released.
            let source = try h.makeSource("hold-src", files: ["f": "held"])
            try await h.createSnapshot(ns, "held", repository: "repo", source: source)
            try await h.waitForPhase(Harness.snapshots, ns, "held", "Running")
            try await waitUntil("the operator's backup to reach the (holding) restic wrapper") {
                (wrapper.runs().contains { $0.contains(" backup ") }, "\(wrapper.runs())")
            }

            // Then a stale lock.
            let (staleLock, _) = try await LockHoldingRestic.leaveStaleLock(
                repository: repositoryPath, password: password, cacheDirectory: h.root.appending("lock-test-cache"),
                home: h.root.path)

            // Several Repository reconciles (one a second) while the backup holds it: the lock stays.
            let before = try await reconcileCount(metricsPort: port, controller: "repository")
            try await waitUntil("three Repository reconciles while the backup holds the repository") {
                let count = try await reconcileCount(metricsPort: port, controller: "repository")
                return (count >= before + 3, "reconciles: \(before) before, \(count) now")
            }
            #expect(lockFiles(repositoryPath) == [staleLock], "not removed while kubesnap's backup holds the repository")
            let stillRunning = try await h.get(Harness.snapshots, ns, "held")
            #expect(stillRunning?["status"]["phase"].stringValue == "Running", "\(Harness.describe(stillRunning))")

            // The backup ends; then the stale lock goes.
            try wrapper.release()
            try await h.waitForPhase(Harness.snapshots, ns, "held", "Ready")
            try await waitUntil("StaleLock=False, StaleLockRemoved", timeout: .seconds(60)) {
                let object = try await h.get(Harness.repositories, ns, "repo")
                let condition = object.flatMap { Conditions.get($0["status"], type: "StaleLock") }
                return (
                    condition?.status == "False" && condition?.reason == "StaleLockRemoved",
                    "\(Harness.describe(object)); lock files \(lockFiles(repositoryPath)); last restic runs \(wrapper.runs().suffix(6))"
                )
            }
            // (Only the stale one: the verification or a refresh may hold a live lock of its own now.)
            #expect(!lockFiles(repositoryPath).contains(staleLock), "locks: \(lockFiles(repositoryPath))")
        }
    }
    /// A deletion that meets a stale lock (a restic killed during a backup left it, as a killed
    /// operator's does) clears it itself, holding the repository exclusively, and forgets: it is
    /// never blocked, and does not wait for the Repository's refresh (issue 20).
    @Test("a stale lock left by a restic killed during a backup is cleared by the deletion that meets it")
    func staleLockBlockingADeletionIsClearedPromptly() async throws {
        try await withWrappedRestic(configure: {
            $0.repositoryRefreshInterval = .seconds(3600)
        }) { h, wrapper in
            let ns = "default"
            let password = "delete-lock-pass"
            let repositoryPath = h.repositoryRoot + "/deleting"
            try await h.readyRepository(ns, "repo", path: "deleting", password: password)
            let source = try h.makeSource("delete-lock", files: ["f": "data"])
            try await h.createSnapshot(ns, "doomed", repository: "repo", source: source)
            let ready = try await h.waitForStatus(Harness.snapshots, ns, "doomed", "Ready and verified") {
                $0["status"]["phase"] == "Ready" && $0["status"]["verificationStatus"] == "OK"
            }
            let id = try #require(ready["status"]["snapshotID"].stringValue)
            // The Repository refresh that follows the verification (snapshots after dump) is done:
            // from here only the deletion can ask for another.
            try await wrapper.waitForRepositoryRefreshAfterVerification()

            let (staleLock, _) = try await LockHoldingRestic.leaveStaleLock(
                repository: repositoryPath, password: password, cacheDirectory: h.root.appending("lock-test-cache"),
                home: h.root.path)
            try await h.client.delete(Harness.snapshots, namespace: ns, name: "doomed")
            try await h.waitForGone(Harness.snapshots, ns, "doomed", timeout: .seconds(90))
            #expect(!lockFiles(repositoryPath).contains(staleLock), "the stale lock is still there")
            // The deletion cleared the lock itself: it was never blocked (a RepositoryLocked
            // Warning, the deletion retried with backoff until a refresh removed the lock).
            // (Events are written in the order recorded: any such Warning precedes DataDeleted.)
            let reasons = try await waitFor("the DataDeleted Event") { () -> WaitProbe<[String]> in
                let reasons = try await h.eventReasons(ns, about: "doomed")
                return reasons.contains("DataDeleted") ? .done(reasons) : .notYet("\(reasons)")
            }
            #expect(!reasons.contains("RepositoryLocked"), "the deletion was blocked by the stale lock: \(reasons)")
            let listed = try await h.resticSnapshots(repository: repositoryPath, password: password)
            #expect(!listed.contains { $0["id"].stringValue == id }, "the deleted Snapshot's data is still listed")
        }
    }
}
