import Foundation
import KubeJSON

/// The store's persistence: a snapshot file plus an append-only log of JSON lines under the data
/// directory. Every write is appended and fsynced before its request is answered; concurrent
/// writes share one fsync (group commit) on the log's own thread, so no Swift task ever blocks
/// on the disk. At start the log is folded into a fresh snapshot and truncated.
final class DurableLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var descriptor: Int32
    private var pending: [UInt8] = []
    private var appended: UInt64 = 0
    private var durable: UInt64 = 0
    private var waiters: [(UInt64, CheckedContinuation<Void, any Error>)] = []
    private var failure: String?
    private var stopping = false
    private var stopped = false
    let logPath: String

    init(logPath: String) throws {
        self.logPath = logPath
        descriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw APIServerError.storage("cannot open \(logPath): errno \(errno)") }
        let thread = Thread { [self] in flushLoop() }
        thread.name = "kubesnap-apiserver-log"
        thread.start()
    }

    /// Queues one record (a JSON line, without its newline); returns the ticket to wait for
    /// with `waitDurable`.
    func append(_ record: [UInt8]) -> UInt64 {
        var bytes = record
        bytes.append(0x0A)
        condition.lock()
        defer { condition.unlock() }
        pending.append(contentsOf: bytes)
        appended += 1
        condition.signal()
        return appended
    }

    /// Returns once every record up to `ticket` is on disk.
    func waitDurable(_ ticket: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            defer { condition.unlock() }
            if let failure {
                continuation.resume(throwing: APIServerError.storage(failure))
            } else if durable >= ticket || ticket == 0 {
                continuation.resume()
            } else {
                waiters.append((ticket, continuation))
            }
        }
    }

    private func flushLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = pending
            let ticket = appended
            pending = []
            condition.unlock()

            var error: String?
            batch.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        error = "write \(logPath): errno \(errno)"
                        return
                    }
                    offset += n
                }
            }
            if error == nil && fsync(descriptor) != 0 { error = "fsync \(logPath): errno \(errno)" }

            condition.lock()
            if let error { failure = error }
            durable = ticket
            var keep: [(UInt64, CheckedContinuation<Void, any Error>)] = []
            for (t, c) in waiters {
                if let failure { c.resume(throwing: APIServerError.storage(failure)) } else if t <= ticket {
                    c.resume()
                } else {
                    keep.append((t, c))
                }
            }
            waiters = keep
            condition.unlock()
        }
    }

    /// Flushes what is queued and stops the log thread.
    func close() {
        condition.lock()
        stopping = true
        condition.signal()
        while !stopped { condition.wait() }
        Foundation.close(descriptor)
        descriptor = -1
        condition.unlock()
    }
}

/// What the data directory held at start.
struct LoadedState {
    var revision: Int64 = 0
    /// resource key -> objects.
    var objects: [String: [JSONValue]] = [:]
    var history: [StoredEvent] = []
}

/// One past change, as kept for watch resumption.
struct StoredEvent: Sendable {
    var type: String
    var resourceKey: String
    var object: JSONValue
    var old: JSONValue?
    var revision: Int64
    /// `object` as JSON (keys sorted), made once by the commit and shared by the log, every
    /// watcher and the write's answer; nil in events kept in history (memory) or loaded.
    var encodedObject: [UInt8]?

    /// The record with `old`, as the snapshot file keeps history.
    var record: JSONValue {
        var r: JSONValue = ["e": .string(type), "k": .string(resourceKey), "o": object, "rv": .int(revision)]
        if let old { r["old"] = old }
        return r
    }

    /// The log's record: `{"e":type,"k":key,"o":object,"rv":revision}`, spliced around the
    /// encoded object. `old` is left out: loading the log rebuilds it from the state before the
    /// record (the snapshot plus the records before it), so each write is serialized once.
    func logRecord(encodedObject: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedObject.count + resourceKey.utf8.count + 48)
        out.append(contentsOf: #"{"e":"#.utf8)
        JSONValue.string(type).write(to: &out)
        out.append(contentsOf: #","k":"#.utf8)
        JSONValue.string(resourceKey).write(to: &out)
        out.append(contentsOf: #","o":"#.utf8)
        out.append(contentsOf: encodedObject)
        out.append(contentsOf: #","rv":"#.utf8)
        JSONValue.int(revision).write(to: &out)
        out.append(0x7D)
        return out
    }

    init(type: String, resourceKey: String, object: JSONValue, old: JSONValue?, revision: Int64) {
        self.type = type
        self.resourceKey = resourceKey
        self.object = object
        self.old = old
        self.revision = revision
    }

    init?(record: JSONValue) {
        guard let type = record["e"].stringValue, let key = record["k"].stringValue,
            let rv = record["rv"].intValue, case .object = record["o"]
        else { return nil }
        // Optional.none when absent (a bare `nil` next to a JSONValue would be JSONValue.null).
        let old: JSONValue? = record["old"].isNull ? Optional.none : record["old"]
        self.init(type: type, resourceKey: key, object: record["o"], old: old, revision: rv)
    }
}

enum Persistence {
    static func snapshotPath(_ dir: String) -> String { dir + "/objects.snapshot" }
    static func logPath(_ dir: String) -> String { dir + "/objects.log" }

    /// Reads snapshot + log (a torn last line, never acknowledged, is ignored), then writes the
    /// folded state as the new snapshot and empties the log.
    static func loadAndCompact(directory: String, historyLimit: Int) throws -> LoadedState {
        var live: [String: [String: JSONValue]] = [:]
        var revision: Int64 = 0
        var history: [StoredEvent] = []
        func objectID(_ o: JSONValue) -> String { "\(o.namespace ?? "")/\(o.name ?? "")" }

        if let data = FileManager.default.contents(atPath: snapshotPath(directory)) {
            for line in data.split(separator: 0x0A) {
                guard let record = try? JSONValue.parse(line) else { continue }
                if let rv = record["revision"].intValue {
                    revision = rv
                } else if let event = StoredEvent(record: record) {
                    history.append(event)
                } else if let key = record["k"].stringValue, case .object = record["o"] {
                    live[key, default: [:]][objectID(record["o"])] = record["o"]
                }
            }
        }
        if let data = FileManager.default.contents(atPath: logPath(directory)) {
            for line in data.split(separator: 0x0A) {
                guard let record = try? JSONValue.parse(line), var event = StoredEvent(record: record) else {
                    continue
                }
                guard event.revision > revision else { continue }
                revision = event.revision
                let id = objectID(event.object)
                // The log leaves out `old` (logs written before it did not): it is the state
                // the record replaced.
                if event.old == nil { event.old = live[event.resourceKey]?[id] }
                if event.type == "DELETED" {
                    live[event.resourceKey]?.removeValue(forKey: id)
                } else {
                    live[event.resourceKey, default: [:]][id] = event.object
                }
                history.append(event)
            }
        }
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }

        // Write the folded snapshot atomically, then empty the log.
        let temporary = snapshotPath(directory) + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw APIServerError.storage("cannot write \(temporary): errno \(errno)") }
        var buffer: [UInt8] = []
        func flush() throws {
            try buffer.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw APIServerError.storage("cannot write \(temporary): errno \(errno)")
                    }
                    offset += n
                }
            }
            buffer.removeAll(keepingCapacity: true)
        }
        func line(_ v: JSONValue) throws {
            v.write(to: &buffer)
            buffer.append(0x0A)
            if buffer.count > 1 << 20 { try flush() }
        }
        do {
            try line(["revision": .int(revision)])
            for (key, objects) in live {
                for (_, object) in objects { try line(["k": .string(key), "o": object]) }
            }
            for event in history { try line(event.record) }
            try flush()
            guard fsync(fd) == 0 else { throw APIServerError.storage("fsync \(temporary): errno \(errno)") }
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        guard rename(temporary, snapshotPath(directory)) == 0 else {
            throw APIServerError.storage("cannot rename the snapshot: errno \(errno)")
        }
        let dirFD = open(directory, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
        let logFD = open(logPath(directory), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if logFD >= 0 {
            _ = fsync(logFD)
            close(logFD)
        }
        return LoadedState(
            revision: revision, objects: live.mapValues { Array($0.values) }, history: history)
    }
}
