import Foundation
import KubeJSON
import KubeTestSupport

/// `kubesnap apiserver` as one process with kubesnap's CRDs installed from crds/, plus the
/// directories an operator process needs. `kill()` it in a `defer`, then `directory.remove()`.
final class E2ECluster: Sendable {
    let directory: TemporaryDirectory
    let apiserver: KubesnapProcess
    let kubectl: Kubectl
    var sourceRoot: String { directory.appending("sources") }
    var repositoryRoot: String { directory.appending("repositories") }
    var auditLogPath: String { directory.appending("audit.log") }

    private init(directory: TemporaryDirectory, apiserver: KubesnapProcess) {
        self.directory = directory
        self.apiserver = apiserver
        kubectl = Kubectl(kubeconfig: directory.appending("api/kubeconfig"))
    }

    /// Starts the API server (with the audit log at `auditLogPath` if `audit`), installs the CRDs
    /// and waits until they serve. On failure everything started is removed.
    static func start(prefix: String, audit: Bool = false) async throws -> E2ECluster {
        let directory = try TemporaryDirectory(prefix: prefix)
        do {
            for sub in ["sources", "repositories", "logs"] {
                try FileManager.default.createDirectory(
                    atPath: directory.appending(sub), withIntermediateDirectories: true)
            }
            let apiserver = try await KubesnapProcess.apiserver(
                dataDir: directory.appending("api"), logPath: directory.appending("logs/apiserver.log"),
                extraArguments: audit ? ["--audit-log", directory.appending("audit.log")] : [])
            let cluster = E2ECluster(directory: directory, apiserver: apiserver)
            do {
                try await cluster.kubectl.succeed(["apply", "-f", E2E.repositoryRoot + "/crds/"])
                try await cluster.kubectl.succeed([
                    "wait", "--for=condition=Established", "--timeout=60s", "crd/repositories.kubesnap.io",
                    "crd/snapshots.kubesnap.io", "crd/backupsessions.kubesnap.io", "crd/restoresessions.kubesnap.io",
                ])
                try await waitUntil(
                    "the kubesnap.io resources to be served", timeout: .seconds(60), poll: .milliseconds(200)
                ) {
                    let result = try await cluster.kubectl.run([
                        "get", "repositories,snapshots,backupsessions,restoresessions", "-A",
                    ])
                    return (result.succeeded, result.stderr)
                }
            } catch {
                apiserver.kill9()
                throw error
            }
            return cluster
        } catch {
            directory.remove()
            throw error
        }
    }

    /// Starts `kubesnap operator` against this cluster, logging to logs/<name>.log.
    /// `kubeconfig`: the admin's unless given (the operator's ServiceAccount's, say); `restic`
    /// and `environment` as in `KubesnapProcess.operatorProcess`.
    func startOperator(
        name: String, kubeconfig: String? = nil, extraArguments: [String] = [], restic: String = E2E.resticPath,
        environment: [String: String] = [:]
    ) throws -> KubesnapProcess {
        try KubesnapProcess.operatorProcess(
            kubeconfig: kubeconfig ?? kubectl.kubeconfig, sourceRoot: sourceRoot, repositoryRoot: repositoryRoot,
            cacheDir: directory.appending("cache-\(name)"), logPath: directory.appending("logs/\(name).log"),
            extraArguments: extraArguments, restic: restic, environment: environment)
    }

    /// Writes a few small files under sources/<name>.
    @discardableResult
    func writeSmallSource(_ name: String) throws -> String {
        for (file, text) in [
            ("a.txt", "alpha \(name)\n"), ("sub/b.txt", String(repeating: "beta ", count: 1000)),
        ] {
            try directory.write("sources/\(name)/\(file)", text)
        }
        return directory.appending("sources/\(name)")
    }

    func kill() {
        apiserver.kill9()
    }
}

