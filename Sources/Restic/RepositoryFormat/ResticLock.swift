import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A lock that stands in a repository's `locks/`, as restic reads it (`restic cat lock ID`).
public struct ResticLock: Sendable, Hashable {
    public var id: String
    public var pid: Int32
    public var hostname: String
    public var username: String?
    public var time: Date
    public var exclusive: Bool

    /// Whether the lock is stale: made on this machine by a process that no longer exists.
    /// (restic also calls a lock stale when it is older than 30 minutes; this does not guess
    /// about other machines' processes.)
    ///
    /// A pid can be in use again by a later process (pids wrap around, at 32,768 by default):
    /// a process that started after the lock was made cannot have made it, so that lock is
    /// stale too (restic's own check cannot tell; see `ResticRepository.removeStaleLocks`).
    /// Callers ask `ResticRepository.isStale(_:)`.
    var isStale: Bool {
        guard hostname == ResticLockFile.localHostname else { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let started = Self.processStartTime(pid) else { return false }
        return started > time.addingTimeInterval(1)  // /proc's start time has 10 ms ticks
    }

    /// When process `pid` started, from /proc (Linux); nil where it cannot be read.
    static func processStartTime(_ pid: Int32) -> Date? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")"),
            let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let bootLine = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(bootLine.dropFirst(6).trimmingCharacters(in: .whitespaces))
        else { return nil }
        // Fields after "(comm)": state is field 3, starttime field 22 (clock ticks since boot).
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard hertz > 0 else { return nil }
        return Date(timeIntervalSince1970: boot + ticks / hertz)
    }
}
