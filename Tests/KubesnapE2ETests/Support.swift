// Shared plumbing of the end-to-end suite: where the `kubesnap` binary and the repository are,
// how to start `kubesnap dev` / `apiserver` / `operator` as real processes, and a small kubectl
// wrapper. Every process and directory started here is removed by the caller's `defer`.
import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// A failed expectation of the end-to-end plumbing (a missing binary, an unexpected output).
struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum E2E {
    /// The repository's root, found from this file's path (Tests/KubesnapE2ETests/Support.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let kubectlPath = "/usr/bin/kubectl"

    /// The restic binary: `$RESTIC` if set, else the first `restic` on PATH, else /usr/bin/restic.
    static let resticPath: String = {
        if let explicit = ProcessInfo.processInfo.environment["RESTIC"], !explicit.isEmpty { return explicit }
        return which("restic") ?? "/usr/bin/restic"
    }()

    /// The first executable called `name` on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The `kubesnap` binary built next to this test bundle (`swift build --build-tests` builds it,
    /// since this target depends on the executable target): found by walking up from the running
    /// executable's directory.
    static func kubesnapBinary() throws -> String { try builtBinary("kubesnap") }

    /// An executable of this package (`kubesnap`, `kubesnap-bench`) built next to this test bundle.
    static func builtBinary(_ name: String) throws -> String {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        var tried: [String] = []
        for _ in 0..<6 {
            let candidate = directory.appendingPathComponent(name).path
            tried.append(candidate)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory),
                !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        throw E2EError(
            "no \(name) binary next to the test bundle (tried \(tried.joined(separator: ", "))); build with `swift build --build-tests`"
        )
    }

    /// The environment for child processes: this process's, plus `extra`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "KUBECONFIG")
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// The last `lines` lines of a log, for failure messages.
    static func tail(_ text: String, lines: Int = 40) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }


    /// Copies `relative` (a file or directory of the repository) to `destination`.
    static func copyFromRepository(_ relative: String, to destination: String) throws {
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/" + relative, toPath: destination)
    }
}

/// A `kubesnap` child process with its log; `kill9()` it in a `defer`.
final class KubesnapProcess: Sendable {
    let child: ChildProcess
    /// Where the process writes its kubeconfig (`apiserver`, `dev`), if it does.
    let kubeconfigPath: String?

    private init(child: ChildProcess, kubeconfigPath: String?) {
        self.child = child
        self.kubeconfigPath = kubeconfigPath
    }

    /// Starts `kubesnap <arguments>` in `directory`, logging to `logPath`.
    static func start(
        _ arguments: [String], directory: String, logPath: String, kubeconfigPath: String? = nil,
        environment: [String: String] = [:]
    ) throws -> KubesnapProcess {
        let child = try ChildProcess(
            try E2E.kubesnapBinary(), arguments, environment: E2E.environment(environment),
            directory: directory,
            logPath: logPath)
        return KubesnapProcess(child: child, kubeconfigPath: kubeconfigPath)
    }

    /// `kubesnap dev --port 0 --data-dir DATA_DIR`, waiting until it wrote its kubeconfig.
    static func dev(
        in directory: String, dataDir: String = ".kubesnap", extraArguments: [String] = [],
        logName: String = "dev.log"
    ) async throws -> KubesnapProcess {
        let absoluteDataDir = dataDir.hasPrefix("/") ? dataDir : directory + "/" + dataDir
        let stale = fileIdentity(absoluteDataDir + "/kubeconfig")
        let process = try start(
            // The console on a free port: tests run several devs at once.
            ["dev", "--port", "0", "--data-dir", dataDir, "--console-address", "127.0.0.1:0"] + extraArguments, directory: directory,
            logPath: directory + "/" + logName, kubeconfigPath: absoluteDataDir + "/kubeconfig")
        try await process.waitForKubeconfig(replacing: stale)
        // What a person waits for before pasting commands: the banner printed once the CRDs are in.
        try await waitUntil(
            "kubesnap dev to print that it is running", timeout: .seconds(60), poll: .milliseconds(100)
        ) {
            if !process.isRunning { throw E2EError("kubesnap dev exited: \(E2E.tail(process.log))") }
            return (process.log.contains("kubesnap dev is running"), E2E.tail(process.log, lines: 5))
        }
        return process
    }

    /// The inode and modification time of `path`, or nil if there is no such file (a kubeconfig
    /// left by an earlier run must not be taken for the new server's).
    static func fileIdentity(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_ino)-\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    /// `kubesnap apiserver --port 0 --data-dir DATA_DIR`, waiting until it wrote its kubeconfig.
    static func apiserver(dataDir: String, logPath: String, extraArguments: [String] = []) async throws
        -> KubesnapProcess
    {
        let stale = fileIdentity(dataDir + "/kubeconfig")
        let process = try start(
            ["apiserver", "--port", "0", "--data-dir", dataDir] + extraArguments,
            directory: (dataDir as NSString).deletingLastPathComponent, logPath: logPath,
            kubeconfigPath: dataDir + "/kubeconfig")
        try await process.waitForKubeconfig(replacing: stale)
        return process
    }

    /// `kubesnap operator` against `kubeconfig`, with probes on a free port and metrics off;
    /// `restic` is the real one unless given, `environment` is added to this process's.
    static func operatorProcess(
        kubeconfig: String, sourceRoot: String, repositoryRoot: String, cacheDir: String, logPath: String,
        extraArguments: [String] = [], restic: String = E2E.resticPath, environment: [String: String] = [:]
    ) throws -> KubesnapProcess {
        try start(
            [
                "operator", "--kubeconfig", kubeconfig, "--source-root", sourceRoot, "--repository-root",
                repositoryRoot, "--cache-dir", cacheDir, "--health-probe-bind-address", "127.0.0.1:0",
                "--metrics-bind-address", "0", "--restic", restic,
            ] + extraArguments, directory: (logPath as NSString).deletingLastPathComponent, logPath: logPath,
            environment: environment)
    }

    /// Waits until the kubeconfig exists and is not the file `stale` (see `fileIdentity`).
    func waitForKubeconfig(replacing stale: String?, timeout: Duration = .seconds(60)) async throws {
        guard let kubeconfigPath else { return }
        try await waitUntil("\(kubeconfigPath) to be written", timeout: timeout, poll: .milliseconds(100)) {
            if let current = Self.fileIdentity(kubeconfigPath), current != stale { return (true, "") }
            if !child.isRunning {
                throw E2EError(
                    "kubesnap exited with \(child.terminationStatus.map(String.init) ?? "?"): \(E2E.tail(child.log))")
            }
            return (false, "no kubeconfig yet; log: \(E2E.tail(child.log, lines: 5))")
        }
    }

    var log: String { child.log }
    var isRunning: Bool { child.isRunning }
    /// SIGKILLs the process and everything it started (restic), as a pod kill would, so no
    /// orphan writes into a directory the test is about to remove.
    func kill9() {
        let descendants = child.isRunning ? ProcessTree.descendants(of: child.pid) : []
        child.kill9()
        for pid in descendants { kill(pid, SIGKILL) }
    }
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async -> Int32? {
        await child.stop(signal: signal, timeout: timeout)
    }
}

/// kubectl against one kubeconfig.
struct Kubectl: Sendable {
    var kubeconfig: String
    var directory: String? = nil

    /// Runs `kubectl --kubeconfig K <arguments>`.
    func run(_ arguments: [String], input: String? = nil, timeout: Duration = .seconds(60)) async throws
        -> CommandResult
    {
        try await runCommand(
            E2E.kubectlPath, ["--kubeconfig", kubeconfig] + arguments, environment: E2E.environment(),
            input: input,
            directory: directory, timeout: timeout)
    }

    /// Runs kubectl and throws (with its output) unless it exits 0.
    @discardableResult
    func succeed(_ arguments: [String], input: String? = nil, timeout: Duration = .seconds(60)) async throws
        -> String
    {
        let result = try await run(arguments, input: input, timeout: timeout)
        guard result.succeeded else {
            throw E2EError("kubectl \(arguments.joined(separator: " ")) failed: \(result)")
        }
        return result.stdout
    }

    /// `kubectl apply -f -` of `yaml`.
    func apply(_ yaml: String) async throws {
        try await succeed(["apply", "-f", "-"], input: yaml)
    }

    /// The object as JSON, or nil if it does not exist.
    func get(_ resource: String, _ name: String, namespace: String? = nil) async throws -> JSONValue? {
        var arguments = ["get", resource, name, "-o", "json"]
        if let namespace { arguments += ["-n", namespace] }
        let result = try await run(arguments)
        if !result.succeeded {
            if result.stderr.contains("NotFound") || result.stderr.contains("not found") { return nil }
            throw E2EError("kubectl get \(resource) \(name) failed: \(result)")
        }
        return try JSONValue.parse(result.stdout)
    }

    /// Waits until the object satisfies `done`; `rejected` stops the wait early with an error
    /// (e.g. a phase that must never be reached). Says what it saw.
    @discardableResult
    func waitForObject(
        _ resource: String, _ name: String, namespace: String?, _ what: String,
        timeout: Duration = .seconds(120),
        rejected: @Sendable (JSONValue) -> String? = { _ in nil }, done: @Sendable (JSONValue) -> Bool
    ) async throws -> JSONValue {
        let outcome: Result<JSONValue, UnexpectedState> = try await waitFor(
            "\(resource)/\(name) \(what)", timeout: timeout, poll: .milliseconds(300)
        ) {
            guard let object = try await get(resource, name, namespace: namespace) else {
                return .notYet("\(resource)/\(name) does not exist")
            }
            if let reason = rejected(object) {
                return .done(
                    .failure(
                        UnexpectedState(
                            description:
                                "\(resource)/\(name) \(reason) while waiting for it \(what); status: \(object["status"].serialized())"
                        )))
            }
            return done(object)
                ? .done(.success(object)) : .notYet("status: \(object["status"].serialized())")
        }
        return try outcome.get()
    }

    /// `kubectl delete` that waits for the finalizers; on failure, says the object's status.
    func deleteAndWait(
        _ resource: String, _ name: String, namespace: String, timeout: Int = 150, log: String = ""
    )
        async throws
    {
        let result = try await run(
            ["delete", resource, name, "-n", namespace, "--timeout=\(timeout)s"],
            timeout: .seconds(timeout + 30))
        guard result.succeeded else {
            let object = try? await get(resource, name, namespace: namespace)
            throw E2EError(
                "kubectl delete \(resource) \(name) did not finish: \(result.stderr)\nmetadata: \(object?["metadata"].serialized() ?? "-")\nstatus: \(object?["status"].serialized() ?? "-")\n\(E2E.tail(log, lines: 30))"
            )
        }
    }

    /// Waits until the object is gone.
    func waitForDeletion(
        _ resource: String, _ name: String, namespace: String?, timeout: Duration = .seconds(120)
    )
        async throws
    {
        try await waitUntil("\(resource)/\(name) to be deleted", timeout: timeout, poll: .milliseconds(300)) {
            guard let object = try await get(resource, name, namespace: namespace) else { return (true, "") }
            return (
                false,
                "still there: metadata \(object["metadata"].serialized()), status \(object["status"].serialized())"
            )
        }
    }
}

/// A state a wait must never pass through (it ends the wait at once).
struct UnexpectedState: Error, CustomStringConvertible {
    var description: String
}

/// `restic` against one repository.
struct ResticCLI: Sendable {
    var repository: String
    var password: String
    var extraEnvironment: [String: String] = [:]
    var cacheDir: String

    func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> CommandResult {
        var environment = E2E.environment(extraEnvironment)
        environment["RESTIC_PASSWORD"] = password
        environment["RESTIC_REPOSITORY"] = repository
        environment["RESTIC_CACHE_DIR"] = cacheDir
        return try await runCommand(E2E.resticPath, arguments, environment: environment, timeout: timeout)
    }

    /// `restic snapshots --json [--tag T]`, as parsed JSON entries.
    func snapshots(tag: String? = nil) async throws -> [JSONValue] {
        var arguments = ["snapshots", "--json", "--no-lock"]
        if let tag { arguments += ["--tag", tag] }
        let result = try await run(arguments)
        guard result.succeeded else { throw E2EError("restic snapshots failed: \(result)") }
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty || text == "null" { return [] }
        return try JSONValue.parse(text).arrayValue ?? []
    }
}

extension JSONValue {
    /// `status.phase`, or "".
    var phase: String { self["status"]["phase"].stringValue ?? "" }
    /// The reason of the status condition `type`, or "".
    func conditionReason(_ type: String) -> String {
        for condition in self["status"]["conditions"].arrayValue ?? []
        where condition["type"].stringValue == type {
            return condition["reason"].stringValue ?? ""
        }
        return ""
    }
}
