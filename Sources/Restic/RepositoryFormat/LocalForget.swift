import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Forgets snapshots of a local repository the way `restic forget` does, without restic: an
/// exclusive lock file (restic's JSON, sealed with the master key, named by its SHA-256), a
/// look that no other lock is there (else the lock is taken back), the removal of each
/// `snapshots/ID`, and the removal of the lock. restic itself, or another kubesnap, sees the
/// lock while it stands. The repository stays one that restic reads: nothing else changes in it,
/// and the data the snapshots referenced goes at the next `prune`.
///
/// The calls block (file system only); callers run them on a thread of their own.
struct LocalForget: Sendable {
    /// What one attempt did.
    enum Outcome: Sendable {
        case forgotten(ForgetResult)
        case failed(ResticError)
        /// Another lock stands (or the lock directory cannot be read); nothing was changed.
        case locked
        /// The key does not open the repository's `config`; nothing was changed.
        case otherKey
    }

    let files: LocalRepositoryFiles
    let key: ResticMasterKey

    /// Forgets `ids` (full snapshot ids) under an exclusive lock of this process.
    func forget(ids: [String]) -> Outcome {
        let root = files.root
        guard files.configOpens(with: key) else { return .otherKey }
        let lock: [UInt8]
        do {
            lock = try ResticLockFile.ofThisProcess(exclusive: true).sealed(with: key)
        } catch {
            return .failed(error)
        }
        let locks = root + "/locks"
        func otherLocks(than ours: String?) -> Bool {
            // A lock directory that cannot be read counts as locked (restic would fail too).
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: locks) else {
                return FileManager.default.fileExists(atPath: locks)
            }
            return names.contains { $0 != ours }
        }
        // Another lock (live or stale) is restic's to judge: the caller runs restic. So is a
        // repository without a locks directory.
        guard FileManager.default.fileExists(atPath: locks), !otherLocks(than: nil) else { return .locked }
        let name = ResticMasterKey.storageID(of: lock)
        let path = locks + "/" + name
        do {
            try Self.writeNewFile(lock, at: path)
        } catch {
            return .failed(.unsupported("writing lock \(name) in \(root): \(error)"))
        }
        defer { unlink(path) }
        // One that came meanwhile: both sides see the other and give way (restic's rule too).
        guard !otherLocks(than: name) else { return .locked }
        var removed: [String] = []
        var notFound: [String] = []
        for id in ids where !removed.contains(id) && !notFound.contains(id) {
            if unlink(root + "/snapshots/" + id) == 0 {
                removed.append(id)
            } else if errno == ENOENT {
                notFound.append(id)
            } else {
                let reason = String(cString: strerror(errno))
                return .failed(.unsupported("removing snapshot \(id) from \(root): \(reason)"))
            }
        }
        return .forgotten(ForgetResult(removed: removed, notFound: notFound, pruned: false))
    }

    /// Writes `bytes` under a temporary name beside `path` and renames it to `path`, read-only,
    /// as restic's local backend does, so that no reader sees a part of it. (Not synced: a lock
    /// lives for milliseconds, and one a crash leaves is stale anyway.)
    static func writeNewFile(_ bytes: [UInt8], at path: String) throws {
        let temporary = path + "-tmp-kubesnap-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o400])
        else { throw POSIXError(.EIO) }
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
    }
}
