import Foundation
import KubeJSON

/// The outcome of opening a repository.
public enum RepositoryProbe: Sendable, Hashable {
    /// The backend answered, the repository exists and the password opens it; its snapshots and
    /// stored size.
    case ready(RepositoryContents)
    /// The backend answered but there is no restic repository at the location.
    case notInitialized
    /// A repository is there but the password does not open it.
    case wrongPassword(String)
    /// The backend could not be reached (connection refused, no such host, timeout).
    case unreachable(String)
    /// The backend refused the credentials (or the filesystem refused access).
    case accessDenied(String)
}

/// A snapshot as `restic snapshots --json` lists it.
public struct SnapshotInfo: Sendable, Hashable {
    /// The full 64-hex-digit id.
    public var id: String
    public var shortID: String
    /// When the data was captured.
    public var time: Date
    /// `time` as restic printed it (RFC 3339 with nanoseconds).
    public var timeText: String
    public var tags: [String]
    /// The paths given to `backup`, as restic stored them (absolute).
    public var paths: [String]
    public var hostname: String
    public var tree: String
    public var parent: String?
}

/// What `backup` made.
public struct BackupResult: Sendable, Hashable {
    /// The full snapshot id (restic's JSON summary prints only the short one; it is resolved).
    public var snapshotID: String
    /// When the backup started (restic's snapshot time is taken at its start too).
    public var time: Date
    public var shortID: String { String(snapshotID.prefix(8)) }
    /// New data written to the repository (after deduplication, before compression).
    public var bytesAdded: Int64
    /// Bytes of the source that were read.
    public var totalBytesProcessed: Int64
    public var fileCount: Int64
    public var durationSeconds: Double
    /// restic exit code 3: the snapshot was made but some files could not be read; one line per
    /// file or directory that could not be read (`<path>: <what failed>`, see
    /// `unreadableItems(stderr:)`). Empty for a complete snapshot.
    public var warnings: [String]
    public var isComplete: Bool { warnings.isEmpty }

    /// The files and directories `restic backup --json` (exit 3) says it could not read, one
    /// line each, from its stderr: `{"message_type":"error","error":{"Op":"lstat","Path":...,
    /// "Err":2},"item":"/src/x"}` becomes `/src/x: lstat: No such file or directory`; restic's
    /// closing "Warning: at least one source file could not be read" is not an item. Lines
    /// that are not restic's JSON are kept as they are, so an exit 3 never reads as complete.
    public static func unreadableItems(stderr: String) -> [String] {
        struct ErrorLine: Decodable {
            struct Cause: Decodable {
                var Op: String?
                var Err: Int32?
            }
            var message_type: String?
            var error: Cause?
            var item: String?
        }
        var items: [String] = []
        var other: [String] = []
        for line in stderr.split(whereSeparator: \.isNewline).map(String.init) where !line.isEmpty {
            if let parsed = try? JSONDecoder().decode(ErrorLine.self, from: Data(line.utf8)), parsed.message_type == "error" {
                var cause = "could not be read"
                if let op = parsed.error?.Op, let code = parsed.error?.Err, code > 0 {
                    cause = "\(op): \(String(cString: strerror(code)))"
                }
                items.append("\(parsed.item ?? "?"): \(cause)")
            } else if !line.hasPrefix("Warning: at least one source file could not be read") {
                other.append(line)
            }
        }
        return items.isEmpty ? (other.isEmpty ? ["restic could not read some files"] : other) : items
    }
}

/// What `forget` did.
public struct ForgetResult: Sendable, Hashable {
    /// Full ids removed (confirmed gone after restic exited).
    public var removed: [String]
    /// Ids (as given) that matched no snapshot: nothing to remove. restic itself exits 0 for them.
    public var notFound: [String]
    /// Whether a prune ran in the same call.
    public var pruned: Bool
}

/// The result of reading back one snapshot.
public struct SnapshotVerification: Sendable, Hashable {
    public var snapshotID: String
    /// nil when every byte was read and checked; else restic's error about the data.
    public var error: String?
    public var isOK: Bool { error == nil }
}

/// The result of `restic check`.
public enum CheckResult: Sendable, Hashable {
    case ok
    /// restic's report of what is wrong.
    case errors(String)
}

/// What an open repository holds (`ResticRepository.probe`).
public struct RepositoryContents: Sendable, Hashable {
    public var snapshots: [SnapshotInfo]
    /// Bytes the repository's files take on the backend; nil when not asked for.
    public var storedBytes: Int64?

    public init(snapshots: [SnapshotInfo], storedBytes: Int64?) {
        self.snapshots = snapshots
        self.storedBytes = storedBytes
    }
}

/// Repository-wide figures.
public struct RepositoryStats: Sendable, Hashable {
    /// Bytes the repository takes on its backend (`ResticRepository.storedSize`), or of its
    /// stored blobs (`restic stats --mode raw-data`) where the backend cannot be listed.
    public var totalSizeBytes: Int64
    public var snapshotCount: Int

    public init(totalSizeBytes: Int64, snapshotCount: Int) {
        self.totalSizeBytes = totalSizeBytes
        self.snapshotCount = snapshotCount
    }

    /// The figures of a probe: stored size (`size` when the probe did not read it) and
    /// snapshot count.
    public init(_ contents: RepositoryContents, size: Int64 = 0) {
        self.init(totalSizeBytes: contents.storedBytes ?? size, snapshotCount: contents.snapshots.count)
    }
}

/// What `removeStaleLocks` did.
public enum StaleLockRemoval: Sendable, Hashable {
    /// The repository holds no lock.
    case noLocks
    /// Every lock was stale and `restic unlock` removed them.
    case removed([ResticLock])
    /// Some lock is live (or held by one of our own running operations, or made on another
    /// host): nothing was removed.
    case kept(live: [ResticLock], stale: [ResticLock])
}

/// restic's JSON shapes (internal).
struct SnapshotJSON: Decodable {
    var time: String
    var tree: String
    var paths: [String]?
    var hostname: String?
    var tags: [String]?
    var id: String
    var short_id: String?
    var parent: String?

    func info() throws(ResticError) -> SnapshotInfo {
        guard let date = RFC3339.parse(time) else {
            throw .unexpectedOutput(command: "snapshots", detail: "snapshot \(id) has an unreadable time \"\(time)\"")
        }
        return SnapshotInfo(
            id: id, shortID: short_id ?? String(id.prefix(8)), time: date, timeText: time, tags: tags ?? [],
            paths: paths ?? [], hostname: hostname ?? "", tree: tree, parent: parent)
    }
}

struct BackupSummaryJSON: Decodable {
    var message_type: String
    var files_new: Int64?
    var files_changed: Int64?
    var files_unmodified: Int64?
    var data_added: Int64?
    var total_files_processed: Int64?
    var total_bytes_processed: Int64?
    var total_duration: Double?
    var snapshot_id: String?
}

struct StatsJSON: Decodable {
    var total_size: Int64
    var snapshots_count: Int?
}
