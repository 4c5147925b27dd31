import CKubeCrypto
import Foundation

/// The server's PKI in the data directory: a CA, a serving certificate (127.0.0.1, localhost,
/// ::1) and an admin client certificate, all made at first start and reused afterwards; plus
/// the bearer token file.
struct ServerCredentials: Sendable {
    var caCertificate: String
    var serverCertificate: String
    var serverKey: String
    var adminCertificate: String
    var adminKey: String
    var token: String

    static func loadOrCreate(directory: String) throws -> ServerCredentials {
        func path(_ name: String) -> String { directory + "/" + name }
        func read(_ name: String) -> String? { try? String(contentsOfFile: path(name), encoding: .utf8) }
        func write(_ name: String, _ text: String, secret: Bool) throws {
            let p = path(name)
            guard FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: secret ? 0o600 : 0o644]) else {
                throw APIServerError.certificates("cannot write \(p)")
            }
        }
        var ca = read("ca.crt"), caKey = read("ca.key")
        if ca == nil || caKey == nil {
            let (c, k) = try generateCA()
            try write("ca.key", k, secret: true)
            try write("ca.crt", c, secret: false)
            ca = c
            caKey = k
            for stale in ["server.crt", "server.key", "admin.crt", "admin.key"] { try? FileManager.default.removeItem(atPath: path(stale)) }
        }
        guard let ca, let caKey else { throw APIServerError.certificates("no CA") }
        func pair(_ cert: String, _ key: String, server: Bool) throws -> (String, String) {
            if let c = read(cert), let k = read(key), ckc_verify_signed_by(c, ca) == 1 { return (c, k) }
            let (c, k) = try generateSigned(caCert: ca, caKey: caKey, server: server)
            try write(key, k, secret: true)
            try write(cert, c, secret: false)
            return (c, k)
        }
        let (serverCert, serverKey) = try pair("server.crt", "server.key", server: true)
        let (adminCert, adminKey) = try pair("admin.crt", "admin.key", server: false)
        var token = read("token")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if token.isEmpty {
            var rng = SystemRandomNumberGenerator()
            token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
            try write("token", token + "\n", secret: true)
        }
        return ServerCredentials(
            caCertificate: ca, serverCertificate: serverCert, serverKey: serverKey, adminCertificate: adminCert,
            adminKey: adminKey, token: token)
    }

    private static func take(_ cert: UnsafeMutablePointer<CChar>?, _ key: UnsafeMutablePointer<CChar>?) -> (String, String)? {
        defer {
            ckc_free(cert)
            ckc_free(key)
        }
        guard let cert, let key else { return nil }
        return (String(cString: cert), String(cString: key))
    }

    static func generateCA() throws -> (String, String) {
        var cert: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        let rc = ckc_generate_ca("kubesnap-ca", 3650, &cert, &key)
        guard rc == 0, let result = take(cert, key) else { throw APIServerError.certificates("cannot create the CA (\(rc))") }
        return result
    }

    static func generateSigned(caCert: String, caKey: String, server: Bool) throws -> (String, String) {
        var cert: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        let dns = server ? ["localhost", "kubernetes", "kubernetes.default"] : []
        let ips = server ? ["127.0.0.1", "::1"] : []
        let rc = withCStrings(dns) { dnsPointers in
            withCStrings(ips) { ipPointers in
                ckc_generate_signed(
                    caCert, caKey, server ? "kubesnap-apiserver" : "kubesnap-admin", server ? nil : "system:masters",
                    dnsPointers, Int32(dns.count), ipPointers, Int32(ips.count), server ? 1 : 0, 3650, &cert, &key)
            }
        }
        guard rc == 0, let result = take(cert, key) else { throw APIServerError.certificates("cannot create a certificate (\(rc))") }
        return result
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let duplicated = strings.map { strdup($0) }
        defer { duplicated.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
