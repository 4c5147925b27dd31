import ChildProcesses
import Foundation

/// What a repository's backend holds, read and removed without restic: a local directory
/// (`LocalRepositoryFiles`) or a bucket (`S3ObjectStore`). Every restic run pays for opening the
/// repository (its scrypt key derivation); a directory or bucket listing does not. A rest
/// backend cannot be listed this way.
extension ResticRepository {
    /// Bytes the repository takes on its backend: the sizes of all its files (config, keys,
    /// index, snapshots, data, locks), read from a directory walk or a bucket listing. nil for a
    /// backend that cannot be listed this way (rest).
    public func storedSize() async throws -> Int64? {
        switch backend {
        case .local(let path):
            let files = LocalRepositoryFiles(root: path)
            return await SpawnedProcess.valueOnOwnThread { files.totalBytes() }
        case .s3:
            guard let (store, root) = s3Objects() else { return nil }
            return try await store.objects(prefix: root).reduce(0) { $0 + $1.size }
        case .rest:
            return nil
        }
    }

    /// Files restic began to write and never finished (`NAME-tmp-RANDOM`). A killed restic
    /// leaves them, a pack's worth of bytes each, and neither `prune` nor `check` looks at them.
    /// Only those not written to for `idle` are listed: one a live restic (of any host) is
    /// writing changes all the time. Local repositories only (an S3 upload is whole or absent);
    /// paths are relative to the repository.
    public func unfinishedFiles(idle: Duration) async -> [(path: String, bytes: Int64)] {
        guard case .local(let path) = backend else { return [] }
        let cutoff = Date().timeIntervalSince1970 - Double(idle.components.seconds)
        let files = LocalRepositoryFiles(root: path)
        return await SpawnedProcess.valueOnOwnThread { files.unfinishedFiles(notModifiedSince: cutoff) }
    }

    /// Removes files `unfinishedFiles` listed (paths relative to the repository); a name that
    /// is not an unfinished restic file is refused.
    public func removeUnfinishedFiles(_ paths: [String]) throws {
        guard case .local(let root) = backend else { return }
        try LocalRepositoryFiles(root: root).removeUnfinishedFiles(paths)
    }

    /// The S3 store of an s3 backend and the repository's key prefix in it ("" or "path/").
    func s3Objects() -> (store: S3ObjectStore, root: String)? {
        guard case .s3(let endpoint, let bucket, let prefix, let region, let credentials) = backend else { return nil }
        let trimmed = (prefix ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return (
            S3ObjectStore(endpoint: endpoint, bucket: bucket, region: region, credentials: credentials),
            trimmed.isEmpty ? "" : trimmed + "/"
        )
    }

    /// Deletes these lock files from the backend by name (local and s3; rest cannot).
    func removeLockFiles(_ ids: [String]) async throws {
        for id in ids { try Self.validateID(id) }
        switch backend {
        case .local(let path):
            LocalRepositoryFiles(root: path).removeLocks(ids)
        case .s3:
            guard let (store, root) = s3Objects() else { return }
            for id in ids { try await store.delete(key: root + "locks/" + id) }
        case .rest:
            break
        }
    }

    /// The names of the backend's `snapshots/` files that start with `prefix` (a snapshot's file
    /// name is its full id). nil for a backend that cannot be listed this way (rest).
    func snapshotFileNames(prefix: String) async throws -> [String]? {
        try await fileNames(in: "snapshots", prefix: prefix)
    }

    /// The names of the files in the repository's `directory` (`snapshots`, `locks`) that start
    /// with `prefix`. nil for a backend that cannot be listed this way (rest). A missing local
    /// directory holds nothing.
    func fileNames(in directory: String, prefix: String = "") async throws -> [String]? {
        switch backend {
        case .local(let path):
            return try LocalRepositoryFiles(root: path).fileNames(in: directory, prefix: prefix)
        case .s3:
            guard let (store, root) = s3Objects() else { return nil }
            let base = root + directory + "/"
            return try await store.keys(prefix: base + prefix).map { String($0.dropFirst(base.count)) }
        case .rest:
            return nil
        }
    }

    /// Removes the whole repository, only if the location holds a restic repository (a
    /// `config` and keys). Returns false if there is nothing there.
    ///
    /// - local: the directory (it must hold `config` and `keys/`);
    /// - s3: every object under the prefix, after checking `<prefix>/config` exists;
    /// - rest: not supported (the REST protocol has no way to delete a repository).
    @discardableResult
    public func wipe() async throws(ResticError) -> Bool {
        switch backend {
        case .local(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
            guard isDirectory.boolValue, path != "/", LocalRepositoryFiles(root: path).holdsRepository else {
                throw .notARepository(path)
            }
            do {
                try FileManager.default.removeItem(atPath: path)
            } catch {
                throw .unsupported("cannot remove \(path): \(error.localizedDescription)")
            }
            return true
        case .s3(_, let bucket, let prefix, _, _):
            guard let (store, base) = s3Objects() else { return false }
            let trimmed = (prefix ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            let keys = try await store.keys(prefix: base)
            if keys.isEmpty { return false }
            guard keys.contains(base + "config"), keys.contains(where: { $0.hasPrefix(base + "keys/") }) else {
                throw .notARepository("s3://\(bucket)/\(trimmed)")
            }
            // The config goes last, so an interrupted wipe still reads as a repository and is
            // wiped again on the next attempt rather than left half-deleted and unrecognised.
            for key in keys where key != base + "config" { try await store.delete(key: key) }
            try await store.delete(key: base + "config")
            return true
        case .rest:
            throw .unsupported("wiping a rest backend is not supported: the REST protocol cannot delete a repository")
        }
    }
}
