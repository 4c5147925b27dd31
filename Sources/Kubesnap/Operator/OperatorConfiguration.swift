import Foundation
import KubeClient
import KubeController

/// Everything `kubesnap operator` (and `kubesnap dev`) decides before the operator starts.
public struct OperatorConfiguration: Sendable {
    /// How to reach the API server (from `ClientConfiguration.load(kubeconfig:)`).
    public var client: ClientConfiguration
    /// The one namespace to watch; nil watches all namespaces.
    public var namespace: String?
    /// Concurrent reconciles per controller (`--workers`).
    public var workers: Int = OperatorConfiguration.defaultWorkers
    /// The one default of `--workers`.
    public static let defaultWorkers = 4
    /// The name the operator writes as: its field manager, and its Events' source component.
    public var component = "kubesnap"
    /// Data operations (restic backups and read-backs) at once in this process; each takes 100
    /// to 180 MiB and a core, so this bounds the pod's memory. Others wait Pending, reason Queued.
    public var maxConcurrentOperations = 2
    /// `--leader-elect`: only the replica holding the Lease reconciles.
    public var leaderElect = false
    public var leaseNamespace = "kubesnap-system"
    public var leaseName = "kubesnap-operator"
    /// `host:port` (or `:port`) of `/metrics`; "0" or nil disables it. When it equals
    /// `healthProbeBindAddress`, one server answers both.
    public var metricsBindAddress: String? = ":8080"
    /// `host:port` of `/healthz` and `/readyz` (and `/metrics`); "0" or nil disables it.
    public var healthProbeBindAddress: String? = ":8081"
    /// Snapshot sources must resolve inside this directory (`--source-root`).
    public var sourceRoot: String
    /// Local repositories must resolve inside this directory (`--repository-root`).
    public var repositoryRoot: String
    /// restic's cache.
    public var cacheDirectory: String
    /// "restic" (looked up in PATH) or a path.
    public var resticExecutable = "restic"
    /// This replica's name (Lease holder, Event source).
    public var identity: String = LeaderElectionConfiguration.defaultIdentity()
    /// SIGTERM/SIGINT request a graceful shutdown (the CLI sets this; tests cancel instead).
    public var handleSignals = false
    /// After a shutdown request, reconciles in flight get this long before they are cancelled.
    public var gracePeriod: Duration = .seconds(30)
    /// The time BackupSchedules run on: the wall clock, or a `ManualClock` that tests drive.
    public var clock: any OperatorClock = WallClock()
    /// Test-only stops inside data operations (`PausePoints`); off by default.
    public var pausePoints = PausePoints()

    // Tunables (defaults suit a cluster; tests shorten them).

    /// Cached objects are handed to the reconcilers again this often (no API call; a finished
    /// Snapshot costs nothing on it).
    public var resyncPeriod: Duration? = .seconds(600)
    /// A Ready Repository's size and snapshot count are re-read at most this often.
    public var repositoryRefreshInterval: Duration = .seconds(300)
    /// A Ready Repository's stored size is re-read at most this often when nothing asked for it
    /// (kubesnap's own backups and deletions do, and so does a change of the Repository).
    public var repositorySizeInterval: Duration = .seconds(3600)
    /// A finished or deleted Snapshot asks for its Repository's size and count to be re-read;
    /// such reads happen at most this often per Repository.
    public var repositoryRefreshSpacing: Duration = .seconds(5)
    /// A file a stopped restic left half-written in a local repository is removed once nobody
    /// wrote to it for this long (and no kubesnap operation holds the repository).
    public var unfinishedFileAge: Duration = .seconds(3600)
    /// `restic check` of a Ready Repository at most this often.
    public var repositoryCheckInterval: Duration = .seconds(86_400)
    /// A Snapshot whose Repository stays missing this long (since its creation) ends Failed.
    public var missingRepositoryTimeout: Duration = .seconds(60)
    /// Snapshot deletions of one repository within this window share one forget.
    public var pruneBatchWindow: Duration = .seconds(2)
    /// The space forgotten snapshots held is reclaimed by one `restic prune` this long after the
    /// repository's last forget (later forgets move it on, and share it).
    public var pruneDelay: Duration = .seconds(10)
    /// Longest wait between retries of a failed reconcile (backend unreachable and the like).
    public var maxRetryDelay: Duration = .seconds(300)

    public init(client: ClientConfiguration, sourceRoot: String, repositoryRoot: String, cacheDirectory: String) {
        self.client = client
        self.sourceRoot = sourceRoot
        self.repositoryRoot = repositoryRoot
        self.cacheDirectory = cacheDirectory
    }

    /// Parses a bind address: `host:port`, `:port` (all interfaces) or `port`; "0", "" and nil
    /// mean disabled. Throws for anything else.
    static func parseBindAddress(_ text: String?, flag: String) throws(KubesnapError) -> (host: String, port: Int)? {
        guard let text, !text.isEmpty, text != "0" else { return nil }
        let host: String
        let portText: Substring
        if let colon = text.lastIndex(of: ":") {
            let rawHost = text[..<colon]
            host = rawHost.isEmpty ? "0.0.0.0" : String(rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
            portText = text[text.index(after: colon)...]
        } else {
            host = "0.0.0.0"
            portText = Substring(text)
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw .configuration("\(flag) \"\(text)\" must be host:port, :port or 0 (disabled)")
        }
        return (host, port)
    }
}

extension OperatorConfiguration {
    /// How every controller of the operator runs: `--workers` reconciles at once, errors retried
    /// with backoff up to `maxRetryDelay`.
    func controllerOptions<Object>() -> ControllerOptions<Object> {
        ControllerOptions(workers: workers, rateLimiter: ControllerRateLimiter(maxDelay: maxRetryDelay))
    }
}
