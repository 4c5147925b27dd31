import CCurl
import Foundation

/// Just enough of the S3 API to wipe a repository's objects: ListObjectsV2 and DeleteObject,
/// path-style, signed with AWS Signature V4 by libcurl (`CURLOPT_AWS_SIGV4`). restic itself
/// cannot remove a repository, and `Repository` deletion with policy Delete must.
///
/// Transfers are blocking `curl_easy_perform` calls, each on a thread of its own, so they never
/// hold one of Swift's cooperative threads. Wiping is rare; it needs no connection pool.
struct S3ObjectStore: Sendable {
    /// `http(s)://host[:port]`, no trailing slash.
    let endpoint: String
    let bucket: String
    let region: String
    let credentials: S3Credentials

    init(endpoint: String?, bucket: String, region: String?, credentials: S3Credentials) {
        let region = (region?.isEmpty ?? true) ? "us-east-1" : region!
        var base = (endpoint?.isEmpty ?? true) ? "https://s3.\(region).amazonaws.com" : endpoint!
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
    }

    /// Every key under `prefix` (all pages).
    func keys(prefix: String) async throws(ResticError) -> [String] {
        try await objects(prefix: prefix).map(\.key)
    }

    /// Every object under `prefix` (all pages), with its size in bytes.
    func objects(prefix: String) async throws(ResticError) -> [(key: String, size: Int64)] {
        var objects: [(key: String, size: Int64)] = []
        var continuation: String?
        repeat {
            var query = "list-type=2&prefix=\(Self.queryEscape(prefix))"
            if let continuation { query += "&continuation-token=\(Self.queryEscape(continuation))" }
            let response = try await perform(method: "GET", path: "/\(bucket)", query: query)
            guard response.status == 200 else {
                throw .s3("listing s3://\(bucket)/\(prefix) answered HTTP \(response.status): \(Self.errorCode(response.body))")
            }
            let page = Self.parseListing(response.body)
            objects += page.objects
            continuation = page.truncated ? page.nextToken : nil
        } while continuation != nil
        return objects
    }

    /// Deletes one object (S3 answers 204 also for a key that does not exist).
    func delete(key: String) async throws(ResticError) {
        let path = "/\(bucket)/" + key.split(separator: "/", omittingEmptySubsequences: false).map {
            Self.pathEscape(String($0))
        }.joined(separator: "/")
        let response = try await perform(method: "DELETE", path: path, query: nil)
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw .s3("deleting s3://\(bucket)/\(key) answered HTTP \(response.status): \(Self.errorCode(response.body))")
        }
    }

    // MARK: - Transport

    struct Response: Sendable {
        var status: Int
        var body: String
    }

    private func perform(method: String, path: String, query: String?) async throws(ResticError) -> Response {
        let url = endpoint + path + (query.map { "?" + $0 } ?? "")
        let signing = "aws:amz:\(region):s3"
        let user = "\(credentials.accessKeyID):\(credentials.secretAccessKey.revealed)"
        let result: Result<Response, ResticError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Self.blockingPerform(method: method, url: url, signing: signing, user: user))
            }
            thread.name = "kubesnap-s3"
            thread.start()
        }
        return try result.get()
    }

    private static func blockingPerform(method: String, url: String, signing: String, user: String) -> Result<
        Response, ResticError
    > {
        guard let easy = curl_easy_init() else { return .failure(.s3("libcurl could not start a transfer")) }
        defer { curl_easy_cleanup(easy) }
        let body = ResponseBody()
        let userdata = Unmanaged.passUnretained(body).toOpaque()
        var codes: [CURLcode] = [
            kubesnap_curl_set_string(easy, CURLOPT_URL, url),
            kubesnap_curl_set_string(easy, CURLOPT_CUSTOMREQUEST, method),
            kubesnap_curl_set_string(easy, CURLOPT_AWS_SIGV4, signing),
            kubesnap_curl_set_string(easy, CURLOPT_USERPWD, user),
            kubesnap_curl_set_long(easy, CURLOPT_NOSIGNAL, 1),
            kubesnap_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT, 15),
            kubesnap_curl_set_long(easy, CURLOPT_TIMEOUT, 120),
            kubesnap_curl_set_callback(easy, CURLOPT_WRITEFUNCTION, s3WriteCallback),
            kubesnap_curl_set_pointer(easy, CURLOPT_WRITEDATA, userdata),
        ]
        // S3 wants the payload hash header; an empty body's SHA-256 is fixed.
        let headers = curl_slist_append(
            nil, "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        defer { curl_slist_free_all(headers) }
        codes.append(kubesnap_curl_set_slist(easy, CURLOPT_HTTPHEADER, headers))
        if let failed = codes.first(where: { $0 != CURLE_OK }) {
            return .failure(.s3("libcurl option: \(String(cString: curl_easy_strerror(failed)))"))
        }
        let code = curl_easy_perform(easy)
        guard code == CURLE_OK else {
            // The URL holds no credential; the error text is libcurl's.
            return .failure(.s3("\(method) \(url): \(String(cString: curl_easy_strerror(code)))"))
        }
        var status = 0
        _ = kubesnap_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(Response(status: status, body: String(decoding: body.bytes, as: UTF8.self)))
    }

    // MARK: - XML (the listing's few elements; no XML library needed)

    struct Listing {
        var objects: [(key: String, size: Int64)]
        var truncated: Bool
        var nextToken: String?
    }

    static func parseListing(_ xml: String) -> Listing {
        Listing(
            objects: elements("Contents", in: xml, unescaped: false).compactMap { entry in
                guard let key = elements("Key", in: entry).first else { return nil }
                return (key, Int64(elements("Size", in: entry).first ?? "") ?? 0)
            },
            truncated: elements("IsTruncated", in: xml).first == "true",
            nextToken: elements("NextContinuationToken", in: xml).first)
    }

    static func errorCode(_ xml: String) -> String {
        elements("Code", in: xml).first ?? "no error code"
    }

    /// The unescaped text of every `<name>…</name>` element.
    static func elements(_ name: String, in xml: String, unescaped: Bool = true) -> [String] {
        var results: [String] = []
        var rest = xml[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.range(of: open), let end = rest.range(of: close, range: start.upperBound..<rest.endIndex) {
            let text = String(rest[start.upperBound..<end.lowerBound])
            results.append(unescaped ? unescape(text) : text)
            rest = rest[end.upperBound...]
        }
        return results
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    static func queryEscape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func pathEscape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// RFC 3986 unreserved characters: what SigV4 leaves unescaped.
    static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

/// A response body filled by libcurl's write callback on the transfer's own thread.
private final class ResponseBody {
    var bytes: [UInt8] = []
}

private let s3WriteCallback: kubesnap_curl_data_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let body = Unmanaged<ResponseBody>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    buffer.withMemoryRebound(to: UInt8.self, capacity: length) {
        body.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}
