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
    /// What restic does, in the same order and format (`LocalForget`): an exclusive lock file, a
    /// look that no other lock is there (else the lock is taken back and nil returned), the
    /// removal of each `snapshots/ID`, and the removal of the lock. Without restic there is
    /// neither its scrypt key derivation (0.15 to 0.5 s of CPU for each run; the master key is
    /// read once per process, `prepareForgetWithoutRestic`) nor its fixed 200 ms wait after
    /// taking a lock: a batch of deletions is forgotten in milliseconds.
    ///
    /// Before each use the master key must still open the repository's `config`: a repository
    /// made again at the same place has another key, and restic could not read a lock sealed with
    /// the old one.
    public func forgetWithoutRestic(ids: [String]) async throws -> ForgetResult? {
        guard case .local(let root) = backend, ids.allSatisfy(Self.isFullID) else { return nil }
        // A cached key that no longer fits is dropped and read again, once.
        for _ in 0..<2 {
            guard let key = await masterKey() else { return nil }
            let forget = LocalForget(files: LocalRepositoryFiles(root: root), key: key)
            let outcome = await SpawnedProcess.valueOnOwnThread { forget.forget(ids: ids) }
            switch outcome {
            case .forgotten(let result): return result
            case .failed(let error): throw error
            case .locked: return nil
            case .otherKey: openedMasterKeys.withLock { _ = $0.removeValue(forKey: cacheKey) }
            }
        }
        return nil
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
    func masterKey() async -> ResticMasterKey? {
        let cacheKey = cacheKey
        if let key = openedMasterKeys.withLock({ $0[cacheKey] }) { return key }
        guard let printed = try? await run(["cat", "masterkey"], noLock: true, cache: false),
            let key = ResticMasterKey(masterKeyJSON: Array(printed.stdout))
        else { return nil }
        openedMasterKeys.withLock { $0[cacheKey] = key }
        return key
    }
}
