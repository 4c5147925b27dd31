import Foundation
import KubeJSON

extension RequestRouter {
    /// TokenRequest (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, what `kubectl
    /// create token` sends): a token for the ServiceAccount, valid for
    /// `spec.expirationSeconds` (default 3600, at least 600), optionally bound to a Pod or
    /// Secret that must exist; it stops working when the account or the bound object goes.
    func tokenRequest(_ request: APIRequest, user: UserInfo, namespace: String, serviceAccount: String) async throws(APIError) -> APIReply {
        guard let account = await store.object(BuiltinResources.serviceAccountKey, namespace: namespace, name: serviceAccount),
            account["metadata"]["deletionTimestamp"].isNull
        else { throw APIError.notFound("serviceaccounts", group: "", name: serviceAccount) }
        var body = request.body.isEmpty ? JSONValue.emptyObject : try decodeBody(request)
        guard case .object = body else { throw APIError.badRequest("the body of the request must be a TokenRequest object") }
        func invalid(_ field: String, _ message: String) -> APIError {
            APIError.invalid(kind: "TokenRequest", group: "authentication.k8s.io", name: serviceAccount, [.init(reason: "FieldValueInvalid", field: field, message: message)])
        }
        var spec = body["spec"]
        if spec.isNull { spec = .emptyObject }
        let seconds: Int64
        if spec["expirationSeconds"].isNull {
            seconds = 3600
        } else {
            guard let given = spec["expirationSeconds"].intValue else { throw invalid("spec.expirationSeconds", "Invalid value: must be an integer") }
            guard given >= 600 else { throw invalid("spec.expirationSeconds", "Invalid value: \(given): may not specify a duration less than 10 minutes") }
            guard given <= 1 << 32 else { throw invalid("spec.expirationSeconds", "Invalid value: \(given): may not specify a duration larger than 2^32 seconds") }
            seconds = given
        }
        var audiences = (spec["audiences"].arrayValue ?? []).compactMap(\.stringValue)
        if audiences.isEmpty { audiences = ServiceAccountTokens.audiences }
        let now = Int64(Date().timeIntervalSince1970)
        var claims = ServiceAccountTokens.Claims(
            namespace: namespace, name: serviceAccount, uid: account["metadata"]["uid"].stringValue ?? "", audiences: audiences, expires: now + seconds)
        let bound = spec["boundObjectRef"]
        if !bound.isNull {
            let kind = bound["kind"].stringValue ?? ""
            let boundName = bound["name"].stringValue ?? ""
            guard kind == "Pod" || kind == "Secret" else {
                throw invalid("spec.boundObjectRef.kind", "Unsupported value: \"\(kind)\": supported values: \"Pod\", \"Secret\"")
            }
            guard let object = await store.object(kind == "Pod" ? "/pods" : "/secrets", namespace: namespace, name: boundName) else {
                throw APIError.notFound(kind == "Pod" ? "pods" : "secrets", group: "", name: boundName)
            }
            let uid = object["metadata"]["uid"].stringValue ?? ""
            if let wanted = bound["uid"].stringValue, !wanted.isEmpty, wanted != uid {
                throw APIError.conflict(kind == "Pod" ? "pods" : "secrets", group: "", name: boundName, "the UID in the bound object reference (\(wanted)) does not match the UID in record. The object might have been deleted and then recreated")
            }
            claims.boundKind = kind
            claims.boundName = boundName
            claims.boundUID = uid
        }
        let token = authentication.serviceAccountTokens.issue(claims, now: now)
        spec["audiences"] = .array(audiences.map(JSONValue.string))
        spec["expirationSeconds"] = .int(seconds)
        if spec["boundObjectRef"].isNull { spec["boundObjectRef"] = .null }
        body["apiVersion"] = "authentication.k8s.io/v1"
        body["kind"] = "TokenRequest"
        body["metadata"] = ["name": .string(serviceAccount), "namespace": .string(namespace), "creationTimestamp": .null]
        body["spec"] = spec
        let expires = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now + seconds)))
        body["status"] = ["token": .string(token), "expirationTimestamp": .string(expires)]
        return .json(201, body)
    }
}
