import NIOCore
import NIOHTTP1
import NIOPosix

/// The manager's small HTTP/1.1 endpoint: `GET /healthz` (alive), `GET /readyz` (200 once every
/// readiness check passes, 503 with the failing checks otherwise) and `GET /metrics`
/// (Prometheus text). Plain HTTP on the address given; meant for kubelet probes and scrapers.
public final class HealthServer: Sendable {
    /// A named readiness check.
    public struct Check: Sendable {
        public var name: String
        public var passes: @Sendable () -> Bool

        public init(name: String, passes: @escaping @Sendable () -> Bool) {
            self.name = name
            self.passes = passes
        }
    }

    public let host: String
    public let port: Int
    private let readiness: @Sendable () -> [Check]
    private let metrics: MetricsRegistry

    /// `port` 0 picks a free port (reported to `run`'s `onBound`).
    public init(
        host: String, port: Int, metrics: MetricsRegistry, readiness: @escaping @Sendable () -> [Check]
    ) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.readiness = readiness
    }

    /// Binds, reports the bound port, and serves until the task is cancelled.
    public func run(onBound: @Sendable (Int) -> Void = { _ in }) async throws {
        let metrics = self.metrics
        let readiness = self.readiness
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(
                            HealthHandler(metrics: metrics, readiness: readiness))
                    }
                }
                .bind(host: host, port: port)
                .get()
        } catch {
            throw ControllerError.server("cannot listen on \(host):\(port): \(error)")
        }
        onBound(channel.localAddress?.port ?? port)
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()  // a close error ends the server all the same
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Answers one request per message; one bad connection never affects another.
private final class HealthHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: MetricsRegistry
    private let readiness: @Sendable () -> [HealthServer.Check]
    private var head: HTTPRequestHead?

    init(metrics: MetricsRegistry, readiness: @escaping @Sendable () -> [HealthServer.Check]) {
        self.metrics = metrics
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var status = HTTPResponseStatus.ok
        var contentType = "text/plain; charset=utf-8"
        var body: String
        switch (head.method, path) {
        case (.GET, "/healthz"), (.GET, "/livez"):
            body = "ok"
        case (.GET, "/readyz"):
            let results = readiness().map { ($0.name, $0.passes()) }
            let failed = results.filter { !$0.1 }
            body = results.map { "[\($0.1 ? "+" : "-")]\($0.0) \($0.1 ? "ok" : "failed")" }.joined(
                separator: "\n")
            if failed.isEmpty {
                body += (body.isEmpty ? "" : "\n") + "readyz check passed"
            } else {
                status = .serviceUnavailable
                body += "\nreadyz check failed"
            }
        case (.GET, "/metrics"):
            contentType = "text/plain; version=0.0.4; charset=utf-8"
            body = metrics.exposition()
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"):
            status = .methodNotAllowed
            body = "method not allowed"
        default:
            status = .notFound
            body = "not found"
        }
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil)
            }
        }
    }
}
