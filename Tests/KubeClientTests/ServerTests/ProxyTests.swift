import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeClient

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP CONNECT proxy on loopback (blocking sockets on threads of its own): enough to
/// show that `proxy-url` sends the client's TLS connection through a tunnel.
final class ConnectProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    let targets = Shared<[String]>([])

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw ProxyError()
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            Thread { [self] in tunnel(client) }.start()
        }
    }

    private func tunnel(_ client: Int32) {
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), read(client, &byte, 1) == 1 {
            head.append(byte)
        }
        let requestLine =
            String(decoding: head, as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count >= 2, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
            let targetPort = UInt16(parts[1][parts[1].index(after: colon)...])
        else {
            close(client)
            return
        }
        targets.update { $0.append(String(parts[1])) }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = targetPort.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(client)
            close(upstream)
            return
        }
        let reply = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)
        _ = write(client, reply, reply.count)
        let done = Shared(0)
        @Sendable func pump(_ from: Int32, _ to: Int32) {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = read(from, &buffer, buffer.count)
                if n <= 0 || write(to, buffer, n) != n { break }
            }
            shutdown(to, Int32(SHUT_WR))
            if done.update({
                $0 += 1; return $0
            }) == 2 {
                close(client)
                close(upstream)
            }
        }
        Thread { pump(upstream, client) }.start()
        pump(client, upstream)
    }
}

struct ProxyError: Error {}

@Suite struct ProxyTests {
    @Test func proxyURLTunnelsThroughTheProxy() async throws {
        try await withAPIServer { server in
            let proxy = try ConnectProxy()
            defer { proxy.stop() }
            var configuration = try server.adminConfiguration()
            configuration.proxyURL = "http://127.0.0.1:\(proxy.port)"
            let client = try KubeClient(configuration: configuration)
            #expect(try await client.list(.namespaces, namespace: nil).items.count > 0)
            #expect(proxy.targets.value.contains("127.0.0.1:\(server.port)"))
        }
    }
}
