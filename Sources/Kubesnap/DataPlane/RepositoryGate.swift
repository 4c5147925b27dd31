import Foundation
import KubeController
import KubeJSON
import Restic

/// Shared/exclusive access to one restic repository by this process's operations, so that a
/// backup never meets a prune's exclusive restic lock (restic 0.14 does not wait for locks) and
/// stale restic locks are cleared only when no operation of ours holds the repository.
///
/// Backups and verifications take it shared; forget/prune, `restic check`, unlock and wipe take
/// it exclusive. Waiters are served in arrival order (a waiting exclusive blocks later shared
/// ones, so a prune is not starved).
actor RepositoryGate {
    private struct Entry {
        var shared = 0
        var exclusive = false
        var waiters: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var isIdle: Bool { shared == 0 && !exclusive && waiters.isEmpty }
    }

    private var entries: [String: Entry] = [:]

    /// Whether any operation of this process holds or waits for `location`.
    func isBusy(_ location: String) -> Bool {
        !(entries[location]?.isIdle ?? true)
    }

    /// Runs `body` holding `location` shared (or exclusive).
    func withAccess<T: Sendable>(
        _ location: String, exclusive: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T {
        await acquire(location, exclusive: exclusive)
        return try await holding(location, exclusive: exclusive, body)
    }

    /// Runs `body` holding `location` (shared or exclusive) only if no operation of this process
    /// holds or waits for it right now; nil, without running `body`, otherwise. The check and the
    /// taking are one step: `isBusy` then `withAccess` let an operation start in between, and the
    /// caller then waited behind it (a Repository refresh stood behind a backup for its whole run).
    func withAccessIfIdle<T: Sendable>(
        _ location: String, exclusive: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T? {
        guard entries[location]?.isIdle ?? true else { return nil }
        var entry = Entry()
        Self.grant(&entry, exclusive: exclusive)
        entries[location] = entry
        return try await holding(location, exclusive: exclusive, body)
    }

    /// Runs `body` with `location` granted, and releases it, also when `body` throws.
    private func holding<T: Sendable>(
        _ location: String, exclusive: Bool, _ body: @Sendable () async throws -> T
    ) async throws -> T {
        do {
            let value = try await body()
            release(location, exclusive: exclusive)
            return value
        } catch {
            release(location, exclusive: exclusive)
            throw error
        }
    }

    /// Waits until granted (not cancellable: a cancelled caller's body then fails at once).
    private func acquire(_ location: String, exclusive: Bool) async {
        var entry = entries[location] ?? Entry()
        if entry.waiters.isEmpty, Self.grantable(entry, exclusive: exclusive) {
            Self.grant(&entry, exclusive: exclusive)
            entries[location] = entry
            return
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            var entry = entries[location] ?? Entry()
            entry.waiters.append((exclusive, continuation))
            entries[location] = entry
        }
    }

    private func release(_ location: String, exclusive: Bool) {
        guard var entry = entries[location] else { return }
        if exclusive { entry.exclusive = false } else { entry.shared = max(0, entry.shared - 1) }
        var woken: [CheckedContinuation<Void, Never>] = []
        while let first = entry.waiters.first, Self.grantable(entry, exclusive: first.exclusive) {
            entry.waiters.removeFirst()
            Self.grant(&entry, exclusive: first.exclusive)
            woken.append(first.continuation)
        }
        entries[location] = entry.isIdle ? nil : entry
        for continuation in woken { continuation.resume() }
    }

    private static func grantable(_ entry: Entry, exclusive: Bool) -> Bool {
        exclusive ? (entry.shared == 0 && !entry.exclusive) : !entry.exclusive
    }

    private static func grant(_ entry: inout Entry, exclusive: Bool) {
        if exclusive { entry.exclusive = true } else { entry.shared += 1 }
    }
}
