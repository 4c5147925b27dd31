import Foundation
import KubeJSON
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A Kubernetes-compatible API server (what kubectl 1.32 and an operator use) over HTTPS, with
/// its objects persisted under `configuration.dataDirectory`.
///
/// `start()` binds and serves; the kubeconfig is written once the listener answers.
/// `shutdown()` stops serving and flushes the log. Clients authenticate with the admin client
/// certificate from the kubeconfig or the bearer token in `<dataDirectory>/token`.
public final class APIServer: Sendable {
    public let configuration: APIServerConfiguration
    /// In-process access to the fault injection `POST /debug/faults` also drives.
    public let faults = FaultInjector()

    private struct Running: Sendable {
        var store: ObjectStore
        var log: DurableLog
        var router: RequestRouter
        var serverChannel: any Channel
        var task: Task<Void, Never>
        var port: Int
        var metrics: RequestMetrics
    }
    private let running = Locked<Running?>(nil)

    public init(configuration: APIServerConfiguration) {
        self.configuration = configuration
    }

    /// The bound port (the chosen one when configured with 0); 0 before `start()`.
    public var port: Int { running.current?.port ?? 0 }

    public var kubeconfigPath: String { configuration.dataDirectory + "/kubeconfig" }

    /// The bearer token clients may present instead of the client certificate.
    public var tokenPath: String { configuration.dataDirectory + "/token" }

    public func start() async throws {
        let dir = configuration.dataDirectory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw APIServerError.storage("cannot create \(dir): \(error)")
        }
        // A kubeconfig left by an earlier run names a port nobody answers on: remove it, so that
        // its presence keeps meaning "the server answers".
        try? FileManager.default.removeItem(atPath: kubeconfigPath)
        let credentials = try ServerCredentials.loadOrCreate(directory: dir)
        let staticTokens = try configuration.tokenAuthFile.map { path throws(AuthenticationSetupError) in try StaticTokenFile(path: path) } ?? StaticTokenFile()
        let serviceAccountTokens = try ServiceAccountTokens.loadOrCreate(directory: dir)
        let loaded = try Persistence.loadAndCompact(directory: dir, historyLimit: configuration.watchHistoryLimit)
        let log = try DurableLog(logPath: Persistence.logPath(dir))
        let store = ObjectStore(loaded: loaded, log: log, historyLimit: configuration.watchHistoryLimit, backlogLimit: configuration.watcherBacklogLimit)
        try await log.waitDurable(await store.bootstrap())
        do {
            try await log.waitDurable(try await store.ensureBootstrapPolicy())
        } catch let error as APIError {
            log.close()
            throw APIServerError.rejected(error)
        }
        let metrics = RequestMetrics(auditLogPath: configuration.auditLogPath)
        let authentication = Authenticator(
            adminToken: credentials.token, staticTokens: staticTokens, serviceAccountTokens: serviceAccountTokens, store: store)
        let router = RequestRouter(
            store: store, log: log, faults: faults, metrics: metrics, authentication: authentication,
            enableFaultInjection: configuration.enableFaultInjection, bookmarkInterval: configuration.bookmarkIntervalSeconds)
        faults.closeWatchesAction.withLock { $0 = { abruptly in await store.closeAllWatches(abruptly: abruptly) } }

        let sslContext: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(credentials.serverCertificate.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(credentials.serverKey.utf8), format: .pem)))
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertificate.utf8)))
            sslContext = try NIOSSLContext(configuration: tls)
        } catch {
            log.close()
            throw APIServerError.certificates("TLS setup: \(error)")
        }

        let serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            log.close()
            throw APIServerError.listen("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        let port = serverChannel.channel.localAddress?.port ?? configuration.port
        let host = configuration.host == "0.0.0.0" || configuration.host == "::" ? "127.0.0.1" : configuration.host
        let hostForURL = host.contains(":") ? "[\(host)]" : host
        router.serverAddress.withLock { $0 = "\(hostForURL):\(port)" }
        let bookmarkInterval = configuration.bookmarkIntervalSeconds
        // The accept loop: one child task per connection; a connection's failure stays its own.
        let task = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int64(bookmarkInterval * 1000)))  // bookmark period
                        await store.sendBookmarks()
                    }
                }
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask {
                                await HTTPConnection(channel: connection, router: router).serve()
                            }
                        }
                    }
                } catch {
                    // The listener closed (shutdown).
                }
                group.cancelAll()
            }
        }
        running.withLock {
            $0 = Running(store: store, log: log, router: router, serverChannel: serverChannel.channel, task: task, port: port, metrics: metrics)
        }
        for object in configuration.bootstrapObjects {
            do {
                try await apply(object)
            } catch {
                await shutdown()
                throw error
            }
        }
        try writeKubeconfig(credentials: credentials, server: "https://\(hostForURL):\(port)")
    }

    private func writeKubeconfig(credentials: ServerCredentials, server: String) throws {
        func b64(_ s: String) -> JSONValue { .string(Data(s.utf8).base64EncodedString()) }
        let config: JSONValue = [
            "apiVersion": "v1", "kind": "Config", "preferences": .emptyObject,
            "clusters": [["name": "kubesnap", "cluster": ["server": .string(server), "certificate-authority-data": b64(credentials.caCertificate)]]],
            "users": [["name": "admin", "user": ["client-certificate-data": b64(credentials.adminCertificate), "client-key-data": b64(credentials.adminKey)]]],
            "contexts": [["name": "kubesnap", "context": ["cluster": "kubesnap", "user": "admin", "namespace": "default"]]],
            "current-context": "kubesnap",
        ]
        let temporary = kubeconfigPath + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(YAML.serialize(config).utf8), attributes: [.posixPermissions: 0o600]),
            rename(temporary, kubeconfigPath) == 0
        else { throw APIServerError.storage("cannot write \(kubeconfigPath)") }
    }

    /// Creates or replaces `object` (by apiVersion, kind, namespace, name), e.g. CRDs at start.
    public func apply(_ object: JSONValue) async throws {
        guard let state = running.current else { throw APIServerError.storage("the server is not running") }
        guard let apiVersion = object["apiVersion"].stringValue, let kind = object["kind"].stringValue, let name = object.name else {
            throw APIServerError.rejected(.badRequest("apiVersion, kind and metadata.name are required"))
        }
        let parts = apiVersion.split(separator: "/").map(String.init)
        let group = parts.count == 2 ? parts[0] : ""
        let version = parts.last ?? "v1"
        guard let info = await state.store.resource(group: group, kind: kind) else {
            throw APIServerError.rejected(.badRequest("no resource serves \(kind) in \(apiVersion)"))
        }
        let namespace = info.namespaced ? (object.namespace ?? "default") : nil
        do {
            let result = try await state.store.update(
                info, version: version, namespace: namespace, name: name, subresource: nil, options: WriteOptions(), allowCreate: true
            ) { current throws(APIError) in
                var replacement = object
                replacement["metadata"]["resourceVersion"] = current?["metadata"]["resourceVersion"] ?? .null
                if current == nil { replacement["metadata"].removeValue(forKey: "resourceVersion") }
                return replacement
            }
            try await state.log.waitDurable(result.ticket)
        } catch let error as APIError {
            throw APIServerError.rejected(error)
        }
    }

    /// Starts, serves until the calling task is cancelled, then shuts down (for `kubesnap
    /// apiserver` and service groups: cancellation is the way to stop it).
    public func run() async throws {
        try await start()
        guard let state = running.current else { return }
        let channel = state.serverChannel
        await withTaskCancellationHandler {
            await state.task.value
        } onCancel: {
            channel.close(promise: nil)
        }
        await shutdown()
    }

    /// Stops serving, ends every connection and watch, and closes the log.
    public func shutdown() async {
        guard let state = running.withLock({ r -> Running? in
            let s = r
            r = nil
            return s
        }) else { return }
        await state.store.closeAllWatches()
        try? await state.serverChannel.close()
        state.task.cancel()
        await state.task.value
        state.log.close()
        state.metrics.close()
        try? FileManager.default.removeItem(atPath: kubeconfigPath)
    }
}
