import ChildProcesses
import Foundation
import KubeJSON

/// Master keys read by this process, by repository location and password (after a change of
/// the password Secret the key is read again). Never written anywhere.
private let openedMasterKeys = Locked<[String: ResticMasterKey]>([:])

extension ResticRepository {
    /// Forgets snapshots (full ids) the way `restic forget` does, without running restic, where
    /// that is possible: a local repository whose master key this process holds or can read, and
    /// no other lock on it. nil when it is not; the caller then runs restic (`forget`).
    ///
    /// What restic does, in the same order and format: an exclusive lock file (the same JSON,
    /// sealed with the master key, named by its SHA-256), a look that no other lock is there
    /// (else the lock is taken back and nil returned), the removal of each `snapshots/ID`, and the
    /// removal of the lock. restic itself, or another kubesnap, sees the lock while it stands.
    /// Without restic there is neither its scrypt key derivation (0.15 to 0.5 s of CPU for each
    /// run; the master key is read once per process, `prepareForgetWithoutRestic`) nor its fixed
    /// 200 ms wait after taking a lock: a batch of deletions is forgotten in milliseconds. The
    /// repository stays one that restic reads: nothing else changes in it, and the data the
    /// snapshots referenced goes at the next `prune` (restic's own `forget` without `--prune`
    /// leaves it the same way).
    ///
    /// Before each use the master key must still open the repository's `config`: a repository
    /// made again at the same place has another key, and restic could not read a lock sealed with
    /// the old one.
    public func forgetWithoutRestic(ids: [String]) async throws -> ForgetResult? {
        guard case .local(let root) = backend, ids.allSatisfy(Self.isFullID) else { return nil }
        // A cached key that no longer fits is dropped and read again, once.
        for _ in 0..<2 {
            guard let key = await masterKey() else { return nil }
            let lock = try Self.lockFile(exclusive: true, key: key)
            let outcome = await SpawnedProcess.valueOnOwnThread {
                Self.forgetLocally(root: root, ids: ids, key: key, lock: lock)
            }
            switch outcome {
            case .forgotten(let result): return result
            case .failed(let error): throw error
            case .locked: return nil
            case .otherKey: openedMasterKeys.withLock { _ = $0.removeValue(forKey: cacheKey) }
            }
        }
        return nil
    }

    private enum LocalForget: Sendable {
        case forgotten(ForgetResult)
        case failed(ResticError)
        /// Another lock stands (or the lock directory cannot be read); nothing was changed.
        case locked
        /// The key does not open the repository's `config`; nothing was changed.
        case otherKey
    }

    /// Reads the repository's master key now (one restic run), if this process can forget without
    /// restic here, so that a deletion need not wait for it. True when the key is held.
    @discardableResult
    public func prepareForgetWithoutRestic() async -> Bool {
        guard case .local = backend else { return false }
        return await masterKey() != nil
    }

    /// Whether this process holds the master key to forget here without restic (a local
    /// repository; `prepareForgetWithoutRestic` read it). Another lock can still send a forget
    /// to restic.
    public var holdsMasterKey: Bool {
        guard case .local = backend else { return false }
        let cacheKey = cacheKey
        return openedMasterKeys.withLock { $0[cacheKey] != nil }
    }

    private var cacheKey: String {
        location + "\u{0}" + ResticMasterKey.storageID(of: Array(password.revealed.utf8))
    }

    /// The cached master key, or the one restic prints (`restic cat masterkey`: one run, which
    /// pays restic's key derivation once for every later forget). Never logged: restic's
    /// output is read here and nowhere else.
    private func masterKey() async -> ResticMasterKey? {
        let cacheKey = cacheKey
        if let key = openedMasterKeys.withLock({ $0[cacheKey] }) { return key }
        guard let printed = try? await run(["cat", "masterkey"], noLock: true, cache: false),
            let key = ResticMasterKey(masterKeyJSON: Array(printed.stdout))
        else { return nil }
        openedMasterKeys.withLock { $0[cacheKey] = key }
        return key
    }

    /// A lock file's content, as restic writes it (restic's `Lock` JSON), sealed with `key`.
    static func lockFile(exclusive: Bool, key: ResticMasterKey) throws(ResticError) -> [UInt8] {
        let json: JSONValue = .object([
            "time": .string(RFC3339.format(Date(), fractionalSeconds: true)),
            "exclusive": .bool(exclusive),
            "hostname": .string(localHostname),
            "username": .string(localUsername),
            "pid": .int(Int64(getpid())),
            "uid": .int(Int64(getuid())),
            "gid": .int(Int64(getgid())),
        ])
        return try key.seal(json.serializedBytes())
    }

    /// The user name restic writes into a lock (Go's user.Current), or "" when there is none.
    static var localUsername: String {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return "" }
        return String(cString: name)
    }

    /// The blocking part of `forgetWithoutRestic` on a local repository.
    private static func forgetLocally(root: String, ids: [String], key: ResticMasterKey, lock: [UInt8]) -> LocalForget {
        guard let config = FileManager.default.contents(atPath: root + "/config"), key.open(Array(config)) != nil else {
            return .otherKey
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
            try writeNewFile(lock, at: path)
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
    private static func writeNewFile(_ bytes: [UInt8], at path: String) throws {
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
