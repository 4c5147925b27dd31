import Foundation
import KubeJSON

/// What a request's `Accept` asks for first.
enum ReplyMedia: Equatable {
    /// JSON (also `*/*`, no `Accept`, and the `as=Table` / `as=PartialObjectMetadata` forms).
    case json
    /// `application/vnd.kubernetes.protobuf` before any JSON entry.
    case protobuf(only: Bool)

    static let protobufType = "application/vnd.kubernetes.protobuf"

    /// As kube-apiserver negotiates: the entries in order, the first one the server can write
    /// wins. Protobuf asked for with `as=` (a Table or metadata in protobuf) is not written here,
    /// so it is passed over.
    init(accept: String?) {
        let entries = (accept ?? "").lowercased().split(separator: ",")
            .map { $0.replacingOccurrences(of: " ", with: "") }.filter { !$0.isEmpty }
        guard !entries.isEmpty else {
            self = .json
            return
        }
        for entry in entries {
            let type = entry.split(separator: ";").first.map(String.init) ?? ""
            if type == Self.protobufType {
                if entry.contains("as=") { continue }
                self = .protobuf(only: !entries.contains { !$0.hasPrefix(Self.protobufType) })
                return
            }
            if type.hasPrefix("application/json") || type == "*/*" || type == "application/*" || type.hasPrefix("application/yaml") {
                self = .json
                return
            }
        }
        self = .protobuf(only: true)
    }

    var prefersProtobuf: Bool { if case .protobuf = self { return true } else { return false } }
}

extension RequestRouter {
    static let notAcceptableError = APIError(
        code: 406, reason: "NotAcceptable",
        message: "only the following media types are accepted: application/json, application/yaml, application/json;stream=watch")

    /// The API versions whose kinds have protobuf tables (`v1`, `apps/v1`, ...).
    static let protobufVersions: Set<String> = Set(ProtoTables.roots.keys.map { String($0[..<$0.lastIndex(of: "/")!]) })

    /// A request that accepts only protobuf for a group without tables (the custom resources,
    /// as kube-apiserver answers for a media type it cannot encode) gets 406 before anything is
    /// done. Built-in kinds are answered in protobuf by `negotiated`.
    static func notAcceptable(_ request: APIRequest, path: String) -> APIError? {
        guard ReplyMedia(accept: request.header("Accept")) == .protobuf(only: true) else { return nil }
        let segments = path.split(separator: "/")
        let version: String? =
            segments.first == "api" && segments.count >= 2 ? String(segments[1])
            : segments.first == "apis" && segments.count >= 3 ? "\(segments[1])/\(segments[2])" : nil
        guard let version, protobufVersions.contains(version) else { return notAcceptableError }
        return nil
    }

    /// A JSON reply turned into protobuf when the request asks for protobuf first and the reply
    /// is an object of a kind the tables hold (or a Status). Otherwise the JSON reply stays, or,
    /// if the client accepts nothing else, 406.
    static func negotiated(_ reply: APIReply, for request: APIRequest) -> APIReply {
        let media = ReplyMedia(accept: request.header("Accept"))
        guard case .protobuf(let only) = media, case .full(let status, let headers, let body) = reply,
            headers.contains(where: { $0.0 == "Content-Type" && $0.1.hasPrefix("application/json") })
        else { return reply }
        do {
            let object = try JSONValue.parse(body)
            let encoded = try ProtobufTranscoder.encodeBody(object)
            let rest = headers.filter { $0.0 != "Content-Type" }
            return .full(status: status, headers: [("Content-Type", ReplyMedia.protobufType)] + rest, body: encoded)
        } catch {
            return only ? .error(notAcceptableError) : reply
        }
    }
}
