import Foundation
import KubeJSON
import Logging

/// One restic repository, driven through the restic CLI (0.14).
///
/// This type runs restic. What is read and written in restic's repository format without
/// restic (master key, lock files and their staleness, forget without restic, a local
/// repository's files) is in `RepositoryFormat/`; backend listings (a directory, a bucket
/// through `S3ObjectStore`) are in `ResticRepository+Files.swift`.
///
/// - The password reaches restic only through the child's environment (`RESTIC_PASSWORD`), S3
///   credentials likewise (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`);
///   the child gets a minimal environment (PATH, HOME, TMPDIR) so a stray `RESTIC_*` variable of
///   this process cannot redirect it. Neither ever reaches argv, a log line or an error.
/// - Commands on a remote backend (s3, rest) use a private `--cache-dir`; `verify` uses
///   `--no-cache` so that every byte, tree blobs included, comes from the backend. Local
///   repositories run with `--no-cache`: their files are as near as a cache's, and copying
///   them costs (a first `snapshots` of 1,000 snapshots in 10 local repositories at once took
///   2.7 s with a cold cache, 1.0 s without) and doubles their metadata on disk.
/// - `--no-lock` is used only for commands that read (`cat config`, `snapshots`, `stats`,
///   `list locks`, `cat lock`); everything that writes takes restic's lock.
/// - Every operation is cancellable: cancelling the task stops restic (see `CancellationPolicy`)
///   and the call throws `CancellationError`.
public struct ResticRepository: Sendable, CustomStringConvertible {
    public let backend: ResticBackend
    /// The `-r` argument and `status.backendURL`, e.g. `local:/srv/repos/demo/app`.
    public let location: String
    let password: SecretString
    /// Absolute path of the restic executable.
    public let executable: String
    public let cacheDirectory: String
    public var cancellation: CancellationPolicy
    /// Registry of our running restic children (see `removeStaleLocks`); share one per process.
    public var registry: ResticProcessRegistry?
    public var logger: Logger

    /// - Parameters:
    ///   - executable: "restic" (looked up in PATH) or a path.
    ///   - cacheDirectory: restic's cache for this repository (created by restic when needed).
    public init(
        backend: ResticBackend,
        password: String,
        cacheDirectory: String,
        executable: String = "restic",
        cancellation: CancellationPolicy = CancellationPolicy(),
        registry: ResticProcessRegistry? = nil,
        logger: Logger = Logger(label: "kubesnap.restic")
    ) throws(ResticError) {
        guard !password.isEmpty else { throw .invalidArgument("the repository password is empty") }
        self.backend = backend
        self.location = try backend.location()
        self.password = SecretString(password)
        self.executable = try Self.resolveExecutable(executable)
        self.cacheDirectory = cacheDirectory
        self.cancellation = cancellation
        self.registry = registry
        self.logger = logger
    }

    public var description: String { "ResticRepository(\(location))" }

    // MARK: Opening and creating

    /// Opens the repository and says what happened; an open repository comes with its snapshot
    /// listing and stored size. The opening is the listing (`restic snapshots`, by default, or
    /// `list`, which must open the repository the same way: a caller can hand in a listing that
    /// it shares with others). The size is read from the backend's file listing without restic
    /// (local, s3; `restic stats` for rest): every restic run pays for opening the repository
    /// (restic's scrypt key derivation, 0.15 to 0.5 s of CPU depending on the key's parameters),
    /// and `stats --mode raw-data` also reads every snapshot's trees.
    /// Throws only for failures that are none of the `RepositoryProbe` cases.
    /// With `readSize` false the size is not read (`storedBytes` is nil): a bucket listing of a
    /// large repository is a hundred requests.
    public func probe(
        list: (@Sendable () async throws -> [SnapshotInfo])? = nil, readSize: Bool = true
    ) async throws -> RepositoryProbe {
        do {
            let snapshots: [SnapshotInfo]
            if let list { snapshots = try await list() } else { snapshots = try await self.snapshots() }
            var size: Int64?
            if readSize {
                if let stored = try await storedSize() { size = stored } else { size = try await stats().totalSizeBytes }
            }
            return .ready(RepositoryContents(snapshots: snapshots, storedBytes: size))
        } catch let error as ResticError {
            guard case .commandFailed(let failure) = error else { throw error }
            switch failure.kind {
            case .repositoryNotFound: return .notInitialized
            case .wrongPassword: return .wrongPassword(failure.stderr)
            case .backendUnreachable: return .unreachable(failure.stderr)
            case .accessDenied: return .accessDenied(failure.stderr)
            default: throw error
            }
        }
    }

    /// `restic init`. A local directory that exists, is not empty and is not a repository is
    /// refused (never write a repository over somebody's files).
    public func initialize() async throws {
        if case .local(let path) = backend {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            if !entries.isEmpty && !LocalRepositoryFiles(root: path).holdsRepository { throw ResticError.locationNotEmpty(path) }
        }
        _ = try await run(["init"])
    }

    /// restic's repository id: the `id` in the repository's `config` (`restic cat config`, which
    /// prints it as JSON). It is made by `restic init` and never changes, so a location that holds
    /// another id holds another repository. (restic 0.14's `init --json` prints no id.)
    public func repositoryID() async throws -> String {
        let result = try await run(["cat", "config"], noLock: true)
        return try Self.repositoryID(fromConfig: result.stdout)
    }

    /// The `id` of a `restic cat config` output.
    static func repositoryID(fromConfig data: Data) throws(ResticError) -> String {
        struct Config: Decodable { var id: String }
        guard let config = try? JSONDecoder().decode(Config.self, from: data), isFullID(config.id) else {
            throw .unexpectedOutput(
                command: "cat config", detail: "no repository id in: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return config.id
    }

    /// Creates the repository if the location holds none. Returns true if it created one.
    @discardableResult
    public func initializeIfNeeded() async throws -> Bool {
        do {
            _ = try await run(["cat", "config"], noLock: true)
            return false
        } catch let error as ResticError where error.kind == .repositoryNotFound {
            do {
                try await initialize()
                return true
            } catch let error as ResticError where error.kind == .alreadyInitialized {
                return false  // created concurrently by someone else
            }
        }
    }

    // MARK: Snapshots

    /// `restic backup --json` of one absolute path. Tags must not contain ',' (restic splits on it).
    public func backup(path: String, tags: [String] = [], host: String? = nil) async throws -> BackupResult {
        guard path.hasPrefix("/") else { throw ResticError.invalidArgument("backup path \"\(path)\" must be absolute") }
        var arguments = ["backup", "--json"]
        for tag in tags {
            try Self.validateTag(tag)
            arguments.append("--tag=\(tag)")
        }
        if let host {
            guard !host.isEmpty, !host.contains(where: \.isNewline) else {
                throw ResticError.invalidArgument("backup host \"\(host)\" must be a non-empty single line")
            }
            arguments.append("--host=\(host)")
        }
        arguments += ["--", path]
        let started = Date()
        let lines = Locked(JSONLineCollector())
        let result = try await run(arguments, allowedExitCodes: [0, 3], stdout: .stream { chunk in lines.withLock { $0.append(chunk) } })
        let summaryLine = lines.withLock { $0.finish() }.last { $0.contains("\"message_type\":\"summary\"") }
        guard let summaryLine,
            let summary = try? JSONDecoder().decode(BackupSummaryJSON.self, from: Data(summaryLine.utf8)),
            let shortID = summary.snapshot_id
        else {
            throw ResticError.unexpectedOutput(command: "backup", detail: "no summary with a snapshot id in restic's output")
        }
        let fullID: String
        if let listed = try? await snapshotFileNames(prefix: shortID), listed.count == 1 {
            fullID = listed[0]
        } else if let snapshot = try await snapshot(id: shortID) {
            fullID = snapshot.id
        } else {
            throw ResticError.unexpectedOutput(command: "backup", detail: "snapshot \(shortID) reported by backup is not listed")
        }
        let warnings = result.exitCode == 3 ? BackupResult.unreadableItems(stderr: result.stderr) : []
        let fileCount =
            summary.total_files_processed
            ?? ((summary.files_new ?? 0) + (summary.files_changed ?? 0) + (summary.files_unmodified ?? 0))
        return BackupResult(
            snapshotID: fullID, time: started, bytesAdded: summary.data_added ?? 0,
            totalBytesProcessed: summary.total_bytes_processed ?? 0, fileCount: fileCount,
            durationSeconds: summary.total_duration ?? 0, warnings: warnings)
    }

    /// Snapshots carrying every one of `tags` (all snapshots for no tags), oldest first.
    public func snapshots(tags: [String] = [], host: String? = nil) async throws -> [SnapshotInfo] {
        var arguments = ["snapshots", "--json"]
        if !tags.isEmpty {
            for tag in tags { try Self.validateTag(tag) }
            arguments.append("--tag=\(tags.joined(separator: ","))")
        }
        if let host { arguments.append("--host=\(host)") }
        let result = try await run(arguments, noLock: true)
        return try decodeSnapshots(result.stdout)
    }

    /// The snapshot with this full id or unique id prefix; nil if the repository holds none.
    public func snapshot(id: String) async throws -> SnapshotInfo? {
        try Self.validateID(id)
        let result = try await run(["snapshots", "--json", "--", id], noLock: true)
        let found = try decodeSnapshots(result.stdout)
        if result.stderr.lowercased().contains("multiple ids") {
            throw ResticError.invalidArgument("snapshot id prefix \"\(id)\" matches more than one snapshot")
        }
        return found.first { $0.id.hasPrefix(id) }
    }

    /// Removes these snapshots (full ids or unique prefixes), then confirms they are gone: restic
    /// exits 0 for ids it does not know, so unknown ids are reported in `notFound`, and a
    /// snapshot still in the backend's snapshots/ afterwards throws `forgetIncomplete`. With
    /// `prune`, the space is reclaimed in the same call (`forget --prune`), which is how to batch
    /// many deletions.
    @discardableResult
    public func forget(ids: [String], prune: Bool = false) async throws -> ForgetResult {
        for id in ids { try Self.validateID(id) }
        var resolved: [String] = []
        var notFound: [String] = []
        if ids.allSatisfy(Self.isFullID) {
            // Full ids need no resolving: restic names the unknown ones ("Ignoring ...: no
            // matching ID found") and the listing afterwards confirms the rest are gone. One
            // restic run fewer (each pays for its key derivation).
            for id in ids where !resolved.contains(id) { resolved.append(id) }
        } else {
            let before = try await snapshots()
            for id in ids {
                let matches = before.filter { $0.id.hasPrefix(id) }
                switch matches.count {
                case 0: notFound.append(id)
                case 1: if !resolved.contains(matches[0].id) { resolved.append(matches[0].id) }
                default: throw ResticError.invalidArgument("snapshot id prefix \"\(id)\" matches more than one snapshot")
                }
            }
        }
        if !resolved.isEmpty {
            // 2,000 full ids are 130 KB of arguments, far below Linux's limits (ARG_MAX 2 MiB).
            let chunks = stride(from: 0, to: resolved.count, by: 2_000).map {
                Array(resolved[$0..<min($0 + 2_000, resolved.count)])
            }
            var ignored: Set<String> = []
            for (index, chunk) in chunks.enumerated() {
                let last = index == chunks.count - 1
                let result = try await run(["forget"] + (prune && last ? ["--prune"] : []) + ["--"] + chunk)
                for id in chunk where result.stderr.contains("Ignoring \"\(id)\"") { ignored.insert(id) }
            }
            notFound += resolved.filter { ignored.contains($0) }
            resolved.removeAll { ignored.contains($0) }
            // Confirmed from the backend's snapshots/ listing where it can be read without restic
            // (a snapshot exists exactly while its file does), else by restic's own listing.
            let after: Set<String>
            if let listed = try await snapshotFileNames(prefix: "") {
                after = Set(listed)
            } else {
                after = Set(try await snapshots().map(\.id))
            }
            let remaining = resolved.filter { after.contains($0) }
            if !remaining.isEmpty { throw ResticError.forgetIncomplete(remaining: remaining) }
        } else if prune {
            try await self.prune()
        }
        return ForgetResult(removed: resolved, notFound: notFound, pruned: prune)
    }

    static func isFullID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// `restic prune`: removes data no snapshot references.
    public func prune() async throws {
        _ = try await run(["prune"])
    }

    // MARK: Verification

    /// Reads back every byte of one snapshot from the backend (`restic --no-cache dump ID /`
    /// into a counting sink, so trees and file contents are fetched from the backend,
    /// decrypted, MAC-checked and hash-checked) and says whether all of it was sound.
    /// Throws for failures that say nothing about the data (unreachable backend, wrong
    /// password, lock, unknown snapshot: `.snapshotNotFound`).
    public func verify(snapshotID: String) async throws -> SnapshotVerification {
        // No lookup first: each restic run pays for opening the repository, and `dump` itself
        // answers "no matching ID" (classified `.snapshotNotFound`) for an id it does not hold.
        try Self.validateID(snapshotID)
        let result = try await run(
            ["dump", "--archive=tar", "--", snapshotID, "/"], cache: false, allowedExitCodes: nil, stdout: .discard)
        if result.exitCode == 0 { return SnapshotVerification(snapshotID: snapshotID, error: nil) }
        let failure = failure(command: "dump", result: result)
        switch failure.kind {
        case .backendUnreachable, .wrongPassword, .accessDenied, .locked, .repositoryNotFound, .snapshotNotFound:
            throw ResticError.commandFailed(failure)
        default:
            let message = failure.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return SnapshotVerification(
                snapshotID: snapshotID,
                error: message.isEmpty ? "restic dump exited \(result.exitCode)" : message)
        }
    }

    /// `restic check` (with `--read-data`: every pack is downloaded and checked; without it a
    /// corrupted pack goes unnoticed). Throws for failures that say nothing about the data.
    public func check(readData: Bool) async throws -> CheckResult {
        let result = try await run(["check"] + (readData ? ["--read-data"] : []), allowedExitCodes: nil)
        if result.exitCode == 0 { return .ok }
        let failure = failure(command: "check", result: result)
        switch failure.kind {
        case .backendUnreachable, .wrongPassword, .accessDenied, .locked, .repositoryNotFound:
            throw ResticError.commandFailed(failure)
        default:
            let boilerplate = [
                "using temporary cache", "create exclusive lock", "load indexes", "check all packs",
                "check snapshots, trees and blobs", "read all data", "no errors were found",
            ]
            let lines = (String(decoding: result.stdout, as: UTF8.self) + "\n" + failure.stderr)
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { line in
                    !line.isEmpty && !line.hasPrefix("[") && !boilerplate.contains { line.hasPrefix($0) }
                }
            return .errors(lines.isEmpty ? "restic check exited \(result.exitCode)" : lines.joined(separator: "\n"))
        }
    }

    /// Total stored size (`stats --mode raw-data`) and snapshot count.
    public func stats() async throws -> RepositoryStats {
        let result = try await run(["stats", "--json", "--mode=raw-data"], noLock: true)
        guard let stats = try? JSONDecoder().decode(StatsJSON.self, from: result.stdout) else {
            throw ResticError.unexpectedOutput(
                command: "stats", detail: String(decoding: result.stdout.prefix(200), as: UTF8.self))
        }
        let count: Int
        if let reported = stats.snapshots_count { count = reported } else { count = try await snapshots().count }
        return RepositoryStats(totalSizeBytes: stats.total_size, snapshotCount: count)
    }

    // MARK: Locks

    /// The repository's lock files (`restic cat lock ID` of each). Their names are read from
    /// the backend's `locks/` where it can be listed directly (local, s3), so that a repository
    /// without locks costs no restic run; otherwise from `restic list locks`. A lock removed
    /// meanwhile is skipped.
    public func locks() async throws -> [ResticLock] {
        let ids: [String]
        if let names = try await fileNames(in: "locks") {
            ids = names.filter(Self.isFullID)
        } else {
            let listed = try await run(["list", "locks"], noLock: true)
            ids = String(decoding: listed.stdout, as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init)
        }
        var locks: [ResticLock] = []
        for id in ids {
            try Self.validateID(id)
            let result = try await run(["cat", "lock", "--", id], noLock: true, allowedExitCodes: nil)
            if result.exitCode != 0 {
                let text = result.stderr.lowercased()
                if text.contains("no such file") || text.contains("does not exist") || text.contains("not found") {
                    continue
                }
                throw ResticError.commandFailed(failure(command: "cat lock", result: result))
            }
            guard let lock = ResticLockFile(json: result.stdout) else {
                throw ResticError.unexpectedOutput(command: "cat lock", detail: "lock \(id) is not readable JSON")
            }
            locks.append(lock.lock(id: id))
        }
        return locks
    }

    /// Whether `lock` is stale: made on this machine by a process that no longer exists, or
    /// older than the process that now has its pid (see `ResticLock.isStale`).
    public func isStale(_ lock: ResticLock) -> Bool { lock.isStale }

    /// Runs `restic unlock` only when every lock is stale and none belongs to a pid in
    /// `excludingPIDs` or to one of this process's running restic children (`registry`).
    ///
    /// restic 0.14's `unlock` (without `--remove-all`) itself removes only locks it deems stale
    /// (made on this host by a dead pid, or older than 30 minutes) and keeps live ones, so a lock
    /// taken between our look and the unlock is not touched either.
    public func removeStaleLocks(excludingPIDs: Set<Int32> = []) async throws -> StaleLockRemoval {
        let current = try await locks()
        if current.isEmpty { return .noLocks }
        let excluded = excludingPIDs.union(registry?.runningPIDs ?? [])
        let stale = current.filter { $0.isStale && !excluded.contains($0.pid) }
        let live = current.filter { lock in !stale.contains(lock) }
        if !live.isEmpty { return .kept(live: live, stale: stale) }
        _ = try await run(["unlock"])
        var remaining = Set(try await locks().map(\.id))
        let keptByRestic = stale.filter { remaining.contains($0.id) }
        if !keptByRestic.isEmpty {
            // restic keeps a lock whose pid a later process has: remove exactly those files.
            try await removeLockFiles(keptByRestic.map(\.id))
            remaining = Set(try await locks().map(\.id))
        }
        let notRemoved = stale.filter { remaining.contains($0.id) }
        if !notRemoved.isEmpty {
            throw ResticError.unexpectedOutput(
                command: "unlock", detail: "stale locks still present: \(notRemoved.map(\.id).joined(separator: ", "))")
        }
        return .removed(stale)
    }

    // MARK: Running restic

    /// Whether restic's cache is used: for remote backends only (see the type's notes).
    public var usesCache: Bool {
        if case .local = backend { return false }
        return true
    }

    /// Runs one restic command. A non-zero exit (outside `allowedExitCodes`; nil allows all)
    /// throws `ResticError.commandFailed` with the classified, redacted stderr.
    func run(
        _ arguments: [String], noLock: Bool = false, cache: Bool = true, allowedExitCodes: Set<Int32>? = [0],
        stdout: StdoutDestination = .capture
    ) async throws -> ChildResult {
        var fullArguments = ["--repo", location]
        fullArguments += cache && usesCache ? ["--cache-dir", cacheDirectory] : ["--no-cache"]
        if noLock { fullArguments.append("--no-lock") }
        fullArguments += arguments
        let command = arguments.prefix { !$0.hasPrefix("-") }.prefix(2).joined(separator: " ")
        logger.debug("running restic", metadata: ["command": "\(command)", "repository": "\(location)"])
        let started = ContinuousClock.now
        let subcommand = Self.subcommand(arguments)
        var result: ChildResult
        do {
            result = try await ChildResult.run(
                executable: executable, arguments: fullArguments, environment: childEnvironment, stdout: stdout,
                policy: cancellation, registry: registry)
        } catch {
            let outcome = error is CancellationError ? "cancelled" : "notStarted"
            registry?.finished(.init(command: subcommand, seconds: Self.seconds(since: started), outcome: outcome))
            throw error
        }
        result.classification = ResticErrorClassifier.classify(stderr: result.stderr, exitCode: result.exitCode)
        result.stderr = redact(result.stderr)
        // The metric's outcome is restic's own (a non-zero exit is not a success even where the
        // caller accepts it, as a `check` that found errors).
        let exitedClean = result.exitCode == 0 && !result.wasSignalled
        registry?.finished(
            .init(
                command: subcommand, seconds: Self.seconds(since: started),
                outcome: exitedClean ? "success" : (Task.isCancelled ? "cancelled" : result.classification.rawValue)))
        if let allowedExitCodes, !allowedExitCodes.contains(result.exitCode) || result.wasSignalled {
            let failure = failure(command: command, result: result)
            logger.debug(
                "restic failed",
                metadata: ["command": "\(command)", "kind": "\(failure.kind.rawValue)", "exit": "\(result.exitCode)"])
            throw ResticError.commandFailed(failure)
        }
        return result
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The subcommand of `arguments` with a bounded set of values (a metric label): the first
    /// word, and for `cat` and `list` the object type after it.
    static func subcommand(_ arguments: [String]) -> String {
        guard let first = arguments.first else { return "" }
        if first == "cat" || first == "list", arguments.count > 1, !arguments[1].hasPrefix("-") {
            return first + " " + arguments[1]
        }
        return first
    }

    private func failure(command: String, result: ChildResult) -> ResticFailure {
        ResticFailure(kind: result.classification, command: command, exitCode: result.exitCode, stderr: result.stderr)
    }

    private var childEnvironment: [String: String] {
        let parent = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME", "TMPDIR"] { if let value = parent[name] { environment[name] = value } }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        environment["HOME"] = environment["HOME"] ?? "/"
        environment["RESTIC_PASSWORD"] = password.revealed
        environment.merge(backend.environment) { _, new in new }
        return environment
    }

    private func redact(_ text: String) -> String {
        var text = text
        for secret in [password.revealed] + backend.secrets where secret.count >= 1 {
            text = text.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return text
    }

    private func decodeSnapshots(_ data: Data) throws -> [SnapshotInfo] {
        let decoded: [SnapshotJSON]?
        do {
            decoded = try JSONDecoder().decode([SnapshotJSON]?.self, from: data)
        } catch {
            throw ResticError.unexpectedOutput(
                command: "snapshots", detail: String(decoding: data.prefix(200), as: UTF8.self))
        }
        return try (decoded ?? []).map { json throws(ResticError) in try json.info() }
    }

    // MARK: Helpers

    /// 1 to 64 ASCII characters 0-9 a-f, checked on bytes: `Character.isHexDigit` also takes
    /// fullwidth digits ("１"), and its Unicode checks were visible in a 1,000-id forget's profile.
    static func validateID(_ id: String) throws(ResticError) {
        let bytes = id.utf8
        guard !bytes.isEmpty, bytes.count <= 64,
            bytes.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else {
            throw .invalidArgument("snapshot id \"\(id)\" must be 1 to 64 lowercase hex digits")
        }
    }

    static func validateTag(_ tag: String) throws(ResticError) {
        guard !tag.isEmpty, !tag.contains(","), !tag.contains(where: \.isNewline) else {
            throw .invalidArgument("restic tag \"\(tag)\" must be non-empty, without ',' or line breaks")
        }
    }

    static func resolveExecutable(_ name: String) throws(ResticError) -> String {
        if name.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else {
                throw .executableNotFound("restic executable \(name) is not an executable file")
            }
            return name
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw .executableNotFound("\(name) not found in PATH (\(path)); install restic 0.14 or later")
    }

}

/// Splits a byte stream into lines, dropping restic's frequent `status` lines so that a long
/// backup does not pile up progress reports in memory.
struct JSONLineCollector {
    private var pending = Data()
    private var lines: [String] = []

    mutating func append(_ chunk: Data) {
        pending.append(chunk)
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
            pending.removeSubrange(pending.startIndex...newline)
            keep(line)
        }
    }

    mutating func finish() -> [String] {
        if !pending.isEmpty { keep(String(decoding: pending, as: UTF8.self)) }
        pending = Data()
        return lines
    }

    private mutating func keep(_ line: String) {
        if line.isEmpty || line.contains("\"message_type\":\"status\"") { return }
        lines.append(line)
    }
}
