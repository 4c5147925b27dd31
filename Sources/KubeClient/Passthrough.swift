import CurlTransport
import KubeJSON

/// An API server's answer as it came: what a client acting for someone else (the web console)
/// shows, whatever its status.
public struct PassthroughResponse: Sendable {
    public var status: Int
    /// The answer parsed (for a `raw` request that succeeded: null, see `bytes`).
    public var body: JSONValue
    /// The answer as it came, for a `raw` request (forwarded without being parsed).
    public var bytes: [UInt8]

    public init(status: Int, body: JSONValue, bytes: [UInt8] = []) {
        self.status = status
        self.body = body
        self.bytes = bytes
    }

    /// The API server's message for a non-2xx answer (its Status, or the HTTP status).
    public var errorMessage: String? {
        guard !(200..<300).contains(status) else { return nil }
        let message = body["message"].stringValue ?? ""
        return message.isEmpty ? "the API server answered \(status)" : message
    }
}

/// Requests on someone's behalf: a path under the API server, an `Accept` of the caller's
/// choosing (the Table form), and extra headers (impersonation). The credentials are the
/// client's own, as for every other request.
extension KubeClient {
    /// Sends a request and returns the answer whatever its status; throws only when there is no
    /// answer (transport, cancellation) or it is not JSON.
    public func passthrough(
        method: String, path: String, query: [(name: String, value: String)] = [], body: JSONValue? = nil,
        contentType: String = "application/json", accept: String = "application/json",
        headers: [(name: String, value: String)] = [], raw: Bool = false
    ) async throws(KubeError) -> PassthroughResponse {
        var request = RESTRequest(
            method: method, verb: method.lowercased(), path: path, query: query,
            body: body.map { $0.serializedBytes() }, contentType: body == nil ? nil : contentType)
        request.accept = accept
        request.extraHeaders = headers
        let (response, _) = try await roundTrip(request, streaming: false)
        // A raw answer that succeeded is passed on as bytes (a list of 10,000 rows is not
        // parsed only to be written out again); an error is parsed for its message.
        if raw && (200..<300).contains(response.status) {
            return PassthroughResponse(status: response.status, body: .null, bytes: response.body)
        }
        let value: JSONValue
        do {
            value = response.body.isEmpty ? .null : try JSONValue.parse(response.body)
        } catch {
            throw .decoding("\(method) \(path): the response is not JSON: \(error)")
        }
        return PassthroughResponse(status: response.status, body: value, bytes: raw ? response.body : [])
    }

    /// A watch of `path` with this `Accept` and these headers (events as `watch` gives them).
    public func passthroughWatch(
        path: String, query: [(name: String, value: String)] = [], accept: String = "application/json",
        headers: [(name: String, value: String)] = []
    ) -> WatchStream {
        var request = RESTRequest(method: "GET", verb: "watch", path: path, query: query + [("watch", "1")], isWatch: true)
        request.accept = accept
        request.extraHeaders = headers
        return WatchStream(client: self, request: request)
    }
}
