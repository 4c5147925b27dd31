import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import KubesnapAPI

/// kubesnap's resources as the client addresses them.
enum Resources {
    static let repositories = APIResource(
        group: "kubesnap.io", version: "v1alpha1", resource: "repositories", kind: "Repository",
        namespaced: true)
    static let snapshots = APIResource(
        group: "kubesnap.io", version: "v1alpha1", resource: "snapshots", kind: "Snapshot", namespaced: true)
    /// The adopt baseline's objects: Snapshots of a copy of the Snapshot CRD in a group of the
    /// bench's own (same schema, validation and status subresource), which the operator does not
    /// watch, so that baseline runs and operator rounds can alternate with the operator running.
    static let baselineSnapshots = APIResource(
        group: "bench.kubesnap.io", version: "v1alpha1", resource: "snapshots", kind: "Snapshot", namespaced: true)
}

/// The restic password of every benchmark repository.
let benchPassword = "kubesnap-bench-password"
let finalizerName = "kubesnap.io/finalizer"

/// `kubesnap apiserver` as its own process with kubesnap's CRDs installed, a work directory
/// (sources, repositories, caches, logs) and clients. `stop()` in a `defer`.
final class BenchCluster: Sendable {
    let work: WorkDirectory
    let tools: Tools
    let apiserver: BenchProcess
    let kubeconfig: String
    /// The library client with the operator's rate limit (`rate`), as the operator uses it.
    let client: KubeClient
    /// The operator's client-side rate limit (`--kube-api-qps`, `--kube-api-burst`).
    let rate: ClientRate
    /// The same library without a client-side rate limit: the load generator.
    let loadClient: KubeClient

    var sourceRoot: String { work.appending("sources") }
    var repositoryRoot: String { work.appending("repositories") }

    private init(work: WorkDirectory, tools: Tools, apiserver: BenchProcess, kubeconfig: String, rate: ClientRate) throws {
        self.work = work
        self.rate = rate
        self.tools = tools
        self.apiserver = apiserver
        self.kubeconfig = kubeconfig
        var configuration = try ClientConfiguration.load(kubeconfig: kubeconfig)
        configuration.qps = rate.qps
        configuration.burst = rate.burst
        client = try KubeClient(configuration: configuration)
        var unlimited = configuration
        unlimited.qps = 0
        unlimited.requestTimeout = .seconds(300)
        loadClient = try KubeClient(configuration: unlimited)
    }

    /// Starts the API server in a fresh work directory and, with `crds`, installs kubesnap's CRDs.
    static func start(tools: Tools, prefix: String, crds: Bool = true, rate: ClientRate = .operatorDefaults) async throws
        -> BenchCluster
    {
        let work = try WorkDirectory(prefix: "kubesnap-bench-\(prefix)")
        do {
            for sub in ["sources", "repositories", "logs"] { _ = try work.makeDirectory(sub) }
            let dataDir = work.appending("api")
            let apiserver = try BenchProcess(
                name: "apiserver", tools.kubesnap, ["apiserver", "--data-dir", dataDir, "--port", "0"],
                logPath: work.appending("logs/apiserver.log"))
            let kubeconfig = dataDir + "/kubeconfig"
            do {
                try await waitUntil(
                    "the API server to write its kubeconfig", timeout: .seconds(60), poll: .milliseconds(50)
                ) {
                    guard apiserver.isRunning else {
                        throw BenchError("the API server exited:\n\(apiserver.logTail())")
                    }
                    return (FileManager.default.fileExists(atPath: kubeconfig), "no \(kubeconfig) yet")
                }
                let cluster = try BenchCluster(
                    work: work, tools: tools, apiserver: apiserver, kubeconfig: kubeconfig, rate: rate)
                if crds { try await cluster.installCRDs() }
                return cluster
            } catch {
                apiserver.killTree()
                throw error
            }
        } catch {
            work.remove()
            throw error
        }
    }

    func stop() {
        apiserver.killTree()
        work.remove()
    }

    private func installCRDs() async throws {
        for file in EmbeddedCRDs.files {
            for document in try YAML.parseAll(file.yaml) {
                try await createCRD(document)
                if document["spec"]["names"]["kind"] == "Snapshot" {
                    try await createCRD(Self.baselineCopy(of: document))
                }
            }
        }
        try await waitUntil(
            "kubesnap's resources to be served", timeout: .seconds(60), poll: .milliseconds(100)
        ) {
            do {
                _ = try await loadClient.list(
                    Resources.snapshots, namespace: nil, options: ListOptions(limit: 1))
                _ = try await loadClient.list(
                    Resources.repositories, namespace: nil, options: ListOptions(limit: 1))
                return (true, "")
            } catch {
                return (false, "\(error)")
            }
        }
    }

    private func createCRD(_ document: JSONValue) async throws {
        do {
            _ = try await loadClient.create(.customResourceDefinitions, namespace: nil, document)
        } catch {
            // Not `catch where error.isAlreadyExists`: with typed throws in an async
            // function that crashes Swift 6.3.1 (MandatoryAllocBoxToStack, signal 11).
            if !error.isAlreadyExists { throw error }
        }
    }

    /// The Snapshot CRD in the group of `Resources.baselineSnapshots`; without short names and
    /// categories, which kubectl would find twice.
    static func baselineCopy(of crd: JSONValue) -> JSONValue {
        let group = Resources.baselineSnapshots.group
        var copy = crd
        copy["metadata"] = ["name": .string("\(Resources.baselineSnapshots.resource).\(group)")]
        copy["spec"]["group"] = .string(group)
        if case .object(var names) = crd["spec"]["names"] {
            names["shortNames"] = nil
            names["categories"] = nil
            copy["spec"]["names"] = .object(names)
        }
        return copy
    }

    // MARK: API server metrics

    /// `apiserver_request_total` from the server's /metrics, fetched with kubectl.
    func requestCounts() async throws -> RequestCounts {
        let result = try await runCommand(
            tools.kubectl, ["--kubeconfig", kubeconfig, "get", "--raw", "/metrics"], timeout: .seconds(60))
        guard result.succeeded else {
            throw BenchError("kubectl get --raw /metrics failed: \(result.stderr)")
        }
        return RequestCounts(exposition: result.stdout)
    }

    // MARK: Objects

    func createNamespace(_ name: String) async throws {
        do {
            _ = try await loadClient.create(
                .namespaces, namespace: nil, ["metadata": ["name": .string(name)]])
        } catch {
            if !error.isAlreadyExists { throw error }
        }
    }

    /// A namespace with the password Secret and a Repository on `path` (inside the repository
    /// root). Does not wait for it to be Ready.
    /// A Repository "repo" in each namespace, each on its own copy of the fixture repository.
    func createRepositories(copying fixture: String, into namespaces: [String]) async throws {
        for namespace in namespaces {
            let path = repositoryRoot + "/" + namespace
            try await SnapshotRepositoryFixture.copy(fixture, to: path)
            try await createRepository(namespace: namespace, path: path)
        }
    }

    func createRepository(namespace: String, name: String = "repo", path: String) async throws {
        try await createNamespace(namespace)
        do {
            _ = try await loadClient.create(
                .secrets, namespace: namespace,
                [
                    "metadata": ["name": "repo-password", "namespace": .string(namespace)],
                    "stringData": ["password": .string(benchPassword)],
                ])
        } catch {
            if !error.isAlreadyExists { throw error }
        }
        _ = try await loadClient.create(
            Resources.repositories, namespace: namespace,
            [
                "metadata": ["name": .string(name), "namespace": .string(namespace)],
                "spec": [
                    "backend": ["local": ["path": .string(path)]],
                    "encryptionSecret": ["name": "repo-password", "key": "password"],
                ],
            ])
    }

    /// Waits until these Repositories are Ready (the operator must be running).
    func waitForRepositoriesReady(
        _ namespaces: [String], name: String = "repo", timeout: Duration = .seconds(120)
    ) async throws {
        let wanted = Set(namespaces)
        try await waitUntil("Repositories to be Ready", timeout: timeout, poll: .milliseconds(250)) {
            let repositories = try await loadClient.list(Resources.repositories, namespace: nil).items
            var notReady: [String] = []
            for namespace in wanted {
                let repository = repositories.first { $0.namespace == namespace && $0.name == name }
                let phase = repository?["status"]["phase"].stringValue ?? "none"
                if phase != "Ready" {
                    let conditions = repository?["status"]["conditions"].description.prefix(300) ?? ""
                    notReady.append("\(namespace)/\(name): \(phase) \(conditions)")
                }
            }
            return (notReady.isEmpty, notReady.prefix(3).joined(separator: "; "))
        }
    }

    /// A Snapshot object that is already Ready and verified (written straight: create with the
    /// finalizer, then status), as the operator would have left it.
    static func readySnapshot(
        namespace: String, name: String, snapshotID: String, location: String, policy: String
    )
        -> (object: JSONValue, status: JSONValue)
    {
        let object: JSONValue = [
            "metadata": [
                "name": .string(name), "namespace": .string(namespace),
                "finalizers": [.string(finalizerName)],
            ],
            "spec": [
                "repository": "repo", "snapshotID": .string(snapshotID), "deletionPolicy": .string(policy),
            ],
        ]
        let now = RFC3339.format(Date())
        let status: JSONValue = [
            "status": [
                "phase": "Ready", "snapshotID": .string(snapshotID), "backendRepository": .string(location),
                "snapshotTime": .string(now), "verificationStatus": "OK", "lastVerifiedTime": .string(now),
                "observedGeneration": 1,
                "conditions": [
                    [
                        "type": "Ready", "status": "True", "reason": "Adopted",
                        "message": "written by kubesnap-bench",
                        "lastTransitionTime": .string(now), "observedGeneration": 1,
                    ],
                    [
                        "type": "Verified", "status": "True", "reason": "VerificationSucceeded",
                        "message": "written by kubesnap-bench", "lastTransitionTime": .string(now),
                        "observedGeneration": 1,
                    ],
                ],
            ]
        ]
        return (object, status)
    }

    /// Creates Ready Snapshots straight (create + status merge patch), `width` at once.
    func createReadySnapshots(
        _ items: [(namespace: String, name: String, id: String)],
        location: @escaping @Sendable (String) -> String, policy: String
    ) async throws {
        let client = loadClient
        try await concurrentForEach(items, width: 16) { item in
            let snapshot = Self.readySnapshot(
                namespace: item.namespace, name: item.name, snapshotID: item.id,
                location: location(item.namespace),
                policy: policy)
            _ = try await client.create(Resources.snapshots, namespace: item.namespace, snapshot.object)
            _ = try await client.patch(
                Resources.snapshots, namespace: item.namespace, name: item.name, type: .merge,
                snapshot.status,
                subresource: "status")
        }
    }

    // MARK: Operators

    /// Starts `kubesnap operator` with restic runs logged through a wrapper script.
    func startOperator(name: String, workers: Int = 4, extraArguments: [String] = []) async throws
        -> OperatorProcess
    {
        let port = try freeTCPPort()
        let wrapper = try ResticWrapper(directory: work.appending("restic-\(name)"), realRestic: tools.restic)
        let process = try BenchProcess(
            name: "operator-\(name)", tools.kubesnap,
            [
                "operator", "--kubeconfig", kubeconfig, "--source-root", sourceRoot, "--repository-root",
                repositoryRoot,
                "--cache-dir", work.appending("cache-\(name)"), "--metrics-bind-address", "127.0.0.1:\(port)",
                "--health-probe-bind-address", "127.0.0.1:\(port)", "--restic", wrapper.path,
                "--workers", String(workers),
            ] + rate.operatorArguments + extraArguments,
            logPath: work.appending("logs/operator-\(name).log"))
        return OperatorProcess(process: process, port: port, restic: wrapper)
    }
}

/// A running operator: its probe/metrics port and the log of its restic runs.
struct OperatorProcess: Sendable {
    let process: BenchProcess
    let port: Int
    let restic: ResticWrapper

    /// Waits until /readyz answers 200 (every informer synced); returns the seconds it took.
    @discardableResult
    func waitReady(timeout: Duration = .seconds(120)) async throws -> Double {
        let start = ContinuousClock.now
        try await waitUntil("operator \(process.name) /readyz", timeout: timeout, poll: .milliseconds(20)) {
            guard process.isRunning else { throw BenchError("\(process.name) exited:\n\(process.logTail())") }
            let answer = httpGet(port: port, path: "/readyz")
            return (
                answer?.status == 200, answer.map { "\($0.status) \($0.body.prefix(200))" } ?? "no answer"
            )
        }
        return seconds(since: start)
    }

    /// The operator's own /metrics text.
    func metrics() -> String { httpGet(port: port, path: "/metrics")?.body ?? "" }

    var isLeader: Bool {
        metrics().split(separator: "\n").contains {
            $0.hasPrefix("leader_election_master_status") && $0.hasSuffix(" 1")
        }
    }
}

/// A shell script first in the operator's `--restic` that appends its arguments to a log, then
/// execs the real restic: counts restic runs by subcommand.
struct ResticWrapper: Sendable {
    let path: String
    let logPath: String

    init(directory: String, realRestic: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/restic"
        logPath = directory + "/runs.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let script = """
            #!/bin/sh
            printf '%s %s\\n' "$(date +%s.%N)" "$*" >> '\(logPath)'
            exec '\(realRestic)' "$@"

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    /// Every run so far, as its subcommand ("snapshots", "dump", "forget --prune", ...).
    func runs() -> [String] { timedRuns().map(\.command) }

    /// "+0.42 forget --prune, +1.10 stats": the runs started at or after `epoch` (seconds since
    /// 1970), each with its start offset.
    func timeline(since epoch: Double) -> String {
        timedRuns().filter { $0.started >= epoch }.map { "+\(format($0.started - epoch)) \($0.command)" }
            .joined(separator: ", ")
    }

    /// Every run so far: when it started (seconds since 1970) and its subcommand.
    func timedRuns() -> [(started: Double, command: String)] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let words = line.split(separator: " ", maxSplits: 1).map(String.init)
            let started = Double(words.first ?? "") ?? 0
            return (started, Self.subcommand(of: words.count > 1 ? words[1] : ""))
        }
    }

    static func subcommand(of line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        var index = 0
        while index < words.count {
            let word = words[index]
            if word == "--repo" || word == "-r" || word == "--cache-dir" || word == "--password-file" {
                index += 2
                continue
            }
            if word.hasPrefix("-") {
                index += 1
                continue
            }
            break
        }
        guard index < words.count else { return "?" }
        let command = words[index]
        if command == "forget" && words.contains("--prune") { return "forget --prune" }
        return command
    }

    /// Runs by subcommand.
    func histogram() -> [String: Int] {
        var counts: [String: Int] = [:]
        for run in runs() { counts[run, default: 0] += 1 }
        return counts
    }
}

/// `apiserver_request_total` by verb, group, resource, subresource and code.
struct RequestCounts: Sendable {
    struct Key: Hashable, Sendable {
        var verb, group, resource, subresource, code: String
    }
    var counts: [Key: Double] = [:]

    init(exposition: String) {
        for line in exposition.split(separator: "\n") where line.hasPrefix("apiserver_request_total{") {
            guard let close = line.lastIndex(of: "}"),
                let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            var labels: [String: String] = [:]
            let inner = line[line.index(line.startIndex, offsetBy: "apiserver_request_total{".count)..<close]
            var rest = Substring(inner)
            while let equals = rest.firstIndex(of: "=") {
                let name = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                let afterQuote = rest.index(equals, offsetBy: 2, limitedBy: rest.endIndex) ?? rest.endIndex
                guard let endQuote = rest[afterQuote...].firstIndex(of: "\"") else { break }
                labels[name] = String(rest[afterQuote..<endQuote])
                rest = rest[rest.index(after: endQuote)...]
            }
            let key = Key(
                verb: labels["verb"] ?? "", group: labels["group"] ?? "", resource: labels["resource"] ?? "",
                subresource: labels["subresource"] ?? "", code: labels["code"] ?? "")
            counts[key, default: 0] += value
        }
    }

    private init(counts: [Key: Double]) { self.counts = counts }

    /// Requests since `earlier`.
    func minus(_ earlier: RequestCounts) -> RequestCounts {
        var result = counts
        for (key, value) in earlier.counts { result[key, default: 0] -= value }
        return RequestCounts(counts: result.filter { $0.value != 0 })
    }

    static let writeVerbs: Set<String> = ["create", "update", "patch", "delete", "deletecollection"]

    /// Total of requests matching `filter`.
    func total(_ filter: (Key) -> Bool) -> Int {
        Int(counts.filter { filter($0.key) }.values.reduce(0, +))
    }

    /// Writes (create/update/patch/delete) to `resource` (any subresource).
    func writes(resource: String) -> Int {
        total { Self.writeVerbs.contains($0.verb) && $0.resource == resource }
    }

    /// "verb resource[/sub]=count" for the table, largest first.
    var summary: String {
        var byVerb: [String: Double] = [:]
        for (key, value) in counts where key.resource != "" {
            let name = key.verb + " " + key.resource + (key.subresource.isEmpty ? "" : "/" + key.subresource)
            byVerb[name, default: 0] += value
        }
        return byVerb.sorted { $0.value > $1.value }.map { "\($0.key)=\(Int($0.value))" }.joined(
            separator: ", ")
    }
}

/// A client-side rate limit, for the operator and for the baseline that stands for it.
struct ClientRate: Sendable {
    var qps: Double
    var burst: Int
    /// `kubesnap operator`'s defaults.
    static let operatorDefaults = ClientRate(qps: 0, burst: 100)

    var operatorArguments: [String] {
        ["--kube-api-qps", String(qps), "--kube-api-burst", String(burst)]
    }
}
