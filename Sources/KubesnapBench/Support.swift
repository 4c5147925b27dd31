import Foundation
import KubeTestSupport

/// A benchmark that could not run (a missing binary, a process that would not start, a
/// condition that never came true). The message says what was seen.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The executables a benchmark runs: `kubesnap` (next to this binary unless `--kubesnap`),
/// `kubectl` and the real `restic`.
struct Tools: Sendable {
    var kubesnap: String
    var kubectl: String
    var restic: String

    static func locate(kubesnap explicit: String?, kubectl: String, restic: String?) throws -> Tools {
        let kubesnap: String
        if let explicit {
            kubesnap = explicit
        } else {
            let executable =
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments.first ?? ""
            kubesnap =
                URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(
                    "kubesnap"
                ).path
        }
        guard FileManager.default.isExecutableFile(atPath: kubesnap) else {
            throw BenchError(
                "no kubesnap binary at \(kubesnap): build the kubesnap product next to kubesnap-bench, or pass --kubesnap PATH"
            )
        }
        guard FileManager.default.isExecutableFile(atPath: kubectl) else {
            throw BenchError("no kubectl at \(kubectl) (--kubectl PATH)")
        }
        let resticPath = restic ?? which("restic") ?? "/usr/bin/restic"
        guard FileManager.default.isExecutableFile(atPath: resticPath) else {
            throw BenchError("no restic at \(resticPath) (--restic PATH)")
        }
        return Tools(kubesnap: kubesnap, kubectl: kubectl, restic: resticPath)
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Everything a benchmark started (processes, directories), so that it is all removed at the
/// end, on error, and on SIGINT/SIGTERM.
final class CleanupRegistry: @unchecked Sendable {
    static let shared = CleanupRegistry()

    private let lock = NSLock()
    private var processes: [Int: Int32] = [:]
    private var directories: [Int: String] = [:]
    private var nextToken = 0
    private var signalSources: [DispatchSourceSignal] = []

    func register(pid: Int32) -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextToken += 1
        processes[nextToken] = pid
        return nextToken
    }

    func register(directory: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextToken += 1
        directories[nextToken] = directory
        return nextToken
    }

    func unregister(_ token: Int) {
        lock.lock()
        processes[token] = nil
        directories[token] = nil
        lock.unlock()
    }

    /// Kills every registered process tree and removes every registered directory.
    func cleanUpEverything() {
        lock.lock()
        let pids = Array(processes.values)
        let dirs = Array(directories.values)
        processes = [:]
        directories = [:]
        lock.unlock()
        for pid in pids { ProcessTree.killTree(pid) }
        for dir in dirs { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// On SIGINT or SIGTERM: clean up, then exit 130.
    func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(
                    Data(
                        "\nkubesnap-bench: interrupted; stopping processes and removing temporary directories\n"
                            .utf8))
                cleanUpEverything()
                exit(130)
            }
            source.resume()
            lock.lock()
            signalSources.append(source)
            lock.unlock()
        }
    }
}

/// A temporary directory that is removed at the end of its scope or on Ctrl-C.
final class WorkDirectory: Sendable {
    let directory: TemporaryDirectory
    let token: Int
    var path: String { directory.path }

    init(prefix: String) throws {
        directory = try TemporaryDirectory(prefix: prefix)
        token = CleanupRegistry.shared.register(directory: directory.path)
    }

    func appending(_ component: String) -> String { directory.appending(component) }

    func makeDirectory(_ relative: String) throws -> String {
        let path = appending(relative)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func remove() {
        directory.remove()
        CleanupRegistry.shared.unregister(token)
    }
}


/// Resource use of a live process, read from /proc.
struct ProcessUsage: Sendable {
    /// User + system CPU seconds of the process itself (not of its waited-for children).
    var cpuSeconds: Double
    /// User + system CPU seconds of children it has waited for (restic runs of the operator).
    var childCPUSeconds: Double
    /// Peak resident set (VmHWM), MiB.
    var peakRSSMiB: Double
    /// Current resident set (VmRSS), MiB.
    var rssMiB: Double

    static func read(_ pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ number: Int) -> Double {
            fields.count > number - 3 ? Double(fields[number - 3]) ?? 0 : 0
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func kib(_ name: String) -> Double {
            for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
                let digits = line.dropFirst(name.count + 1).filter(\.isNumber)
                return Double(String(digits)) ?? 0
            }
            return 0
        }
        return ProcessUsage(
            cpuSeconds: (field(14) + field(15)) / ticks, childCPUSeconds: (field(16) + field(17)) / ticks,
            peakRSSMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024)
    }
}

/// CPU seconds that processes spent between two readings (`CPUWindow.start`, `end`): where a
/// window's time went on a machine whose cores all of them share.
struct CPUWindow: Sendable {
    private let processes: [(name: String, pid: Int32)]
    private let before: [Double]

    /// Starts reading now; `processes` are measured by pid, and "bench" (this process) is added.
    static func start(_ processes: [(name: String, pid: Int32)]) -> CPUWindow {
        CPUWindow(processes: processes + [("bench", getpid())])
    }

    private init(processes: [(name: String, pid: Int32)]) {
        self.processes = processes
        before = processes.map { ProcessUsage.read($0.pid)?.cpuSeconds ?? .nan }
    }

    /// CPU seconds of each process since `start`, by name, in the order given.
    func end() -> [(name: String, seconds: Double)] {
        zip(processes, before).map { process, start in
            (process.name, (ProcessUsage.read(process.pid)?.cpuSeconds ?? .nan) - start)
        }
    }

    /// "server 0.71 s (0.71 ms each), ..." for `count` items.
    static func summary(_ spent: [(name: String, seconds: Double)], per count: Int) -> String {
        spent.map { "\($0.name) \(format($0.seconds)) s (\(format($0.seconds * 1000 / Double(max(count, 1)))) ms each)" }
            .joined(separator: ", ")
    }
}

/// A long-running child (API server, operator, kubectl watch) registered for cleanup.
final class BenchProcess: Sendable {
    let child: ChildProcess
    let name: String
    private let token: Int

    init(
        name: String, _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        logPath: String
    )
        throws
    {
        self.name = name
        child = try ChildProcess(executable, arguments, environment: environment, logPath: logPath)
        token = CleanupRegistry.shared.register(pid: child.pid)
    }

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }
    var usage: ProcessUsage? { ProcessUsage.read(pid) }

    /// The last lines of its log, for error messages.
    func logTail(_ lines: Int = 30) -> String {
        child.log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(
            separator: "\n")
    }

    /// Runs `body` with the process stopped (SIGSTOP), and continues it (SIGCONT) afterwards,
    /// also when `body` throws. Its connections stay open; what the server sends it waits.
    func whilePaused<T>(_ body: () async throws -> T) async throws -> T {
        guard kill(pid, SIGSTOP) == 0 else { throw BenchError("SIGSTOP to \(name): errno \(errno)") }
        defer { kill(pid, SIGCONT) }
        return try await body()
    }

    /// SIGKILL to it and its children; waits for it to be gone.
    func killTree() {
        if child.isRunning {
            ProcessTree.killTree(pid)
            _ = child.process.waitUntilExit()
        }
        CleanupRegistry.shared.unregister(token)
    }
}

/// Wall-clock seconds since `start`.
func seconds(since start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).seconds
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Times `body` in wall-clock seconds.
func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try await body()
    return (value, seconds(since: start))
}

/// Runs `body` for every item with at most `width` at once; the first error stops the rest.
func concurrentForEach<Item: Sendable>(
    _ items: [Item], width: Int, _ body: @escaping @Sendable (Item) async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var iterator = items.makeIterator()
        for _ in 0..<max(1, width) {
            guard let item = iterator.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            if let item = iterator.next() { group.addTask { try await body(item) } }
        }
    }
}


/// A plain-HTTP GET on 127.0.0.1 (the operator's /readyz and /metrics): status and body.
func httpGet(port: Int, path: String) -> (status: Int, body: String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
        return nil
    }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response.append(contentsOf: buffer[0..<count])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let headerEnd = text.range(of: "\r\n\r\n") else { return nil }
    let statusLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
    var body = String(text[headerEnd.upperBound...])
    if text[..<headerEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") {
        body = dechunk(body)
    }
    return (status, body)
}

private func dechunk(_ text: String) -> String {
    var result = ""
    var rest = Substring(text)
    while let lineEnd = rest.range(of: "\r\n") {
        guard let size = Int(rest[..<lineEnd.lowerBound].split(separator: ";").first ?? "", radix: 16),
            size > 0
        else { break }
        let start = lineEnd.upperBound
        let utf8 = rest[start...].utf8
        let end = utf8.index(utf8.startIndex, offsetBy: min(size, utf8.count))
        result += String(rest[start..<end])
        rest = rest[end...].dropFirst(2)
    }
    return result
}

/// Formats a figure for tables.
func format(_ value: Double, digits: Int = 2) -> String {
    if value.isNaN || value.isInfinite { return "-" }
    return String(format: "%.\(digits)f", value)
}
