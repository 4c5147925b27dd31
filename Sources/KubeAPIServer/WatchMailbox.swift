import KubeJSON

/// One watcher's events on their way to its connection. The store adds them one at a time; the
/// connection takes every event waiting at once and writes them as one chunk, one TLS record
/// and one flush. Written and flushed one by one, events cost the server a write syscall and a
/// TLS record each: with two watchers of a thousand fast-changing objects, most of its writes.
/// A watcher that keeps up still gets each event as soon as it is added.
final class WatchMailbox: Sendable {
    private struct State {
        var events: [StoredEvent] = []
        var finished = false
        /// Finished by a cut: the connection is to be dropped without the final chunk.
        var cut = false
        var waiter: CheckedContinuation<[StoredEvent]?, Never>?
    }

    private let state = Locked(State())
    /// Events held for a watcher that does not take them: past this many, `add` refuses.
    let limit: Int
    /// At most this many events go out in one chunk (a watch that starts with a long list of
    /// current objects sends them in chunks of a few hundred KiB, not one of megabytes).
    static let batchLimit = 256

    init(limit: Int, initial: [StoredEvent] = []) {
        self.limit = limit
        state.withLock { $0.events = initial }
    }

    /// Adds `event`. False (nothing added) once finished, or when `limit` events are already
    /// waiting: the watcher is too slow, and the caller ends it.
    func add(_ event: StoredEvent) -> Bool {
        let taken: CheckedContinuation<[StoredEvent]?, Never>?? = state.withLock { state in
            if state.finished || state.events.count >= limit { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return .some(waiter)
            }
            state.events.append(event)
            return .some(nil)
        }
        guard let taken else { return false }
        taken?.resume(returning: [event])
        return true
    }

    /// Ends the stream: `next` hands out what is still waiting, then nil.
    func finish() { end(cut: false) }

    /// Ends the stream as a broken connection would (fault injection): the waiting events are
    /// dropped and the connection closes without the chunked stream's final chunk.
    func cut() { end(cut: true) }

    /// Whether the stream was ended by `cut`.
    var isCut: Bool { state.current.cut }

    private func end(cut: Bool) {
        let waiter = state.withLock { state in
            if cut && !state.finished {
                state.cut = true
                state.events = []
            }
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The events waiting (at least one, at most `batchLimit`, oldest first), waiting for one
    /// if there is none; nil once finished and drained, or when the task is cancelled (which
    /// finishes the mailbox).
    func next() async -> [StoredEvent]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[StoredEvent]?, Never>) in
                let ready: [StoredEvent]?? = state.withLock { state in
                    if state.events.count > Self.batchLimit {
                        defer { state.events.removeFirst(Self.batchLimit) }
                        return .some(Array(state.events.prefix(Self.batchLimit)))
                    }
                    if !state.events.isEmpty {
                        defer { state.events = [] }
                        return .some(state.events)
                    }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }
}
