import Foundation
import Restic

/// What a directory restore wrote, once checked against the snapshot.
struct RestoredTree: Sendable, Hashable {
    var files: Int64
    var bytes: Int64
    /// "OK", or why the restored tree does not match the snapshot.
    var verification: String
}

/// Restores a directory by swap, never in place: restic writes the snapshot into a staging
/// directory beside the target (same parent, so the same filesystem and renames are atomic),
/// the staged tree is compared with the snapshot (restic's `--verify` reads every file back;
/// then every node of `restic ls --json` must be there with its type and size, and nothing
/// else), and only then is it swapped in:
///
///     target -> .kubesnap-old-<uid>     (skipped for a missing target)
///     staged -> target
///     remove .kubesnap-old-<uid> and the staging directory
///
/// A crash leaves at most those names beside the target; `recover` makes the target whole
/// again (the old content if the second rename had not happened, else the new one) and removes
/// the rest.
struct DirectoryRestore: Sendable {
    /// The target directory (resolved, absolute).
    let target: String
    /// The RestoreSession's UID: names the staging and old directories.
    let uid: String

    var parent: String { (target as NSString).deletingLastPathComponent }
    var staging: String { (parent as NSString).appendingPathComponent(".kubesnap-restore-\(uid)") }
    var old: String { (parent as NSString).appendingPathComponent(".kubesnap-old-\(uid)") }

    /// What `recover` found.
    enum Recovery: Equatable {
        case nothingLeft
        /// The crash came before the swap: the old content is back in place.
        case keptOld
        /// The crash came after the swap: the target holds the restored data.
        case keptNew
    }

    /// Makes the target whole after a crash and removes staging and old directories.
    func recover() throws -> Recovery {
        let files = FileManager.default
        var result = Recovery.nothingLeft
        if files.fileExists(atPath: old) {
            if files.fileExists(atPath: target) {
                try files.removeItem(atPath: old)
                result = .keptNew
            } else {
                try Self.rename(old, to: target)
                result = .keptOld
            }
        }
        if files.fileExists(atPath: staging) {
            try files.removeItem(atPath: staging)
            if result == .nothingLeft { result = .keptOld }
        }
        return result
    }

    /// Restores `snapshotID` (a snapshot of `snapshotPath`) into the target by swap.
    /// `pausePoints` can stop it between the two renames (`PausePoints.betweenRenames`, tests
    /// kill the operator there).
    func run(
        restic: ResticRepository, snapshotID: String, snapshotPath: String,
        pausePoints: PausePoints = PausePoints()
    ) async throws -> RestoredTree {
        let files = FileManager.default
        try files.createDirectory(atPath: parent, withIntermediateDirectories: true)
        _ = try recover()
        try Self.system("cannot create the staging directory", staging) { mkdir(staging, 0o700) }
        do {
            // The listing the staged tree is checked against is read while restic restores
            // (both only read the repository): its restic run costs no time of its own.
            async let listing = restic.listNodes(snapshotID: snapshotID)
            try await restic.restore(snapshotID: snapshotID, into: staging)
            let nodes = try await listing
            let staged = staging + (snapshotPath.hasPrefix("/") ? snapshotPath : "/" + snapshotPath)
            if !files.fileExists(atPath: staged) { try files.createDirectory(atPath: staged, withIntermediateDirectories: true) }
            let tree = try Self.check(staged: staged, against: nodes, snapshotPath: snapshotPath)
            try Task.checkCancellation()
            // The swap: no suspension point from here on, so a cancellation cannot split it.
            let hadTarget = files.fileExists(atPath: target)
            if hadTarget {
                try Self.rename(target, to: old)
                pausePoints.reach(PausePoints.betweenRenames)
            }
            do {
                try Self.rename(staged, to: target)
            } catch {
                // Put back; if even that fails the old content stays whole at `old`, and the
                // next `recover` (at the retry, or a restart) moves it back first.
                if hadTarget { try? Self.rename(old, to: target) }
                throw error
            }
            // The restore has succeeded: a leftover old or staging directory only holds space,
            // and `recover` removes it before the next restore into this target.
            if hadTarget { try? files.removeItem(atPath: old) }
            try? files.removeItem(atPath: staging)
            return tree
        } catch {
            try? files.removeItem(atPath: staging)  // the error thrown is what counts; `recover` retries
            throw error
        }
    }

    /// Compares the staged tree with the snapshot's nodes under `snapshotPath`: every node is
    /// there with its type (and, for files, its size), and nothing else is. Throws
    /// `DirectoryRestoreError.mismatch` naming the first differences.
    static func check(staged: String, against nodes: [SnapshotNode], snapshotPath: String) throws -> RestoredTree {
        let prefix = snapshotPath.hasSuffix("/") ? snapshotPath : snapshotPath + "/"
        var expected: [String: SnapshotNode] = [:]
        for node in nodes where node.path.hasPrefix(prefix) {
            expected[String(node.path.dropFirst(prefix.count))] = node
        }
        var problems: [String] = []
        var seen: Set<String> = []
        var files: Int64 = 0
        var bytes: Int64 = 0
        let manager = FileManager.default
        // An unreadable staged tree lists nothing, so every node of the snapshot is reported
        // missing below: a failed check, never a passed one.
        let entries = (try? manager.subpathsOfDirectory(atPath: staged)) ?? []
        for relative in entries {
            seen.insert(relative)
            let full = (staged as NSString).appendingPathComponent(relative)
            guard let node = expected[relative] else {
                problems.append("\(relative) is not in the snapshot")
                continue
            }
            let attributes = try manager.attributesOfItem(atPath: full)
            let type = attributes[.type] as? FileAttributeType
            switch node.type {
            case "file":
                let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
                if type != .typeRegular {
                    problems.append("\(relative) is not a regular file")
                } else if size != node.size {
                    problems.append("\(relative) has \(size) bytes, the snapshot \(node.size)")
                } else {
                    files += 1
                    bytes += size
                }
            case "dir": if type != .typeDirectory { problems.append("\(relative) is not a directory") }
            case "symlink": if type != .typeSymbolicLink { problems.append("\(relative) is not a symlink") }
            default: break
            }
        }
        for missing in Set(expected.keys).subtracting(seen).sorted() { problems.append("\(missing) is missing") }
        guard problems.isEmpty else {
            throw DirectoryRestoreError.mismatch(problems.prefix(5).joined(separator: "; "))
        }
        return RestoredTree(files: files, bytes: bytes, verification: "OK")
    }
}

extension DirectoryRestore {
    /// rename(2), not FileManager's move: that falls back to copying across file systems, and
    /// the swap must be atomic or fail.
    static func rename(_ from: String, to: String) throws {
        try system("cannot rename \(from) to", to) { Glibc.rename(from, to) }
    }

    /// Runs a system call returning 0 or -1 (errno set); throws `FileSystemError` on -1.
    static func system(_ what: String, _ path: String, _ call: () -> Int32) throws {
        guard call() != 0 else { return }
        throw FileSystemError(what: what, path: path, code: errno)
    }

    /// A file-system error as the operating system put it, with the path: "cannot create the
    /// staging directory /data/.kubesnap-restore-…: Read-only file system"; nil for errors
    /// that are not about files.
    static func describe(fileError error: any Error) -> String? {
        if let error = error as? FileSystemError { return error.description }
        guard let cocoa = error as? CocoaError else { return nil }
        let path = cocoa.userInfo[NSFilePathErrorKey] as? String ?? cocoa.filePath
        let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError
        let reason =
            if let underlying, underlying.domain == NSPOSIXErrorDomain {
                String(cString: strerror(Int32(underlying.code)))
            } else {
                cocoa.localizedDescription
            }
        return path.map { "\(reason) (\($0))" } ?? reason
    }
}

/// A system call on the target's file system that failed.
struct FileSystemError: Error, CustomStringConvertible {
    var what: String
    var path: String
    var code: Int32

    var description: String { "\(what) \(path): \(String(cString: strerror(code)))" }
}

/// Why a restored tree was not swapped in.
enum DirectoryRestoreError: Error, CustomStringConvertible {
    case mismatch(String)

    var description: String {
        switch self {
        case .mismatch(let detail): return "the restored data does not match the snapshot: \(detail)"
        }
    }
}
