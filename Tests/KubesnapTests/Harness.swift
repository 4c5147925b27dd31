import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubeTestSupport
import KubesnapAPI
import Logging
import Testing

@testable import Kubesnap

/// A running API server with kubesnap's CRDs, a client, an operator running in-process, and
/// temporary source and repository roots. `withOperator` tears everything down, even on failure.
struct Harness: Sendable {
    let api: TestAPIServer
    let client: KubeClient
    let root: TemporaryDirectory
    let configuration: OperatorConfiguration
    let runner: OperatorRunner

    /// Stops the operator (as a restart would: its memory is gone, the API server's objects and
    /// the repositories stay) and starts a new one with the same configuration.
    func restartOperator() async {
        await runner.stop()
        runner.start()
    }

    var sourceRoot: String { configuration.sourceRoot }
    var repositoryRoot: String { configuration.repositoryRoot }

    static let repositories = Repository.apiResource
    static let snapshots = Snapshot.apiResource
    static let sessions = BackupSession.apiResource
    static let restores = RestoreSession.apiResource
    static let schedules = BackupSchedule.apiResource

    /// Makes a source directory with a few files under the source root; returns its relative name.
    func makeSource(_ name: String, files: [String: String]) throws -> String {
        let directory = (sourceRoot as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (file, contents) in files {
            try contents.write(toFile: (directory as NSString).appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        return name
    }

    func createSecret(_ namespace: String, _ name: String, password: String) async throws {
        let secret: JSONValue = [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "data": ["password": .string(Data(password.utf8).base64EncodedString())],
        ]
        _ = try await client.create(.secrets, namespace: namespace, secret)
    }

    /// A Secret `pw` holding `password`, and the Repository `name` at `path` (under the
    /// repository root) that uses it, once Ready.
    func readyRepository(_ namespace: String, _ name: String, path: String, password: String) async throws {
        try await createSecret(namespace, "pw", password: password)
        try await createRepository(namespace, name, path: path, secret: "pw")
        try await waitForPhase(Self.repositories, namespace, name, "Ready")
    }

    @discardableResult
    func createRepository(
        _ namespace: String, _ name: String, path: String, secret: String, deletionPolicy: String? = nil
    ) async throws -> JSONValue {
        var spec: JSONValue = [
            "backend": ["local": ["path": .string(path)]],
            "encryptionSecret": ["name": .string(secret)],
        ]
        if let deletionPolicy { spec["deletionPolicy"] = .string(deletionPolicy) }
        return try await client.create(
            Self.repositories, namespace: namespace,
            [
                "apiVersion": "kubesnap.io/v1alpha1", "kind": "Repository",
                "metadata": ["name": .string(name), "namespace": .string(namespace)], "spec": spec,
            ])
    }

    @discardableResult
    func createSnapshot(
        _ namespace: String, _ name: String, repository: String, source: String? = nil, snapshotID: String? = nil,
        deletionPolicy: String? = nil
    ) async throws -> JSONValue {
        var spec: JSONValue = ["repository": .string(repository)]
        if let source { spec["source"] = ["path": .string(source)] }
        if let snapshotID { spec["snapshotID"] = .string(snapshotID) }
        if let deletionPolicy { spec["deletionPolicy"] = .string(deletionPolicy) }
        return try await client.create(
            Self.snapshots, namespace: namespace,
            [
                "apiVersion": "kubesnap.io/v1alpha1", "kind": "Snapshot",
                "metadata": ["name": .string(name), "namespace": .string(namespace)], "spec": spec,
            ])
    }

    func get(_ resource: APIResource, _ namespace: String, _ name: String) async throws -> JSONValue? {
        do {
            return try await client.get(resource, namespace: namespace, name: name)
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
    }

    /// A short description of an object's status for wait messages.
    static func describe(_ object: JSONValue?) -> String {
        guard let object else { return "object absent" }
        let status = object["status"]
        let conditions = (status["conditions"].arrayValue ?? []).map {
            "\($0["type"].stringValue ?? "")=\($0["status"].stringValue ?? "")(\($0["reason"].stringValue ?? ""): \($0["message"].stringValue ?? ""))"
        }
        return
            "phase=\(status["phase"].stringValue ?? "-") verification=\(status["verificationStatus"].stringValue ?? "-") conditions=\(conditions) finalizers=\(object["metadata"]["finalizers"]) deleting=\(!object["metadata"]["deletionTimestamp"].isNull)"
    }

    /// The message of the Ready condition.
    static func readyMessage(_ object: JSONValue) -> String {
        object["status"]["conditions"].arrayValue?.first { $0["type"] == "Ready" }?["message"].stringValue ?? ""
    }

    /// Waits until the object's status satisfies `condition`; returns the object.
    @discardableResult
    func waitForStatus(
        _ resource: APIResource, _ namespace: String, _ name: String, _ what: String, timeout: Duration = .seconds(60),
        _ condition: @escaping (JSONValue) -> Bool
    ) async throws -> JSONValue {
        try await waitFor("\(resource.resource) \(namespace)/\(name): \(what)", timeout: timeout) {
            let object = try await get(resource, namespace, name)
            if let object, condition(object) { return .done(object) }
            return .notYet(Self.describe(object))
        }
    }

    @discardableResult
    func waitForPhase(
        _ resource: APIResource, _ namespace: String, _ name: String, _ phase: String, timeout: Duration = .seconds(60)
    ) async throws -> JSONValue {
        try await waitForStatus(resource, namespace, name, "phase \(phase)", timeout: timeout) {
            $0["status"]["phase"].stringValue == phase
        }
    }

    /// Waits until the object is gone from the API server.
    func waitForGone(_ resource: APIResource, _ namespace: String, _ name: String, timeout: Duration = .seconds(60)) async throws {
        try await waitUntil("\(resource.resource) \(namespace)/\(name) to be gone", timeout: timeout) {
            let object = try await get(resource, namespace, name)
            return (object == nil, Self.describe(object))
        }
    }

    /// Waits for a condition's reason.
    @discardableResult
    func waitForReason(
        _ resource: APIResource, _ namespace: String, _ name: String, phase: String, reason: String,
        timeout: Duration = .seconds(60)
    ) async throws -> JSONValue {
        try await waitForStatus(resource, namespace, name, "phase \(phase) with Ready reason \(reason)", timeout: timeout) {
            object in
            object["status"]["phase"].stringValue == phase
                && (object["status"]["conditions"].arrayValue ?? []).contains {
                    $0["type"].stringValue == "Ready" && $0["reason"].stringValue == reason
                }
        }
    }

    /// `restic snapshots --json` of a local repository, run by the real restic CLI.
    func resticSnapshots(repository path: String, password: String) async throws -> [JSONValue] {
        let result = try await restic(["-r", path, "--no-lock", "snapshots", "--json"], password: password)
        guard result.succeeded else { throw TestFailure("restic snapshots: \(result)") }
        return try JSONValue.parse(Data(result.stdout.utf8)).arrayValue ?? []
    }

    /// The sizes of every file under `path` (a local repository), as `find` reports them.
    func bytesOnDisk(_ path: String) async throws -> Int64 {
        let listed = try await runCommand("/usr/bin/find", [path, "-type", "f", "-printf", "%s\n"])
        guard listed.succeeded else { throw TestFailure("find: \(listed)") }
        return listed.stdout.split(separator: "\n").reduce(0) { $0 + (Int64($1) ?? 0) }
    }

    func restic(_ arguments: [String], password: String) async throws -> CommandResult {
        try await runCommand(
            "/usr/bin/restic", ["--cache-dir", root.appending("test-restic-cache")] + arguments,
            environment: [
                "RESTIC_PASSWORD": password, "PATH": "/usr/bin:/bin", "HOME": root.path,
            ])
    }

    /// Event reasons recorded about an object.
    func eventReasons(_ namespace: String, about name: String) async throws -> [String] {
        let events = try await client.list(.events, namespace: namespace)
        return events.items.filter { $0["involvedObject"]["name"].stringValue == name }.compactMap { $0["reason"].stringValue }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The repository's root directory (for crds/).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// Starts an API server with the CRDs, runs the operator in-process while `body` runs, and
/// tears everything down (operator, server, temporary directories) even when `body` throws.
///
/// `adjustCRD` rewrites each CRD document of `crds/` before it is installed (e.g. to install an
/// older Snapshot CRD without its validation rules).
func withOperator(
    configure: (inout OperatorConfiguration) -> Void = { _ in },
    adjustCRD: (JSONValue) -> JSONValue = { $0 },
    _ body: @Sendable (Harness) async throws -> Void
) async throws {
    let api = try await TestAPIServer.start()
    let root: TemporaryDirectory
    do {
        root = try TemporaryDirectory(prefix: "kubesnap-e2e")
    } catch {
        await api.stop()
        throw error
    }
    do {
        let clientConfiguration = try ClientConfiguration.load(kubeconfig: api.kubeconfigPath, environment: [:])
        let client = try KubeClient(configuration: clientConfiguration)
        for file in ["repositories.yaml", "snapshots.yaml", "backupsessions.yaml", "restoresessions.yaml", "backupschedules.yaml"] {
            let text = try String(contentsOfFile: "\(packageRoot)/crds/\(file)", encoding: .utf8)
            for document in try YAML.parseAll(text) { try await api.server.apply(adjustCRD(document)) }
        }
        for resource in [Harness.repositories, Harness.snapshots, Harness.sessions, Harness.restores, Harness.schedules] {
            try await waitUntil("\(resource.resource) to be served") {
                do {
                    _ = try await client.list(resource, namespace: "default")
                    return (true, "")
                } catch {
                    return (false, "\(error)")
                }
            }
        }
        let sources = root.appending("sources")
        let repositories = root.appending("repositories")
        try FileManager.default.createDirectory(atPath: sources, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repositories, withIntermediateDirectories: true)
        var configuration = OperatorConfiguration(
            client: clientConfiguration, sourceRoot: sources, repositoryRoot: repositories,
            cacheDirectory: root.appending("cache"))
        configuration.healthProbeBindAddress = "127.0.0.1:0"
        configuration.metricsBindAddress = nil
        configuration.workers = 4
        configuration.missingRepositoryTimeout = .seconds(3)
        configuration.pruneBatchWindow = .milliseconds(500)
        configuration.pruneDelay = .seconds(1)
        configuration.maxRetryDelay = .seconds(2)
        configuration.gracePeriod = .seconds(5)
        configure(&configuration)
        let runner = OperatorRunner(configuration: configuration)
        let harness = Harness(api: api, client: client, root: root, configuration: configuration, runner: runner)
        runner.start()
        do {
            try await body(harness)
        } catch {
            await runner.stop()
            throw error
        }
        await runner.stop()
    } catch {
        await api.stop()
        root.remove()
        throw error
    }
    await api.stop()
    root.remove()
}

/// `withOperator` whose restic runs through a fresh `ResticWrapper` (each run logged; sources
/// named for it vanish or hold), handed to `body` beside the harness and removed afterwards.
func withWrappedRestic(
    configure: (inout OperatorConfiguration) -> Void = { _ in },
    _ body: @Sendable (Harness, ResticWrapper) async throws -> Void
) async throws {
    let wrapper = try ResticWrapper()
    defer { wrapper.remove() }
    try await withOperator(configure: {
        $0.resticExecutable = wrapper.executable
        configure(&$0)
    }) { h in try await body(h, wrapper) }
}

/// The operator under test, run in this process as a task that a test can stop and start again.
final class OperatorRunner: Sendable {
    let configuration: OperatorConfiguration
    private let running = Locked<Task<Void, any Error>?>(nil)

    init(configuration: OperatorConfiguration) { self.configuration = configuration }

    func start() {
        let configuration = configuration
        running.withLock {
            $0 = Task { try await KubesnapOperator(configuration: configuration, logger: Logger(label: "kubesnap.test")).run() }
        }
    }

    /// Cancels the operator (its graceful shutdown) and waits until it has stopped.
    func stop() async {
        guard let task = running.withLock({ $0.take() }) else { return }
        task.cancel()
        _ = await task.result
    }
}

extension OperatorConfiguration {
    /// /healthz, /readyz and /metrics of the operator under test on `127.0.0.1:port`.
    mutating func serveHealthAndMetrics(on port: Int) {
        healthProbeBindAddress = "127.0.0.1:\(port)"
        metricsBindAddress = "127.0.0.1:\(port)"
    }
}

/// Sum of the operator's `controller_runtime_reconcile_total` for one controller, scraped
/// from its `/metrics` as Prometheus would.
func reconcileCount(metricsPort: Int, controller: String) async throws -> Int {
    Int(try await metricSum(metricsPort: metricsPort, "controller_runtime_reconcile_total", ["controller=\"\(controller)\""]))
}

/// Sum of the series of metric `name` (a counter or gauge) on the operator's `/metrics` whose
/// labels include every one of `labels` (each written `key="value"`).
func metricSum(metricsPort: Int, _ name: String, _ labels: [String] = []) async throws -> Double {
    let result = try await runCommand("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(metricsPort)/metrics"])
    guard result.succeeded else { throw TestFailure("curl /metrics: \(result)") }
    var total = 0.0
    for line in result.stdout.split(separator: "\n")
    where (line.hasPrefix(name + "{") || line.hasPrefix(name + " ")) && labels.allSatisfy({ line.contains($0) }) {
        total += Double(line.split(separator: " ").last ?? "") ?? 0
    }
    return total
}
