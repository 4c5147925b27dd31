import Foundation
import KubeJSON
import KubeTestSupport

/// Runs the real restic against a local repository with the benchmark password.
struct ResticRunner: Sendable {
    let restic: String
    let repository: String
    var cacheDirectory: String?

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["RESTIC_PASSWORD"] = benchPassword
        return environment
    }

    @discardableResult
    func run(_ arguments: [String], timeout: Duration = .seconds(3600)) async throws -> CommandResult {
        let cache = cacheDirectory.map { ["--cache-dir", $0] } ?? ["--no-cache"]
        let result = try await runCommand(
            restic, ["--repo", repository] + cache + arguments, environment: environment, timeout: timeout)
        guard result.succeeded else {
            throw BenchError(
                "restic \(arguments.prefix(3).joined(separator: " ")) failed (exit \(result.status)): \(result.stderr.suffix(500))"
            )
        }
        return result
    }

    /// Snapshot ids with their tags.
    func snapshots() async throws -> [(id: String, tags: [String])] {
        let result = try await run(["--no-lock", "snapshots", "--json"])
        let value = try JSONValueParsing.parse(result.stdout)
        return (value.arrayValue ?? []).compactMap { item in
            guard let id = item["id"].stringValue else { return nil }
            return (id, (item["tags"].arrayValue ?? []).compactMap(\.stringValue))
        }
    }
}

enum JSONValueParsing {
    static func parse(_ text: String) throws -> JSONValue {
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || text.hasPrefix("null") {
            return .array([])
        }
        return try JSONValue.parse(text)
    }
}

/// A restic repository holding `count` tiny snapshots, made once with parallel `restic backup`
/// runs and kept under the cache directory (`<cache>/repository-<count>`), then copied for each
/// run (copying a directory of small files is much faster than making the snapshots again).
enum SnapshotRepositoryFixture {
    /// The cached repository's path and its snapshot ids (made now if it is not cached yet).
    static func prepare(count: Int, cacheRoot: String, restic: String) async throws -> (
        path: String, ids: [String]
    ) {
        let base = "\(cacheRoot)/repository-\(count)"
        let repository = base + "/repo"
        let idsFile = base + "/ids.txt"
        if let text = try? String(contentsOfFile: idsFile, encoding: .utf8) {
            let ids = text.split(separator: "\n").map(String.init)
            if ids.count == count, FileManager.default.fileExists(atPath: repository + "/config") {
                return (repository, ids)
            }
        }
        progress("making a restic repository with \(count) snapshots under \(base) (cached for later runs)")
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base + "/source", withIntermediateDirectories: true)
        try "kubesnap-bench adopt fixture\n".write(
            toFile: base + "/source/data.txt", atomically: true, encoding: .utf8)
        let runner = ResticRunner(restic: restic, repository: repository, cacheDirectory: base + "/cache")
        try await runner.run(["init", "-q"])
        let start = ContinuousClock.now
        let made = Locked(0)
        try await concurrentForEach(Array(0..<count), width: 6) { index in
            try await runner.run([
                "backup", "-q", "--host", "kubesnap-bench", "--tag", "bench-\(index)", base + "/source",
            ])
            let done = made.withLock {
                $0 += 1
                return $0
            }
            if done % 100 == 0 {
                progress(
                    "  \(done)/\(count) restic snapshots (\(format(seconds(since: start), digits: 0)) s)")
            }
        }
        let ids = try await runner.snapshots().map(\.id)
        guard ids.count == count else {
            throw BenchError("the fixture repository holds \(ids.count) snapshots, expected \(count)")
        }
        try? FileManager.default.removeItem(atPath: base + "/cache")
        try ids.joined(separator: "\n").write(toFile: idsFile, atomically: true, encoding: .utf8)
        return (repository, ids)
    }

    /// Copies the cached repository to `destination`.
    static func copy(_ repository: String, to destination: String) async throws {
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let result = try await runCommand("/bin/cp", ["-a", repository, destination], timeout: .seconds(600))
        guard result.succeeded else {
            throw BenchError("cp -a \(repository) \(destination): \(result.stderr)")
        }
    }
}

