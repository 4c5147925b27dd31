import CurlTransport
import Foundation
import KubeJSON
import Logging

/// One finished API round trip, for metrics (the controller's request counters and latency).
public struct RequestObservation: Sendable {
    /// Kubernetes verb: get, list, watch, create, update, patch, delete.
    public var verb: String
    /// "secrets", "leases.coordination.k8s.io", or "" for non-resource paths.
    public var resource: String
    public var subresource: String?
    /// HTTP status; 0 when no response arrived (transport failure).
    public var code: Int
    /// Time to the response headers (a watch's duration is its start, not its life).
    public var duration: Duration
}

/// Called after every attempt, retries included. Must not block.
public typealias RequestObserver = @Sendable (RequestObservation) -> Void

/// A Kubernetes API client: REST verbs and watches over libcurl, with kubeconfig credentials,
/// client-side rate limiting and retries.
///
/// Retries follow client-go: a 429 or 5xx response carrying `Retry-After` is retried for any
/// verb after the time the server asks (the server says it did not process the request); a
/// 429/5xx without `Retry-After` and a broken connection are retried only for GET (reads, list,
/// the start of a watch), with exponential backoff and jitter; a connection that was never
/// made (DNS, refused) is retried for any verb. At most `maxRetries` retries. A 401 with an
/// exec credential plugin re-runs the plugin once.
///
/// Every request carries `Authorization` only on the wire: log lines show method, path,
/// status and duration, never a header or body.
public final class KubeClient: Sendable {
    public let configuration: ClientConfiguration
    let engine: CurlEngine
    let credentials: CredentialProvider
    let rateLimiter: TokenBucket
    /// Events have a bucket of their own (same qps and burst): recording what happened never
    /// delays the writes that do the work, as kube-apiserver's priority and fairness keeps
    /// events in a flow of their own.
    let eventRateLimiter: TokenBucket
    let logger: Logger
    let observer: RequestObserver?

    /// The User-Agent sent when the program does not name itself.
    public static let defaultUserAgent = "kube-client"

    public init(
        configuration: ClientConfiguration, logger: Logger = Logger(label: "kube.client"),
        observer: RequestObserver? = nil
    ) throws(KubeError) {
        guard configuration.server.hasPrefix("https://") || configuration.server.hasPrefix("http://") else {
            throw .configuration("server \(configuration.server): must be an http:// or https:// URL")
        }
        self.configuration = configuration
        do {
            engine = try CurlEngine()
        } catch {
            throw .transport(error.message)
        }
        credentials = CredentialProvider(configuration: configuration)
        rateLimiter = TokenBucket(qps: configuration.qps, burst: configuration.burst)
        eventRateLimiter = TokenBucket(qps: configuration.qps, burst: configuration.burst)
        self.logger = logger
        self.observer = observer
    }

    deinit {
        engine.shutdown()
    }

    /// The namespace used when a namespaced call passes none.
    public var defaultNamespace: String { configuration.defaultNamespace }

    /// Transfers queued or running on this client's curl loop.
    public var activeTransferCount: Int { engine.activeTransferCount }

    /// Connections this client opened so far; requests reuse cached connections (and TLS
    /// sessions), so this grows with concurrency, not with the number of requests.
    public var openedConnectionCount: Int { engine.openedConnectionCount }

    /// Times a transfer was paused because its consumer fell behind (flow control).
    var pausedTransferCount: Int { engine.pauseCount }
}

/// One API request before credentials are added.
struct RESTRequest: Sendable {
    var method: String
    var verb: String
    var resource: APIResource?
    var subresource: String?
    var path: String
    var query: [(name: String, value: String)] = []
    var body: [UInt8]?
    var contentType: String?
    var isWatch = false
    /// `Accept`, when not plain JSON (the Table form).
    var accept = "application/json"
    /// More headers (impersonation), added after the credentials.
    var extraHeaders: [(name: String, value: String)] = []

    var pathWithQuery: String {
        guard !query.isEmpty else { return path }
        return path + "?"
            + query.map { "\(percentEncode($0.name))=\(percentEncode($0.value))" }.joined(separator: "&")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
func percentEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            out += String(format: "%%%02X", byte)
        }
    }
    return out
}

extension KubeClient {
    /// Sends a request and reads the whole response; a non-2xx answer throws `.api`.
    func send(_ request: RESTRequest) async throws(KubeError) -> HTTPResponse {
        let (response, _) = try await roundTrip(request, streaming: false)
        guard (200..<300).contains(response.status) else { throw Self.apiError(response) }
        return response
    }

    /// Sends a request and returns once a 2xx response's headers arrived; the body streams.
    func openStream(_ request: RESTRequest) async throws(KubeError) -> OpenTransfer {
        let (response, transfer) = try await roundTrip(request, streaming: true)
        guard let transfer, (200..<300).contains(response.status) else { throw Self.apiError(response) }
        return transfer
    }

    /// Sends and parses a JSON response.
    func sendJSON(_ request: RESTRequest) async throws(KubeError) -> JSONValue {
        let response = try await send(request)
        do {
            return try JSONValue.parse(response.body)
        } catch {
            throw .decoding("\(request.method) \(request.path): the response is not JSON: \(error)")
        }
    }

    /// The error for a non-2xx response: its metav1.Status, or one made from the HTTP status.
    static func apiError(_ response: HTTPResponse) -> KubeError {
        if let value = try? JSONValue.parse(response.body), var status = APIStatus(value) {
            if status.code == 0 { status.code = response.status }
            return .api(status)
        }
        var message = String(decoding: response.body.prefix(512), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = "the server answered \(response.status) without a Status" }
        return .api(
            APIStatus(
                code: response.status, reason: APIStatus.reason(forHTTPCode: response.status),
                message: message))
    }

    private func transferRequest(_ request: RESTRequest, credentials: RequestCredentials) -> TransferRequest {
        var headers = [HTTPHeader(name: "Accept", value: request.accept)]
        if let contentType = request.contentType {
            headers.append(HTTPHeader(name: "Content-Type", value: contentType))
        }
        if let authorization = credentials.authorization {
            headers.append(HTTPHeader(name: "Authorization", value: authorization))
        }
        for header in request.extraHeaders { headers.append(HTTPHeader(name: header.name, value: header.value)) }
        var transfer = TransferRequest(
            method: request.method, url: configuration.server + request.pathWithQuery,
            connectTimeout: configuration.connectTimeout,
            requestTimeout: request.isWatch ? nil : configuration.requestTimeout)
        transfer.headers = headers
        transfer.body = request.body
        transfer.userAgent = configuration.userAgent
        transfer.security.certificateAuthorityPEM = configuration.certificateAuthorityData
        transfer.security.insecureSkipTLSVerify = configuration.insecureSkipTLSVerify
        transfer.security.clientCertificatePEM = credentials.clientCertificatePEM
        transfer.security.clientKeyPEM = credentials.clientKeyPEM
        transfer.security.tlsServerName = configuration.tlsServerName
        transfer.security.proxyURL = configuration.proxyURL
        return transfer
    }

    func roundTrip(_ request: RESTRequest, streaming: Bool) async throws(KubeError) -> (
        HTTPResponse, OpenTransfer?
    ) {
        var retries = 0
        var refreshedCredentials = false
        let clock = ContinuousClock()
        while true {
            if Task.isCancelled { throw .cancelled }
            let bucket = request.resource?.resource == "events" ? eventRateLimiter : rateLimiter
            if let delay = bucket.reserve() { try await Self.sleep(delay) }
            let used = try await credentials.credentials()
            let transfer = transferRequest(request, credentials: used)
            let started = clock.now
            var response: HTTPResponse
            var stream: OpenTransfer?
            do {
                let open = try await engine.open(transfer)
                if streaming && (200..<300).contains(open.status) {
                    response = HTTPResponse(status: open.status, headers: open.headers, body: [])
                    stream = open
                } else {
                    response = HTTPResponse(
                        status: open.status, headers: open.headers, body: try await open.readAll())
                }
            } catch let failure as TransferFailure {
                if failure.code == TransferFailure.cancelledCode { throw .cancelled }
                let elapsed = clock.now - started
                observe(request, code: 0, duration: elapsed)
                let retryable =
                    failure.requestNeverSent || (request.method == "GET" && failure.isConnectionBroken)
                logger.debug(
                    "request failed",
                    metadata: [
                        "verb": "\(request.method)", "path": "\(request.pathWithQuery)",
                        "error": "\(failure.message)",
                        "retry": "\(retryable && retries < configuration.maxRetries)",
                    ])
                if retryable && retries < configuration.maxRetries {
                    retries += 1
                    try await Self.sleep(Self.backoff(retry: retries))
                    continue
                }
                throw .transport(
                    "\(request.method) \(configuration.server)\(request.path): \(failure.message)")
            } catch {
                throw .cancelled
            }
            let elapsed = clock.now - started
            observe(request, code: response.status, duration: elapsed)
            logger.debug(
                "request",
                metadata: [
                    "verb": "\(request.method)", "path": "\(request.pathWithQuery)",
                    "code": "\(response.status)",
                    "milliseconds":
                        "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ])
            if response.status == 401 && credentials.canRefresh && !refreshedCredentials {
                refreshedCredentials = true
                await credentials.invalidate(used)
                continue
            }
            if (response.status == 429 || response.status >= 500) && response.status != 501
                && retries < configuration.maxRetries
            {
                if let seconds = response.header("Retry-After").flatMap({
                    Int($0.trimmingCharacters(in: .whitespaces))
                }), seconds >= 0 {
                    retries += 1
                    logger.debug(
                        "retrying after Retry-After",
                        metadata: ["path": "\(request.path)", "seconds": "\(seconds)"])
                    try await Self.sleep(.seconds(min(seconds, 300)))
                    continue
                }
                if request.method == "GET" {
                    retries += 1
                    try await Self.sleep(Self.backoff(retry: retries))
                    continue
                }
            }
            return (response, stream)
        }
    }

    private func observe(_ request: RESTRequest, code: Int, duration: Duration) {
        guard let observer else { return }
        observer(
            RequestObservation(
                verb: request.verb, resource: request.resource?.description ?? "",
                subresource: request.subresource,
                code: code, duration: duration))
    }

    /// 200 ms doubling to at most 10 s, with jitter (a random point in the upper half).
    static func backoff(retry: Int) -> Duration {
        let base = min(10.0, 0.2 * pow(2.0, Double(max(0, retry - 1))))
        return .milliseconds(Int(Double.random(in: (base / 2)...base) * 1000))
    }

    static func sleep(_ duration: Duration) async throws(KubeError) {
        do {
            try await Task.sleep(for: duration)  // a backoff or Retry-After wait, not a wait for state
        } catch {
            throw .cancelled
        }
    }
}

/// A client-side token bucket: `burst` requests at once, refilled at `qps` per second. A caller
/// reserves a token and waits for its turn (the bucket may go into debt), as client-go's
/// flowcontrol limiter does.
final class TokenBucket: @unchecked Sendable {
    private let qps: Double
    private let burst: Double
    private let lock = NSLock()
    private var tokens: Double
    private var last = ContinuousClock.now

    init(qps: Double, burst: Int) {
        self.qps = qps
        self.burst = Double(max(1, burst))
        tokens = Double(max(1, burst))
    }

    /// How long to wait before sending; nil for now.
    func reserve() -> Duration? {
        guard qps > 0 else { return nil }
        return lock.withLock {
            let now = ContinuousClock.now
            let elapsed = now - last
            last = now
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * qps)
            tokens -= 1
            if tokens >= 0 { return nil }
            return .milliseconds(Int((-tokens / qps) * 1000))
        }
    }
}
