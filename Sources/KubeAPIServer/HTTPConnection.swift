import Foundation
import KubeJSON
import NIOCore
import NIOHTTP1
import NIOSSL

/// Serves one client connection: HTTP/1.1 requests one after another (keep-alive), each
/// answered whole or, for watches, streamed chunk by chunk. Errors end only this connection.
struct HTTPConnection {
    static let maxBodyBytes = 8 << 20

    let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    let router: RequestRouter

    func serve() async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                // The verified client certificate (DER), read once: it is the connection's.
                var certificate: [UInt8]?? = nil
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body = []
                        tooLarge = false
                    case .body(let buffer):
                        if body.count + buffer.readableBytes > Self.maxBodyBytes {
                            tooLarge = true
                        } else {
                            body.append(contentsOf: buffer.readableBytesView)
                        }
                    case .end:
                        guard let h = head else { continue }
                        head = nil
                        if certificate == nil { certificate = .some(await peerCertificate()) }
                        let user = await router.authentication.authenticate(
                            authorization: h.headers.first(name: "Authorization"), certificate: certificate ?? nil)
                        let keepAlive = try await respond(h, body: body, user: user, tooLarge: tooLarge, outbound: outbound)
                        body = []
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            // A broken connection (reset, TLS failure, bad HTTP) ends here, never the server.
        }
    }

    /// A client certificate is only present when it verified against the CA (NIOSSL).
    private func peerCertificate() async -> [UInt8]? {
        guard let certificate = try? await channel.channel.nioSSL_peerCertificate().get() else { return nil }
        return try? certificate.toDERBytes()
    }

    private func respond(
        _ head: HTTPRequestHead, body: [UInt8], user: UserInfo?, tooLarge: Bool,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws -> Bool {
        let (path, query) = APIRequest.split(uri: head.uri)
        let request = APIRequest(
            method: head.method.rawValue, path: path, query: query,
            headers: head.headers.map { ($0.name, $0.value) }, body: body, user: user)
        let reply: APIReply
        var labels = RequestLabels()
        if tooLarge {
            reply = .error(APIError(code: 413, reason: "RequestEntityTooLarge", message: "the request body is too large"))
        } else {
            (reply, labels) = await router.handle(request)
        }
        let keepAlive = head.isKeepAlive
        router.metrics.record(
            verb: labels.verb, group: labels.group, resource: labels.resource, subresource: labels.subresource,
            namespace: labels.namespace, name: labels.name, code: reply.status, userAgent: head.headers.first(name: "User-Agent") ?? "")
        switch reply {
        case .full(let status, let extra, let bytes):
            var headers = HTTPHeaders()
            for (k, v) in extra { headers.add(name: k, value: v) }
            headers.add(name: "Cache-Control", value: "no-cache, private")
            headers.add(name: "Content-Length", value: String(bytes.count))
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let responseHead = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
            var parts: [HTTPServerResponsePart] = [.head(responseHead)]
            if head.method != .HEAD { parts.append(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
            return keepAlive
        case .watch(let watch):
            try await stream(watch, head: head, outbound: outbound)
            return keepAlive
        }
    }

    private func stream(_ watch: WatchReply, head: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: watch.contentType)
        headers.add(name: "Cache-Control", value: "no-cache, private")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
        if let first = watch.firstChunk {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: first))))
        }
        if let events = watch.events {
            let finish = watch.finish
            channel.channel.closeFuture.whenComplete { _ in finish() }
            var failure: (any Error)?
            await withTaskGroup(of: Void.self) { group in
                if let timeout = watch.timeout, timeout > 0 {
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))  // the watch's timeoutSeconds
                        finish()
                    }
                }
                do {
                    // Every event waiting goes out as one chunk (one TLS record, one flush).
                    var chunk = ByteBuffer()
                    while let batch = await events.next() {
                        chunk.clear()
                        for event in batch { chunk.writeBytes(watch.render(event)) }
                        try await outbound.write(.body(.byteBuffer(chunk)))
                    }
                } catch {
                    failure = error
                }
                finish()
                group.cancelAll()
            }
            if let id = watch.id { await router.store.stopWatch(id) }
            if let failure { throw failure }
            if events.isCut {
                // A cut connection (fault injection): closed without the final chunk.
                try? await channel.channel.close()  // already closing is the same end
                throw CancellationError()
            }
        }
        try await outbound.write(.end(nil))
    }
}
