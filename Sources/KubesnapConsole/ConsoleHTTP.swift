import Foundation
import KubeJSON
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request to the console, as its router sees it.
struct ConsoleRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var headers: [(String, String)]
    var body: [UInt8]
    /// The peer's IP address (for `--trusted-proxy`).
    var remoteAddress: String

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    /// The value of one cookie.
    func cookie(_ name: String) -> String? {
        for header in headers where header.0.lowercased() == "cookie" {
            for pair in header.1.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, parts[0] == name { return parts[1] }
            }
        }
        return nil
    }

    static func split(uri: String) -> (String, [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count > 1 {
            for item in parts[1].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
                query[key] = value
            }
        }
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        return (path, query)
    }
}

/// What the router answers: a whole body, or a stream of server-sent events.
enum ConsoleReply: Sendable {
    case full(status: Int, headers: [(String, String)], body: [UInt8])
    case events(AsyncStream<[UInt8]>, onClose: @Sendable () -> Void)

    static func json(_ status: Int, _ value: JSONValue) -> ConsoleReply {
        .full(status: status, headers: [("Content-Type", "application/json")], body: value.serializedBytes())
    }

    /// `{"message": text}`: what the page shows for a refusal or an error.
    static func message(_ status: Int, _ text: String) -> ConsoleReply { json(status, ["message": .string(text)]) }

    static func html(_ status: Int, _ text: String, headers: [(String, String)] = []) -> ConsoleReply {
        .full(status: status, headers: [("Content-Type", "text/html; charset=utf-8")] + headers, body: Array(text.utf8))
    }
}

/// The console's HTTP/1.1 server: plain HTTP (loopback by default, or behind a proxy), keep-alive,
/// each request answered by the router; every answer carries the security headers.
struct ConsoleHTTPServer: Sendable {
    static let maxBodyBytes = 1 << 20
    /// No inline script or style anywhere: every script and sheet is a file of the console's.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ]

    let host: String
    let port: Int
    let handle: @Sendable (ConsoleRequest) async -> ConsoleReply

    /// Binds, reports the bound port, and serves until the task is cancelled.
    func run(onBound: @Sendable (Int) -> Void) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        onBound(server.channel.localAddress?.port ?? port)
        let handle = self.handle
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await Self.serve(connection, handle: handle) }
                        }
                    }
                } catch {
                    // The listener closed: the console is stopping.
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, handle: @Sendable (ConsoleRequest) async -> ConsoleReply) async {
        let remote = connection.channel.remoteAddress?.ipAddress ?? ""
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        (head, body, tooLarge) = (h, [], false)
                    case .body(let buffer):
                        if body.count + buffer.readableBytes > maxBodyBytes { tooLarge = true } else { body += buffer.readableBytesView }
                    case .end:
                        guard let h = head else { continue }
                        head = nil
                        let (path, query) = ConsoleRequest.split(uri: h.uri)
                        let request = ConsoleRequest(
                            method: h.method.rawValue, path: path, query: query,
                            headers: h.headers.map { ($0.name, $0.value) }, body: body, remoteAddress: remote)
                        let reply = tooLarge ? .html(413, "request too large") : await handle(request)
                        try await write(reply, head: h, outbound: outbound, channel: connection.channel)
                        if !h.isKeepAlive { return }
                    }
                }
            }
        } catch {
            // A broken connection ends here, never the console.
        }
    }

    private static func write(_ reply: ConsoleReply, head: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, channel: any Channel) async throws {
        var headers = HTTPHeaders()
        for (k, v) in securityHeaders { headers.add(name: k, value: v) }
        switch reply {
        case .full(let status, let extra, let bytes):
            for (k, v) in extra { headers.replaceOrAdd(name: k, value: v) }
            headers.add(name: "Content-Length", value: String(bytes.count))
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            try await outbound.write(contentsOf: [
                .head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers)),
                .body(.byteBuffer(ByteBuffer(bytes: bytes))), .end(nil),
            ])
        case .events(let stream, let onClose):
            headers.add(name: "Content-Type", value: "text/event-stream")
            headers.add(name: "Transfer-Encoding", value: "chunked")
            channel.closeFuture.whenComplete { _ in onClose() }
            try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
            for await chunk in stream {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
            }
            try await outbound.write(.end(nil))
        }
    }
}
