import CurlTransport
import Foundation

/// Just enough of the S3 API to size and wipe a repository's objects: ListObjectsV2 and
/// DeleteObject, path-style, signed with AWS Signature V4 by libcurl (`CURLOPT_AWS_SIGV4`).
/// restic itself cannot remove a repository, and `Repository` deletion with policy Delete must.
///
/// Requests go through one `CurlEngine` shared by every store of the process (the same
/// transport as the Kubernetes client's): its loop runs on a thread of its own, so no request
/// holds one of Swift's cooperative threads, and a listing's pages and a wipe's deletions reuse
/// its connections.
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

    /// The engine of every S3 store of this process, started on first use.
    private static let engine = Result { () throws(TransferFailure) in try CurlEngine() }

    /// S3 wants the payload hash header; an empty body's SHA-256 is fixed.
    private static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    private func perform(method: String, path: String, query: String?) async throws(ResticError) -> Response {
        let url = endpoint + path + (query.map { "?" + $0 } ?? "")
        var request = TransferRequest(
            method: method, url: url, connectTimeout: .seconds(15), requestTimeout: .seconds(120))
        request.headers = [HTTPHeader(name: "x-amz-content-sha256", value: Self.emptyPayloadHash)]
        request.awsSignature = AWSSignature(
            provider: "aws:amz:\(region):s3", accessKeyID: credentials.accessKeyID,
            secretAccessKey: credentials.secretAccessKey.revealed)
        do {
            let response = try await Self.engine.get().perform(request)
            return Response(status: response.status, body: String(decoding: response.body, as: UTF8.self))
        } catch let failure as TransferFailure {
            // The URL holds no credential; the error text is libcurl's.
            throw .s3("\(method) \(url): \(failure.message)")
        } catch {
            throw .s3("\(method) \(url): cancelled")
        }
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
