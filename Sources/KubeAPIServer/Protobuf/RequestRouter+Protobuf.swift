import Foundation

extension RequestRouter {
    /// Replies are JSON only. A client that accepts JSON too (kubectl's typed clients send
    /// `Accept: application/vnd.kubernetes.protobuf, application/json` and decode by the reply's
    /// Content-Type) gets JSON; one that accepts only protobuf gets 406, as kube-apiserver
    /// answers for a media type it cannot encode.
    static func notAcceptable(_ request: APIRequest) -> APIError? {
        guard let accept = request.header("Accept"), !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        let entries = accept.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let onlyProtobuf = entries.allSatisfy { $0.hasPrefix("application/vnd.kubernetes.protobuf") }
        guard onlyProtobuf else { return nil }
        return APIError(code: 406, reason: "NotAcceptable", message: "only the following media types are accepted: application/json, application/yaml, application/json;stream=watch")
    }
}
