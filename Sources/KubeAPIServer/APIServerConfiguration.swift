import KubeJSON

/// How to run an `APIServer`.
public struct APIServerConfiguration: Sendable {
    /// Objects, certificates, the token and the kubeconfig live here (created if missing).
    public var dataDirectory: String
    public var host: String = "127.0.0.1"
    /// 0 picks a free port; `APIServer.port` tells which.
    public var port: Int = 6443
    /// Serves `POST /debug/faults` (tests only).
    public var enableFaultInjection: Bool = false
    /// One JSON line per request: verb, group, resource, subresource, namespace, name, code, userAgent.
    public var auditLogPath: String? = nil
    /// How many past events watches can resume from; older resourceVersions get 410 Expired.
    public var watchHistoryLimit: Int = 10_000
    /// Events a watcher may have queued before it is closed as too slow (it will re-watch).
    public var watcherBacklogLimit: Int = 1_000
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK event.
    public var bookmarkIntervalSeconds: Double = 30
    /// Objects created or updated at start, before the kubeconfig is written, so that a client
    /// that waits for the kubeconfig finds them served (`kubesnap dev` installs its CRDs so).
    public var bootstrapObjects: [JSONValue] = []
    /// kube-apiserver's `--token-auth-file`: CSV lines `token,user,uid,"group1,group2"`.
    public var tokenAuthFile: String? = nil

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }
}
