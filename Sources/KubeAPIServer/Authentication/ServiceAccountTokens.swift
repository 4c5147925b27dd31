import CKubeCrypto
import Foundation
import KubeJSON

/// ServiceAccount tokens made by TokenRequest (`kubectl create token`): JWTs signed with
/// HMAC-SHA256 under a key kept in the data directory (`service-account.key`, mode 0600), so
/// they stay valid across restarts. kube-apiserver signs with RS256 so that others can verify;
/// only this server verifies these, which a shared-secret MAC is enough for.
///
/// Claims as kube-apiserver's bound tokens: `iss`, `sub` (`system:serviceaccount:NS:NAME`),
/// `aud`, `iat`, `nbf`, `exp`, and `kubernetes.io` with the namespace, the ServiceAccount's name
/// and uid, and the bound object if any. A token authenticates only while its ServiceAccount
/// (and bound object) still exists with the same uid, before `exp`, and for an audience the
/// server accepts.
struct ServiceAccountTokens: Sendable {
    static let issuer = "https://kubernetes.default.svc.cluster.local"
    /// The audiences the API server accepts (and gives a token that asks for none).
    static let audiences = ["https://kubernetes.default.svc.cluster.local"]

    private let key: [UInt8]

    init(key: [UInt8]) { self.key = key }

    /// The key in `directory/service-account.key`, made on first start.
    static func loadOrCreate(directory: String) throws(AuthenticationSetupError) -> ServiceAccountTokens {
        let path = directory + "/service-account.key"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if let key = Self.bytes(hex: hex), key.count >= 32 { return ServiceAccountTokens(key: key) }
            throw AuthenticationSetupError("\(path) does not hold a 32-byte hex key; remove it to make a new one (tokens issued so far stop working)")
        }
        var key = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in key.indices { key[i] = UInt8.random(in: 0...255, using: &rng) }
        let hex = key.map { String(format: "%02x", $0) }.joined() + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw AuthenticationSetupError("cannot write \(path)")
        }
        return ServiceAccountTokens(key: key)
    }

    /// What a token says, once its signature has been checked.
    struct Claims: Sendable {
        var namespace: String
        var name: String
        var uid: String
        var audiences: [String]
        var expires: Int64
        var boundKind: String?
        var boundName: String?
        var boundUID: String?
    }

    func issue(_ claims: Claims, now: Int64) -> String {
        var k8s: JSONValue = [
            "namespace": .string(claims.namespace),
            "serviceaccount": ["name": .string(claims.name), "uid": .string(claims.uid)],
        ]
        if let kind = claims.boundKind, let name = claims.boundName {
            k8s[kind == "Pod" ? "pod" : (kind == "Node" ? "node" : "secret")] = ["name": .string(name), "uid": .string(claims.boundUID ?? "")]
        }
        let payload: JSONValue = [
            "iss": .string(Self.issuer), "sub": .string(UserInfo.serviceAccountPrefix + claims.namespace + ":" + claims.name),
            "aud": .array(claims.audiences.map(JSONValue.string)), "iat": .int(now), "nbf": .int(now), "exp": .int(claims.expires),
            "kubernetes.io": k8s,
        ]
        let header = Self.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let body = Self.base64URL(payload.serializedBytes())
        let signature = Self.base64URL(hmac(Array("\(header).\(body)".utf8)))
        return "\(header).\(body).\(signature)"
    }

    /// The claims of a token this server signed, or nil (not a JWT, another signer, expired,
    /// or for another audience). The ServiceAccount's existence is the caller's check.
    func verify(_ token: String, now: Int64) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = Self.bytes(base64URL: String(parts[2])) else { return nil }
        let expected = hmac(Array("\(parts[0]).\(parts[1])".utf8))
        guard signature.count == expected.count else { return nil }
        var diff: UInt8 = 0
        for (a, b) in zip(signature, expected) { diff |= a ^ b }
        guard diff == 0, let payloadBytes = Self.bytes(base64URL: String(parts[1])),
            let payload = try? JSONValue.parse(payloadBytes)
        else { return nil }
        let k8s = payload["kubernetes.io"]
        guard let namespace = k8s["namespace"].stringValue, let name = k8s["serviceaccount"]["name"].stringValue,
            let exp = payload["exp"].intValue, exp > now
        else { return nil }
        let audiences = (payload["aud"].arrayValue ?? []).compactMap(\.stringValue)
        guard audiences.contains(where: Self.audiences.contains) else { return nil }
        var claims = Claims(namespace: namespace, name: name, uid: k8s["serviceaccount"]["uid"].stringValue ?? "", audiences: audiences, expires: exp)
        for (field, kind) in [("pod", "Pod"), ("secret", "Secret"), ("node", "Node")] where !k8s[field].isNull {
            claims.boundKind = kind
            claims.boundName = k8s[field]["name"].stringValue
            claims.boundUID = k8s[field]["uid"].stringValue
        }
        return claims
    }

    /// HMAC-SHA256 (RFC 2104) of `message` under the key.
    private func hmac(_ message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? Self.sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = Self.sha256(block.map { $0 ^ 0x36 } + message)
        return Self.sha256(block.map { $0 ^ 0x5C } + inner)
    }

    static func sha256(_ input: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = input.withUnsafeBufferPointer { ckc_sha256($0.baseAddress, UInt($0.count), &digest) }
        return digest
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func bytes(base64URL text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map(Array.init)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let byte = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
            i += 2
        }
        return out
    }
}
