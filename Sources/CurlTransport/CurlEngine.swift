import CCurl
import Foundation

/// One HTTP header of a request or response (a response's names are lowercased).
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) { (self.name, self.value) = (name, value) }
}

/// TLS and connection settings of one transfer. Certificates and keys are PEM bytes handed to
/// libcurl as blobs (copied into libcurl's memory, never written to a file).
public struct TransportSecurity: Sendable {
    /// The only CA trusted (no system CA directory); nil: the system's CAs.
    public var certificateAuthorityPEM: [UInt8]?
    public var insecureSkipTLSVerify = false
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// Name to send as SNI and to verify the server certificate against, instead of the
    /// server URL's host (kubeconfig `tls-server-name`). See `CurlTransfer.configure`.
    public var tlsServerName: String?
    public var proxyURL: String?

    /// The system's CAs, verification on, no client certificate, no proxy; set what differs.
    public init() {}
}

/// AWS Signature Version 4, computed by libcurl (`CURLOPT_AWS_SIGV4`) for S3 requests.
public struct AWSSignature: Sendable {
    /// `aws:amz:REGION:SERVICE`, e.g. `aws:amz:us-east-1:s3`.
    public var provider: String
    public var accessKeyID: String
    /// Never logged; it reaches libcurl only.
    public var secretAccessKey: String

    public init(provider: String, accessKeyID: String, secretAccessKey: String) {
        (self.provider, self.accessKeyID, self.secretAccessKey) = (provider, accessKeyID, secretAccessKey)
    }
}

/// Everything the curl loop needs to run one request.
public struct TransferRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]?
    public var security: TransportSecurity
    public var connectTimeout: Duration
    /// nil: no overall time limit (watches).
    public var requestTimeout: Duration?
    /// nil: libcurl sends none.
    public var userAgent: String?
    /// Signs the request (S3); nil: unsigned.
    public var awsSignature: AWSSignature?

    /// No headers, no body, default security, no user agent, unsigned; set what differs.
    public init(method: String, url: String, connectTimeout: Duration, requestTimeout: Duration?) {
        (self.method, self.url, self.headers, self.security) = (method, url, [], TransportSecurity())
        (self.connectTimeout, self.requestTimeout) = (connectTimeout, requestTimeout)
    }
}

/// Why a transfer failed below HTTP (no response, or a response cut short).
public struct TransferFailure: Error, Sendable, CustomStringConvertible {
    /// The CURLcode (`cancelledCode` for a cancelled transfer); 0 is never used here.
    public var code: Int32
    public var message: String
    public var description: String { message }

    public init(code: Int32, message: String) { (self.code, self.message) = (code, message) }

    public static let cancelledCode: Int32 = -1

    /// The request certainly never reached the server (DNS, refused connection, TLS setup):
    /// safe to retry for any verb.
    public var requestNeverSent: Bool {
        switch UInt32(bitPattern: code) {
        case CURLE_COULDNT_RESOLVE_HOST.rawValue, CURLE_COULDNT_RESOLVE_PROXY.rawValue,
            CURLE_COULDNT_CONNECT.rawValue:
            return true
        default: return false
        }
    }

    /// A connection that broke (reset, EOF, receive error): retried for GET only, as client-go
    /// does. Timeouts and TLS failures are not: retrying them mostly repeats the wait.
    public var isConnectionBroken: Bool {
        switch UInt32(bitPattern: code) {
        case CURLE_SEND_ERROR.rawValue, CURLE_RECV_ERROR.rawValue, CURLE_GOT_NOTHING.rawValue,
            CURLE_PARTIAL_FILE.rawValue, CURLE_HTTP2.rawValue, CURLE_HTTP2_STREAM.rawValue:
            return true
        default: return false
        }
    }
}

/// What the curl loop reports about one transfer, in order: one `head` (once the response
/// headers are complete), any number of `body` chunks, then exactly one `end`.
public enum TransferEvent: Sendable {
    case head(status: Int, headers: [HTTPHeader])
    case body([UInt8])
    case end(TransferFailure?)
}

/// A single `curl_multi` loop on a dedicated thread running every transfer of one client.
///
/// Swift code never calls a blocking libcurl function: requests are queued with `start`, the
/// loop adds them to the multi handle (which keeps the connection cache, so connections and
/// TLS sessions are reused), drives them with `curl_multi_perform` + `curl_multi_poll`, and
/// reports progress through an `AsyncStream` per transfer. `curl_multi_wakeup` interrupts the
/// poll when work is queued. A hundred open watches cost a hundred sockets on this one thread,
/// not a hundred blocked threads of the cooperative pool.
///
/// Shared by the Kubernetes client (one engine per client) and restic's S3 listing.
public final class CurlEngine: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var pendingAdds: [CurlTransfer] = []
    private var pendingCancels: [UInt64] = []
    private var pendingResumes: [UInt64] = []
    private var pauses = 0
    private var shuttingDown = false
    private var nextID: UInt64 = 0
    private var activeIDs: Set<UInt64> = []
    private var connectionsOpened = 0

    // Touched only by the loop thread (and `wakeup` from anywhere, which libcurl allows).
    private let multi: UnsafeMutableRawPointer
    private var running: [UInt64: CurlTransfer] = [:]
    private var idByHandle: [UnsafeMutableRawPointer: UInt64] = [:]

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    public init() throws(TransferFailure) {
        guard Self.globalInit, let multi = curl_multi_init() else {
            throw TransferFailure(
                code: Int32(CURLE_FAILED_INIT.rawValue), message: "libcurl failed to initialise")
        }
        self.multi = multi
        _ = kubesnap_curl_multi_set_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "kubesnap.client.curl"
        thread.start()
    }

    /// Transfers queued or running (tests use it to see that a cancelled watch is gone).
    public var activeTransferCount: Int { lock.withLock { activeIDs.count } }

    /// How often a transfer was paused because its consumer fell behind.
    public var pauseCount: Int { lock.withLock { pauses } }

    /// New connections the finished transfers had to open (the rest reused a cached one).
    public var openedConnectionCount: Int { lock.withLock { connectionsOpened } }

    /// Queues a transfer. Cancelling the consumer of the returned stream (or the task iterating
    /// it) removes the transfer from the loop.
    public func start(_ request: TransferRequest) -> (AsyncStream<TransferEvent>, TransferFlow) {
        let (stream, continuation) = AsyncStream<TransferEvent>.makeStream()
        let id: UInt64 = lock.withLock {
            nextID += 1
            return nextID
        }
        let flow = TransferFlow(id: id, engine: self)
        let transfer: CurlTransfer
        do {
            transfer = try CurlTransfer(id: id, request: request, flow: flow, continuation: continuation)
        } catch {
            continuation.yield(.end(error))
            continuation.finish()
            return (stream, flow)
        }
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(id) }
        }
        let accepted: Bool = lock.withLock {
            if shuttingDown { return false }
            pendingAdds.append(transfer)
            activeIDs.insert(id)
            return true
        }
        if accepted {
            curl_multi_wakeup(multi)
        } else {
            transfer.finish(
                TransferFailure(code: TransferFailure.cancelledCode, message: "the client was shut down"))
        }
        return (stream, flow)
    }

    /// Resumes a transfer paused by flow control (its consumer caught up).
    public func resume(_ id: UInt64) {
        lock.withLock { pendingResumes.append(id) }
        curl_multi_wakeup(multi)
    }

    /// Counts a pause (loop thread).
    fileprivate func notePause() {
        lock.withLock { pauses += 1 }
    }

    /// Stops a transfer (a no-op if it already finished).
    public func cancel(_ id: UInt64) {
        let known = lock.withLock {
            guard activeIDs.contains(id) else { return false }
            pendingCancels.append(id)
            return true
        }
        if known { curl_multi_wakeup(multi) }
    }

    /// Ends the loop thread; running transfers end with a cancellation failure.
    public func shutdown() {
        lock.withLock { shuttingDown = true }
        curl_multi_wakeup(multi)
    }

    private func runLoop() {
        while true {
            let (adds, cancels, resumes, stop) = lock.withLock {
                let work = (pendingAdds, pendingCancels, pendingResumes, shuttingDown)
                pendingAdds = []
                pendingCancels = []
                pendingResumes = []
                return work
            }
            for transfer in adds {
                running[transfer.id] = transfer
                idByHandle[transfer.easy] = transfer.id
                let code = curl_multi_add_handle(multi, transfer.easy)
                if code != CURLM_OK {
                    finish(
                        transfer.id,
                        TransferFailure(
                            code: Int32(CURLE_FAILED_INIT.rawValue),
                            message: "cannot add the transfer: \(String(cString: curl_multi_strerror(code)))")
                    )
                }
            }
            for id in resumes {
                if let transfer = running[id] { _ = kubesnap_curl_resume(transfer.easy) }
            }
            for id in cancels {
                finish(id, TransferFailure(code: TransferFailure.cancelledCode, message: "cancelled"))
            }
            if stop {
                for id in Array(running.keys) {
                    finish(
                        id,
                        TransferFailure(
                            code: TransferFailure.cancelledCode, message: "the client was shut down"))
                }
                break
            }
            var stillRunning: Int32 = 0
            _ = curl_multi_perform(multi, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                    let id = idByHandle[easy]
                else { continue }
                let result = kubesnap_curl_message_result(message)
                if result == CURLE_OK {
                    finish(id, nil)
                } else {
                    let detail = running[id]?.errorText ?? ""
                    let text = String(cString: curl_easy_strerror(result))
                    finish(
                        id,
                        TransferFailure(
                            code: Int32(bitPattern: result.rawValue),
                            message: detail.isEmpty ? text : "\(text): \(detail)"))
                }
            }
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        curl_multi_cleanup(multi)
    }

    private func finish(_ id: UInt64, _ failure: TransferFailure?) {
        guard let transfer = running.removeValue(forKey: id) else { return }
        idByHandle.removeValue(forKey: transfer.easy)
        var opened = 0
        _ = kubesnap_curl_get_long(transfer.easy, CURLINFO_NUM_CONNECTS, &opened)
        curl_multi_remove_handle(multi, transfer.easy)
        transfer.finish(failure)
        lock.withLock {
            activeIDs.remove(id)
            connectionsOpened += opened
        }
    }
}

/// One easy handle and the state its callbacks build up. Callbacks run on the loop thread only.
final class CurlTransfer: @unchecked Sendable {
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var connectTo: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let continuation: AsyncStream<TransferEvent>.Continuation
    let flow: TransferFlow
    private var status = 0
    private var headers: [HTTPHeader] = []
    private var headSent = false
    private var finished = false

    init(
        id: UInt64, request: TransferRequest, flow: TransferFlow,
        continuation: AsyncStream<TransferEvent>.Continuation
    )
        throws(TransferFailure)
    {
        guard let easy = curl_easy_init() else {
            throw TransferFailure(code: Int32(CURLE_FAILED_INIT.rawValue), message: "curl_easy_init failed")
        }
        self.id = id
        self.easy = easy
        self.continuation = continuation
        self.flow = flow
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try configure(request)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        curl_slist_free_all(connectTo)
        errorBuffer.deallocate()
    }

    var errorText: String { String(cString: errorBuffer) }

    private func check(_ code: CURLcode, _ what: String) throws(TransferFailure) {
        guard code == CURLE_OK else {
            throw TransferFailure(
                code: Int32(bitPattern: code.rawValue),
                message: "cannot set \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    /// `tls-server-name`: libcurl has no option to send a different SNI than the URL host, so the
    /// URL's host is replaced by the TLS server name (SNI, certificate verification and the Host
    /// header use it) and `CURLOPT_CONNECT_TO` sends the connection to the configured server's
    /// real host and port. The API server ignores the Host header.
    private func configure(_ request: TransferRequest) throws(TransferFailure) {
        var url = request.url
        if let serverName = request.security.tlsServerName, !serverName.isEmpty,
            let (host, port) = Self.hostAndPort(of: url)
        {
            url = Self.replacingHost(in: url, host: host, with: serverName)
            let connect = "\(serverName):\(port):\(host):\(port)"
            connectTo = curl_slist_append(nil, connect)
            try check(kubesnap_curl_set_slist(easy, CURLOPT_CONNECT_TO, connectTo), "connect-to")
        }
        try check(kubesnap_curl_set_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")
        try check(kubesnap_curl_set_string(easy, CURLOPT_URL, url), "URL")
        try check(kubesnap_curl_set_string(easy, CURLOPT_CUSTOMREQUEST, request.method), "method")
        if request.method == "HEAD" { try check(kubesnap_curl_set_long(easy, CURLOPT_NOBODY, 1), "nobody") }
        if let userAgent = request.userAgent {
            try check(kubesnap_curl_set_string(easy, CURLOPT_USERAGENT, userAgent), "user agent")
        }
        if let signature = request.awsSignature {
            try check(kubesnap_curl_set_string(easy, CURLOPT_AWS_SIGV4, signature.provider), "AWS signature")
            try check(kubesnap_curl_set_string(easy, CURLOPT_USERNAME, signature.accessKeyID), "access key")
            try check(kubesnap_curl_set_string(easy, CURLOPT_PASSWORD, signature.secretAccessKey), "secret key")
        }
        try check(
            kubesnap_curl_set_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)), "HTTP version")
        try check(kubesnap_curl_set_long(easy, CURLOPT_NOSIGNAL, 1), "nosignal")
        try check(kubesnap_curl_set_long(easy, CURLOPT_TCP_KEEPALIVE, 1), "keepalive")
        try check(kubesnap_curl_set_long(easy, CURLOPT_FOLLOWLOCATION, 0), "redirects")
        try check(kubesnap_curl_set_long(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1), "proxy headers")
        try check(
            kubesnap_curl_set_long(
                easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout)), "connect timeout"
        )
        if let timeout = request.requestTimeout {
            try check(kubesnap_curl_set_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)), "timeout")
        }
        for header in request.headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        // No "Expect: 100-continue" round trip for bodies.
        headerList = curl_slist_append(headerList, "Expect:")
        try check(kubesnap_curl_set_slist(easy, CURLOPT_HTTPHEADER, headerList), "headers")
        if let body = request.body {
            let code = body.withUnsafeBytes { kubesnap_curl_set_body(easy, $0.baseAddress, $0.count) }
            try check(code, "body")
        }

        let security = request.security
        if security.insecureSkipTLSVerify {
            try check(kubesnap_curl_set_long(easy, CURLOPT_SSL_VERIFYPEER, 0), "verify peer")
            try check(kubesnap_curl_set_long(easy, CURLOPT_SSL_VERIFYHOST, 0), "verify host")
        } else {
            try check(kubesnap_curl_set_long(easy, CURLOPT_SSL_VERIFYPEER, 1), "verify peer")
            try check(kubesnap_curl_set_long(easy, CURLOPT_SSL_VERIFYHOST, 2), "verify host")
            if let ca = security.certificateAuthorityPEM {
                // Only the configured CA is trusted, as kubectl does: no system CA directory.
                try check(kubesnap_curl_set_pointer(easy, CURLOPT_CAPATH, nil), "CA path")
                try Self.setBlob(easy, CURLOPT_CAINFO_BLOB, ca, "certificate authority")
            }
        }
        if let certificate = security.clientCertificatePEM, let key = security.clientKeyPEM {
            try Self.setBlob(easy, CURLOPT_SSLCERT_BLOB, certificate, "client certificate")
            try check(kubesnap_curl_set_string(easy, CURLOPT_SSLCERTTYPE, "PEM"), "client certificate type")
            try Self.setBlob(easy, CURLOPT_SSLKEY_BLOB, key, "client key")
            try check(kubesnap_curl_set_string(easy, CURLOPT_SSLKEYTYPE, "PEM"), "client key type")
        }
        if let proxy = security.proxyURL, !proxy.isEmpty {
            try check(kubesnap_curl_set_string(easy, CURLOPT_PROXY, proxy), "proxy")
        }

        let userdata = Unmanaged.passUnretained(self).toOpaque()
        try check(
            kubesnap_curl_set_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback), "write callback")
        try check(kubesnap_curl_set_pointer(easy, CURLOPT_WRITEDATA, userdata), "write data")
        try check(
            kubesnap_curl_set_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback), "header callback")
        try check(kubesnap_curl_set_pointer(easy, CURLOPT_HEADERDATA, userdata), "header data")
    }

    private static func setBlob(
        _ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ bytes: [UInt8], _ what: String
    ) throws(TransferFailure) {
        let code = bytes.withUnsafeBytes { kubesnap_curl_set_blob(easy, option, $0.baseAddress, $0.count) }
        guard code == CURLE_OK else {
            throw TransferFailure(
                code: Int32(bitPattern: code.rawValue),
                message: "cannot use the \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    /// Host (without IPv6 brackets kept as written) and port of an `https://host:port/...` URL.
    static func hostAndPort(of url: String) -> (String, Int)? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? String(authority)
        var host = hostPort
        var port = scheme == "http" ? 80 : 443
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = String(hostPort[...close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            port = p
        }
        return (host, port)
    }

    static func replacingHost(in url: String, host: String, with newHost: String) -> String {
        guard let schemeEnd = url.range(of: "://"),
            let hostRange = url.range(of: host, range: schemeEnd.upperBound..<url.endIndex)
        else { return url }
        return url.replacingCharacters(in: hostRange, with: newHost)
    }

    // MARK: Callbacks (loop thread)

    fileprivate func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        // Bytes, not Foundation strings: this runs for every header of every response.
        let line = Self.trimmed(bytes[...])
        if line.starts(with: "HTTP/".utf8) {
            let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
            status = parts.count > 1 ? Int(String(decoding: parts[1], as: UTF8.self)) ?? 0 : 0
            headers = []
        } else if line.isEmpty {
            if status >= 200 { sendHead() }
        } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            headers.append(
                HTTPHeader(
                    name: String(decoding: line[..<colon], as: UTF8.self).lowercased(),
                    value: String(decoding: Self.trimmed(line[(colon + 1)...]), as: UTF8.self)))
        }
    }

    /// `bytes` without leading and trailing ASCII whitespace (space, tab, CR, LF).
    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }

    /// Hands a body chunk to the consumer; false (and nothing delivered) when the consumer has
    /// too much unread already: the transfer pauses until it catches up.
    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        sendHead()
        guard flow.deliver(bytes.count) else { return false }
        continuation.yield(.body(Array(bytes)))
        return true
    }

    fileprivate func notePause() {
        flow.engine?.notePause()
    }

    private func sendHead() {
        guard !headSent else { return }
        headSent = true
        if status == 0 {
            var code = 0
            _ = kubesnap_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &code)
            status = code
        }
        continuation.yield(.head(status: status, headers: headers))
    }

    func finish(_ failure: TransferFailure?) {
        guard !finished else { return }
        finished = true
        if failure == nil { sendHead() }
        continuation.yield(.end(failure))
        continuation.finish()
    }
}

private let curlWriteCallback: kubesnap_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    let length = size * count
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
    guard transfer.receiveBody(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : length))
    else {
        transfer.notePause()
        return kubesnap_curl_write_pause_value()
    }
    return length
}

private let curlHeaderCallback: kubesnap_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    let length = size * count
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : length))
    return length
}

/// The response of a transfer read to its end.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader], body: [UInt8]) {
        (self.status, self.headers, self.body) = (status, headers, body)
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// A transfer whose response headers have arrived; the body is read chunk by chunk.
/// Owned by one task at a time.
public final class OpenTransfer {
    public let status: Int
    public let headers: [HTTPHeader]
    private var iterator: AsyncStream<TransferEvent>.AsyncIterator
    private let flow: TransferFlow
    private var ended = false

    fileprivate init(
        status: Int, headers: [HTTPHeader], iterator: AsyncStream<TransferEvent>.AsyncIterator,
        flow: TransferFlow
    ) {
        self.status = status
        self.headers = headers
        self.iterator = iterator
        self.flow = flow
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// The next body chunk; nil at the end of the body. Throws the failure that cut it short,
    /// or `CancellationError` when the task was cancelled.
    public func nextChunk() async throws -> [UInt8]? {
        while !ended {
            guard let event = await iterator.next() else {
                ended = true
                if Task.isCancelled { throw CancellationError() }
                return nil
            }
            switch event {
            case .head: continue
            case .body(let bytes):
                flow.consumed(bytes.count)
                return bytes
            case .end(let failure):
                ended = true
                if let failure { throw failure }
                return nil
            }
        }
        return nil
    }

    /// The rest of the body.
    public func readAll() async throws -> [UInt8] {
        var body: [UInt8] = []
        while let chunk = try await nextChunk() { body.append(contentsOf: chunk) }
        return body
    }
}

extension CurlEngine {
    /// Starts a transfer and waits for its response headers. Cancelling the calling task
    /// removes the transfer from the loop.
    public func open(_ request: TransferRequest) async throws -> OpenTransfer {
        let (stream, flow) = start(request)
        var iterator = stream.makeAsyncIterator()
        while true {
            guard let event = await iterator.next() else {
                throw CancellationError()
            }
            switch event {
            case .head(let status, let headers):
                return OpenTransfer(status: status, headers: headers, iterator: iterator, flow: flow)
            case .body(let bytes):
                flow.consumed(bytes.count)
            case .end(let failure):
                if let failure {
                    if failure.code == TransferFailure.cancelledCode, Task.isCancelled {
                        throw CancellationError()
                    }
                    throw failure
                }
                throw TransferFailure(code: Int32(CURLE_GOT_NOTHING.rawValue), message: "no response")
            }
        }
    }

    /// Runs a transfer to its end.
    public func perform(_ request: TransferRequest) async throws -> HTTPResponse {
        let transfer = try await open(request)
        let body = try await transfer.readAll()
        return HTTPResponse(status: transfer.status, headers: transfer.headers, body: body)
    }
}

/// Flow control of one transfer: bytes handed to the consumer and not yet taken. Above
/// `pauseAbove` the write callback pauses the transfer (CURL_WRITEFUNC_PAUSE: TCP pushes back
/// on the server); once the consumer is down to `resumeBelow` the loop resumes it. A slow
/// watch consumer thus holds a bounded amount of memory.
public final class TransferFlow: @unchecked Sendable {
    static let pauseAbove = 8 << 20
    static let resumeBelow = 1 << 20

    let id: UInt64
    weak var engine: CurlEngine?
    private let lock = NSLock()
    private var buffered = 0
    private var paused = false

    init(id: UInt64, engine: CurlEngine) {
        self.id = id
        self.engine = engine
    }

    /// Loop thread: may `count` more bytes go to the consumer? false pauses the transfer.
    func deliver(_ count: Int) -> Bool {
        lock.withLock {
            if buffered >= Self.pauseAbove {
                paused = true
                return false
            }
            buffered += count
            return true
        }
    }

    /// Consumer: `count` bytes were taken; resumes a paused transfer once it is drained enough.
    func consumed(_ count: Int) {
        let resume: Bool = lock.withLock {
            buffered -= count
            guard paused, buffered <= Self.resumeBelow else { return false }
            paused = false
            return true
        }
        if resume { engine?.resume(id) }
    }
}
