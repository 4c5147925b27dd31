import Foundation

/// Processes as Linux's /proc shows them: an operator's restic children, found and killed with
/// it (as a pod kill would take them).
public enum ProcessTree {
    /// Every descendant of `pid`.
    public static func descendants(of pid: Int32) -> [Int32] {
        var parentOf: [Int32: Int32] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "(comm)": " state ppid ..."
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { parentOf[child] = parent }
        }
        var result: [Int32] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            let children = parentOf.filter { $0.value == next }.map(\.key)
            result += children
            frontier += children
        }
        return result
    }

    /// SIGKILL to `pid` and all its descendants (found before the parent dies).
    public static func killTree(_ pid: Int32) {
        let children = descendants(of: pid)
        kill(pid, SIGKILL)
        for child in children { kill(child, SIGKILL) }
    }

    /// The command line of `pid`, or [].
    public static func arguments(of pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The command name of `pid`, or "".
    public static func name(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A loopback TCP port that was free a moment ago, for servers that cannot pick their own
/// (moto_server, the operator's probe server).
public func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CommandError(description: "socket(): errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else { throw CommandError(description: "bind(): errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw CommandError(description: "getsockname(): errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
