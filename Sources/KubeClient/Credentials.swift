import ChildProcesses
import Foundation
import KubeJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The credentials to put on one request.
struct RequestCredentials: Sendable {
    /// Value of the Authorization header ("Bearer …" / "Basic …"); never logged.
    var authorization: String?
    var clientCertificatePEM: [UInt8]?
    var clientKeyPEM: [UInt8]?
    /// Which exec credential this was (to invalidate exactly it after a 401).
    var execGeneration: Int?
}

/// Supplies credentials for requests: static ones from the configuration, a token file re-read
/// whenever it changes, and exec plugin credentials cached until they expire.
final class CredentialProvider: Sendable {
    private let configuration: ClientConfiguration
    private let tokenFile: TokenFileReader?
    private let exec: ExecCredentialCache?

    init(configuration: ClientConfiguration) {
        self.configuration = configuration
        tokenFile = configuration.bearerTokenFile.map(TokenFileReader.init(path:))
        exec = configuration.execPlugin.map { ExecCredentialCache(plugin: $0, configuration: configuration) }
    }

    /// True when a 401 may be cured by getting credentials again (an exec plugin).
    var canRefresh: Bool { exec != nil }

    func credentials() async throws(KubeError) -> RequestCredentials {
        var result = RequestCredentials(
            clientCertificatePEM: configuration.clientCertificateData,
            clientKeyPEM: configuration.clientKeyData)
        if let tokenFile {
            result.authorization = "Bearer \(try tokenFile.token())"
        } else if let token = configuration.bearerToken {
            result.authorization = "Bearer \(token)"
        } else if let username = configuration.username {
            let pair = "\(username):\(configuration.password ?? "")"
            result.authorization = "Basic \(Data(pair.utf8).base64EncodedString())"
        }
        if let exec {
            let (credential, generation) = try await exec.credential()
            result.execGeneration = generation
            if let token = credential.token { result.authorization = "Bearer \(token)" }
            if let certificate = credential.clientCertificatePEM, let key = credential.clientKeyPEM {
                result.clientCertificatePEM = certificate
                result.clientKeyPEM = key
            }
        }
        return result
    }

    /// After a 401: forget the exec credential that was used, so the next call runs the plugin.
    func invalidate(_ used: RequestCredentials) async {
        if let exec, let generation = used.execGeneration { await exec.invalidate(generation: generation) }
    }
}

/// A bearer token file, re-read when its inode, size or modification time changes (kubelet
/// rotates projected service account tokens by replacing the file).
final class TokenFileReader: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var cached: (signature: [Int], token: String)?

    init(path: String) { self.path = path }

    func token() throws(KubeError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .configuration("token file \(path): cannot read it (\(String(cString: strerror(errno))))")
        }
        #if canImport(Darwin)
            let signature = [
                Int(info.st_ino), Int(info.st_size), Int(info.st_mtimespec.tv_sec),
                Int(info.st_mtimespec.tv_nsec),
            ]
        #else
            let signature = [
                Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec),
            ]
        #endif
        if let cached = lock.withLock({ cached }), cached.signature == signature { return cached.token }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .configuration("token file \(path): cannot read it")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw .configuration("token file \(path): empty") }
        lock.withLock { cached = (signature, token) }
        return token
    }
}

/// What an exec credential plugin returned.
struct ExecCredential: Sendable {
    var token: String?
    var clientCertificatePEM: [UInt8]?
    var clientKeyPEM: [UInt8]?
    var expiration: Date?

    func isValid(at now: Date) -> Bool {
        guard let expiration else { return true }
        return now < expiration
    }
}

/// Caches an exec plugin's credential until `expirationTimestamp`; concurrent callers share
/// one run of the plugin.
actor ExecCredentialCache {
    private let plugin: ExecCredentialPlugin
    private let configuration: ClientConfiguration
    private var cached: (credential: ExecCredential, generation: Int)?
    private var running: Task<ExecCredential, any Error>?
    private var generation = 0

    init(plugin: ExecCredentialPlugin, configuration: ClientConfiguration) {
        self.plugin = plugin
        self.configuration = configuration
    }

    func credential() async throws(KubeError) -> (ExecCredential, Int) {
        if let cached, cached.credential.isValid(at: Date()) { return (cached.credential, cached.generation) }
        let task: Task<ExecCredential, any Error>
        if let running {
            task = running
        } else {
            let plugin = plugin, configuration = configuration
            task = Task { try await ExecCredentialRunner.run(plugin, configuration: configuration) }
            running = task
        }
        do {
            let credential = try await task.value
            if running == task {
                running = nil
                generation += 1
                cached = (credential, generation)
            }
            return (credential, cached?.generation ?? generation)
        } catch {
            if running == task { running = nil }
            if let error = error as? KubeError { throw error }
            throw .configuration("exec plugin \(plugin.command): \(error)")
        }
    }

    func invalidate(generation used: Int) {
        if cached?.generation == used { cached = nil }
    }
}

/// Runs an exec credential plugin (client.authentication.k8s.io ExecCredential).
enum ExecCredentialRunner {
    static let supportedVersions: Set<String> = [
        "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1",
    ]
    /// A plugin that has not answered by then is stopped.
    static let timeout: Duration = .seconds(60)
    /// An ExecCredential is a few kilobytes; a plugin that prints more is not one.
    static let outputLimit = 1 << 20

    /// Runs the plugin (`ChildProcessRunner`) with stdin closed (non-interactive),
    /// stderr passed through as kubectl does, and stdout parsed as an ExecCredential. The
    /// plugin's output is never put in an error message: it holds the credential.
    static func run(_ plugin: ExecCredentialPlugin, configuration: ClientConfiguration)
        async throws(KubeError) -> ExecCredential
    {
        let name = plugin.command
        var environment = ProcessInfo.processInfo.environment
        for variable in plugin.environment { environment[variable.name] = variable.value }
        var spec: JSONValue = ["interactive": false]
        if plugin.provideClusterInfo {
            var cluster: JSONValue = ["server": .string(configuration.server)]
            if let server = configuration.tlsServerName { cluster["tls-server-name"] = .string(server) }
            if configuration.insecureSkipTLSVerify { cluster["insecure-skip-tls-verify"] = true }
            if let ca = configuration.certificateAuthorityData {
                cluster["certificate-authority-data"] = .string(Data(ca).base64EncodedString())
            }
            if let proxy = configuration.proxyURL { cluster["proxy-url"] = .string(proxy) }
            spec["cluster"] = cluster
        }
        let info: JSONValue = [
            "apiVersion": .string(plugin.apiVersion), "kind": "ExecCredential", "spec": spec,
        ]
        environment["KUBERNETES_EXEC_INFO"] = info.serialized()

        guard
            let executable = resolve(
                plugin.command, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        else {
            var message = "exec plugin \(name): executable not found"
            if let hint = plugin.installHint { message += "; \(hint)" }
            throw .configuration(message)
        }
        let runner = ChildProcessRunner(
            executable: executable, arguments: plugin.arguments, environment: environment,
            standardOutput: .capture(limit: outputLimit), standardError: .inherit,
            stopSignal: SIGTERM, gracePeriod: .seconds(5), timeout: timeout)
        let result: ChildProcessResult
        do {
            result = try await runner.run()
        } catch {
            switch error {
            case .cannotStart(let spawn): throw .configuration("exec plugin \(name): cannot start it: \(spawn)")
            case .timedOut(let after, _): throw .configuration("exec plugin \(name): did not answer within \(after)")
            case .cancelled: throw .configuration("exec plugin \(name): cancelled")
            }
        }
        guard result.succeeded else {
            let how = result.signalled ? "was killed by signal" : "exited with status"
            throw .configuration("exec plugin \(name): \(how) \(result.status)")
        }
        guard !result.standardOutputTruncated else {
            throw .configuration("exec plugin \(name): output is larger than \(outputLimit) bytes")
        }
        let data = result.standardOutput
        return try parse(data, plugin: plugin)
    }

    static func parse(_ data: Data, plugin: ExecCredentialPlugin) throws(KubeError) -> ExecCredential {
        let name = plugin.command
        guard let value = try? JSONValue.parse(data) else {
            throw .configuration("exec plugin \(name): output is not a JSON ExecCredential")
        }
        guard value["kind"].stringValue == "ExecCredential" else {
            throw .configuration("exec plugin \(name): output kind must be ExecCredential")
        }
        guard value["apiVersion"].stringValue == plugin.apiVersion else {
            throw .configuration(
                "exec plugin \(name): output apiVersion must be \(plugin.apiVersion) as configured")
        }
        let status = value["status"]
        var credential = ExecCredential()
        credential.token = status["token"].stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let certificate = status["clientCertificateData"].stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let key = status["clientKeyData"].stringValue.flatMap { $0.isEmpty ? nil : $0 }
        if (certificate == nil) != (key == nil) {
            throw .configuration(
                "exec plugin \(name): status.clientCertificateData and status.clientKeyData must be given together"
            )
        }
        credential.clientCertificatePEM = certificate.map { Array($0.utf8) }
        credential.clientKeyPEM = key.map { Array($0.utf8) }
        guard credential.token != nil || credential.clientCertificatePEM != nil else {
            throw .configuration("exec plugin \(name): status has neither token nor clientCertificateData")
        }
        if let text = status["expirationTimestamp"].stringValue {
            guard let date = parseTimestamp(text) else {
                throw .configuration(
                    "exec plugin \(name): status.expirationTimestamp is not an RFC 3339 time")
            }
            credential.expiration = date
        }
        return credential
    }

    static func parseTimestamp(_ text: String) -> Date? {
        RFC3339.parse(text)
    }

    private static func resolve(_ command: String, path: String) -> String? {
        if command.contains("/") {
            return FileManager.default.isExecutableFile(atPath: command) ? command : nil
        }
        for directory in path.split(separator: ":") {
            let candidate = (String(directory) as NSString).appendingPathComponent(command)
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
