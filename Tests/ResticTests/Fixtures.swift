import Foundation
import KubeTestSupport
import Testing

@testable import Restic

/// A tool the tests need; missing means a clear failure, never a silent skip.
struct MissingTool: Error, CustomStringConvertible {
    var name: String
    var description: String { "\(name) is required by the Restic tests but is not in PATH; install it (see the brief)" }
}

func toolPath(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw MissingTool(name: name)
}

/// A loopback TCP port that nothing listens on (bound to port 0, then closed).
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Random bytes (restic deduplicates; random data makes pack files that belong to one backup).
func randomData(_ count: Int) -> Data {
    guard let handle = FileHandle(forReadingAtPath: "/dev/urandom") else { return Data(count: count) }
    defer { try? handle.close() }
    return handle.readData(ofLength: count)
}

/// A temp dir holding a source tree and a local repository location, removed by `remove()`.
struct LocalFixture {
    let directory: TemporaryDirectory
    let repositoryPath: String
    let cachePath: String
    let password = "correct horse battery staple"

    init(prefix: String = "restic") throws {
        directory = try TemporaryDirectory(prefix: prefix)
        repositoryPath = directory.appending("repo")
        cachePath = directory.appending("cache")
    }

    func repository(
        password: String? = nil, cancellation: CancellationPolicy = CancellationPolicy(),
        registry: ResticProcessRegistry? = nil, executable: String? = nil
    ) throws -> ResticRepository {
        try ResticRepository(
            backend: .local(path: repositoryPath), password: password ?? self.password, cacheDirectory: cachePath,
            executable: try executable ?? toolPath("restic"), cancellation: cancellation, registry: registry)
    }

    /// The repository, initialized, with `snapshots` backups of small sources; their ids in order.
    func initializedRepository(snapshots count: Int = 0) async throws -> (ResticRepository, [String]) {
        let repository = try repository()
        try await repository.initialize()
        var ids: [String] = []
        for index in 0..<count { ids.append(try await repository.backup(path: try source("s\(index)")).snapshotID) }
        return (repository, ids)
    }

    /// The repositories restic keeps a cache of in `cachePath` (its directories named by
    /// repository id).
    func cachedRepositories() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cachePath)) ?? []).filter {
            $0.count == 64 && $0.allSatisfy(\.isHexDigit)
        }
    }

    /// Writes a source directory with `files` random files of `size` bytes; returns its path.
    func source(_ name: String, files: Int = 3, size: Int = 40_000) throws -> String {
        let root = directory.appending(name)
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        for index in 0..<files {
            let file = index % 2 == 0 ? "\(root)/file\(index).bin" : "\(root)/sub/file\(index).bin"
            try randomData(size).write(to: URL(fileURLWithPath: file))
        }
        try "hello \(name)\n".write(toFile: root + "/hello.txt", atomically: true, encoding: .utf8)
        return root
    }

    /// Every file under the repository's data/ directory.
    func packFiles() -> Set<String> {
        let data = repositoryPath + "/data"
        let enumerator = FileManager.default.enumerator(atPath: data)
        var result: Set<String> = []
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = data + "/" + relative
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                result.insert(full)
            }
        }
        return result
    }

    /// The sizes of every file under the repository, as `find` reports them.
    func repositoryBytesOnDisk() async throws -> Int64 {
        let listed = try await runCommand("/usr/bin/find", [repositoryPath, "-type", "f", "-printf", "%s\n"])
        guard listed.succeeded else { throw ResticError.invalidArgument("find failed: \(listed)") }
        return listed.stdout.split(separator: "\n").reduce(0) { $0 + (Int64($1) ?? 0) }
    }

    /// Files in the repository's locks/ directory.
    func lockFiles() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: repositoryPath + "/locks")) ?? []
    }

    func remove() { directory.remove() }
}

/// Pids of running processes whose command line mentions `needle` (read from /proc).
func processes(mentioning needle: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else {
            return nil
        }
        let commandLine = String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        // A zombie has an empty cmdline and is not running anything.
        return commandLine.contains(needle) ? pid : nil
    }
}

/// Runs the restic CLI directly (the way a person without kubesnap would).
func resticCLI(_ arguments: [String], repository: String, password: String, extraEnvironment: [String: String] = [:])
    async throws -> CommandResult
{
    var environment = ProcessInfo.processInfo.environment
    environment["RESTIC_PASSWORD"] = password
    environment.merge(extraEnvironment) { _, new in new }
    return try await runCommand(try toolPath("restic"), ["-r", repository, "--no-cache"] + arguments, environment: environment)
}

/// A server process started by a test, with the port it printed.
struct ServedProcess {
    let child: ChildProcess
    let port: Int
}

/// Starts `executable` and waits for its log to show `http://127.0.0.1:PORT`.
func startServer(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String]? = nil)
    async throws -> ServedProcess
{
    let child = try ChildProcess(executable, arguments, environment: environment, logPath: logPath)
    do {
        let port: Int = try await waitFor("\(executable) to print its address", timeout: .seconds(60)) {
            guard child.isRunning else { throw TestFailure("\(executable) exited: \(child.log)") }
            let log = child.log
            guard let range = log.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
                let port = Int(log[range].split(separator: ":").last ?? "")
            else { return .notYet(log.isEmpty ? "empty log" : log) }
            return .done(port)
        }
        return ServedProcess(child: child, port: port)
    } catch {
        await child.stop()
        throw error
    }
}

/// moto_server does not check credentials; these are what the tests send.
let motoCredentials = S3Credentials(accessKeyID: "kubesnap-test", secretAccessKey: "kubesnap-test-secret")

/// Starts moto_server on loopback with a bucket "backups", and the S3 backend of a repository at
/// `prefix` in it (not initialized).
func startMotoRepository(_ fixture: LocalFixture, prefix: String) async throws -> (ServedProcess, ResticBackend) {
    let moto = try await startServer(
        try toolPath("moto_server"), ["-H", "127.0.0.1", "-p", "0"], logPath: fixture.directory.appending("moto.log"))
    let endpoint = "http://127.0.0.1:\(moto.port)"
    var environment = ProcessInfo.processInfo.environment
    environment["AWS_ACCESS_KEY_ID"] = motoCredentials.accessKeyID
    environment["AWS_SECRET_ACCESS_KEY"] = motoCredentials.secretAccessKey.revealed
    environment["AWS_DEFAULT_REGION"] = "us-east-1"
    let bucket = try await runCommand(
        try toolPath("aws"), ["--endpoint-url", endpoint, "s3api", "create-bucket", "--bucket", "backups"],
        environment: environment)
    guard bucket.succeeded else {
        moto.child.kill9()
        throw TestFailure("cannot make the bucket: \(bucket)")
    }
    return (
        moto,
        .s3(endpoint: endpoint, bucket: "backups", prefix: prefix, region: "us-east-1", credentials: motoCredentials)
    )
}

/// A test setup step that failed.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
