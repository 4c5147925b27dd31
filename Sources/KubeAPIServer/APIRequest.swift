import Foundation
import KubeJSON

/// One HTTP request as the router sees it.
struct APIRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var headers: [(String, String)]
    var body: [UInt8]
    /// Who sent it (after impersonation, who it acts as); nil when unauthenticated.
    var user: UserInfo?

    var authenticated: Bool { user != nil }

    func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// Splits "/a/b?x=1&y=%20" into path and decoded query.
    static func split(uri: String) -> (path: String, query: [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (decode(uri), [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(String(kv[0]), plusIsSpace: true)
            let value = kv.count > 1 ? decode(String(kv[1]), plusIsSpace: true) : ""
            if query[key] == nil { query[key] = value }
        }
        return (decode(String(uri[..<q])), query)
    }

    static func decode(_ s: String, plusIsSpace: Bool = false) -> String {
        // Most paths and values hold nothing to decode; Foundation's decoding of each one was 4%
        // of the server's CPU under a burst of writes.
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return s
        }
        let t = plusIsSpace ? s.replacingOccurrences(of: "+", with: " ") : s
        return t.removingPercentEncoding ?? t
    }
}

/// What the router answers: a whole body, or a watch stream.
enum APIReply: Sendable {
    case full(status: Int, headers: [(String, String)], body: [UInt8])
    case watch(WatchReply)

    static func json(_ status: Int, _ value: JSONValue, headers: [(String, String)] = []) -> APIReply {
        .full(status: status, headers: [("Content-Type", "application/json")] + headers, body: value.serializedBytes())
    }

    static func error(_ e: APIError) -> APIReply { json(e.code, e.status, headers: e.headers) }

    var status: Int {
        switch self {
        case .full(let s, _, _): return s
        case .watch: return 200
        }
    }
}

/// A watch to stream: events rendered one JSON object per line.
struct WatchReply: Sendable {
    var id: Int?
    var events: WatchMailbox?
    /// Sent first (an ERROR event for 410), then the stream ends if `events` is nil.
    var firstChunk: [UInt8]?
    /// Ends the event stream (client gone, timeout); safe to call from any thread.
    var finish: @Sendable () -> Void = {}
    var render: @Sendable (StoredEvent) -> [UInt8]
    var timeout: Double?
    var contentType: String
}

/// What the request was, for metrics and the audit log.
struct RequestLabels: Sendable {
    var verb = ""
    var group = ""
    var resource = ""
    var subresource = ""
    var namespace = ""
    var name = ""
}
