import CKubeCrypto
import Foundation
import KubeJSON

/// A kubeconfig for a named user (`kubesnap apiserver kubeconfig --user alice --group team-a`):
/// a fresh client certificate with CN = the user and O = the group, signed by the CA in the
/// server's data directory (`ca.crt`, `ca.key`), valid for a year. The server needs no change
/// to accept it: every certificate its CA signed authenticates (kube-apiserver's x509 rule).
///
/// The certificate helper writes one Organization, so a user gets at most one group this way;
/// a user in several groups is a line of `--token-auth-file`.
public enum UserKubeconfig {
    public struct Request: Sendable {
        public var dataDirectory: String
        public var user: String
        public var groups: [String] = []
        public var namespace: String? = nil
        /// The server URL; nil takes it from `<dataDirectory>/kubeconfig` (a running server's).
        public var server: String? = nil
        public var output: String
        public var validDays: Int = 365

        public init(dataDirectory: String, user: String, output: String) {
            self.dataDirectory = dataDirectory
            self.user = user
            self.output = output
        }
    }

    public static func write(_ request: Request) throws(AuthenticationSetupError) {
        let user = request.user.trimmingCharacters(in: .whitespaces)
        guard !user.isEmpty else { throw AuthenticationSetupError("--user must not be empty") }
        guard request.groups.count <= 1 else {
            throw AuthenticationSetupError(
                "--group may be given once: a client certificate made here carries one group (O); put a user in several groups with --token-auth-file")
        }
        if let group = request.groups.first, group.isEmpty { throw AuthenticationSetupError("--group must not be empty") }
        let dir = request.dataDirectory
        guard let ca = try? String(contentsOfFile: dir + "/ca.crt", encoding: .utf8),
            let caKey = try? String(contentsOfFile: dir + "/ca.key", encoding: .utf8)
        else {
            throw AuthenticationSetupError("no CA in \(dir) (ca.crt, ca.key): start `kubesnap apiserver --data-dir \(dir)` once first, or pass the server's --data-dir")
        }
        var server = request.server
        if server == nil {
            if let text = try? String(contentsOfFile: dir + "/kubeconfig", encoding: .utf8), let config = try? YAML.parse(text) {
                server = config["clusters"][0]["cluster"]["server"].stringValue
            }
        }
        guard let server, !server.isEmpty else {
            throw AuthenticationSetupError("no server URL: \(dir)/kubeconfig is missing (is the server running?); pass --server https://HOST:PORT")
        }
        var cert: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        let rc = ckc_generate_signed(ca, caKey, user, request.groups.first, nil, 0, nil, 0, 0, Int32(request.validDays), &cert, &key)
        defer {
            ckc_free(cert)
            ckc_free(key)
        }
        guard rc == 0, let cert, let key else { throw AuthenticationSetupError("cannot sign a client certificate with the CA in \(dir) (\(rc))") }
        func b64(_ s: String) -> JSONValue { .string(Data(s.utf8).base64EncodedString()) }
        let contextName = "\(user)@kubesnap"
        var context: JSONValue = ["cluster": "kubesnap", "user": .string(user)]
        context["namespace"] = .string(request.namespace ?? "default")
        let config: JSONValue = [
            "apiVersion": "v1", "kind": "Config", "preferences": .emptyObject,
            "clusters": [["name": "kubesnap", "cluster": ["server": .string(server), "certificate-authority-data": b64(ca)]]],
            "users": [["name": .string(user), "user": ["client-certificate-data": b64(String(cString: cert)), "client-key-data": b64(String(cString: key))]]],
            "contexts": [["name": .string(contextName), "context": context]],
            "current-context": .string(contextName),
        ]
        let temporary = request.output + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(YAML.serialize(config).utf8), attributes: [.posixPermissions: 0o600]),
            rename(temporary, request.output) == 0
        else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AuthenticationSetupError("cannot write \(request.output)")
        }
    }
}
