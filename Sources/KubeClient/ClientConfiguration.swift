import Foundation
import KubeJSON

/// An environment variable for an exec credential plugin.
public struct ExecEnvironmentVariable: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A kubeconfig `user.exec` credential plugin (client.authentication.k8s.io v1 / v1beta1).
public struct ExecCredentialPlugin: Sendable, Hashable {
    public var apiVersion: String
    /// An absolute path, or a name looked up in PATH. Relative paths with a `/` were resolved
    /// against the kubeconfig's directory at load time.
    public var command: String
    public var arguments: [String]
    public var environment: [ExecEnvironmentVariable]
    public var provideClusterInfo: Bool
    public var installHint: String?

    public init(
        apiVersion: String = "client.authentication.k8s.io/v1", command: String, arguments: [String] = [],
        environment: [ExecEnvironmentVariable] = [], provideClusterInfo: Bool = false,
        installHint: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.provideClusterInfo = provideClusterInfo
        self.installHint = installHint
    }
}

/// Where and how to reach an API server: server URL, TLS, credentials, the default namespace,
/// and how the client behaves (rate limit, timeouts, retries).
///
/// `description` and the reflection mirror redact every credential, so printing or dumping a
/// configuration never reveals a token, key or password.
public struct ClientConfiguration: Sendable, CustomStringConvertible, CustomReflectable {
    /// `https://host:port` (a path prefix is allowed).
    public var server: String
    /// PEM bundle of the CAs trusted for the server; nil = the system trust store.
    public var certificateAuthorityData: [UInt8]?
    public var insecureSkipTLSVerify = false
    /// SNI name and name verified in the server certificate, when it differs from the URL host.
    public var tlsServerName: String?
    public var proxyURL: String?
    /// PEM client certificate and key (mutual TLS).
    public var clientCertificateData: [UInt8]?
    public var clientKeyData: [UInt8]?
    public var bearerToken: String?
    /// Read at request time and re-read whenever the file changes; wins over `bearerToken`
    /// (as client-go's BearerTokenFile).
    public var bearerTokenFile: String?
    public var username: String?
    public var password: String?
    public var execPlugin: ExecCredentialPlugin?
    /// The context's namespace, or "default".
    public var defaultNamespace = "default"
    /// Client-side rate limit (token bucket), requests per second; 0 or less disables it.
    /// Default 50 qps with bursts of 100: client-go's 5/10 is tuned for kubectl and stalls an
    /// operator's informers at start; kube-apiserver's priority-and-fairness protects the
    /// server, and its 429s are honoured (Retry-After). Events count against a second bucket of
    /// the same size, so recording them never slows the work down.
    public var qps: Double = 50
    public var burst = 100
    public var connectTimeout: Duration = .seconds(10)
    /// Overall limit of a non-watch request; watches have none (they end by `timeoutSeconds`).
    public var requestTimeout: Duration = .seconds(60)
    /// Retries of one request (429/5xx/broken connections), as client-go's default of 10.
    public var maxRetries = 10
    /// The program's `name/version` (the CLI sets its own).
    public var userAgent = KubeClient.defaultUserAgent
    /// Where this came from ("kubeconfig /path, context x", "in-cluster"), for messages.
    public var source = "explicit"
    public var contextName: String?

    public init(server: String) {
        self.server = server
    }

    /// The service account directory of a pod.
    public static let defaultServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The authentication method, for messages (never the credential itself).
    var authenticationSummary: String {
        var parts: [String] = []
        if clientCertificateData != nil { parts.append("client-certificate") }
        if bearerTokenFile != nil {
            parts.append("token-file")
        } else if bearerToken != nil {
            parts.append("token")
        }
        if username != nil { parts.append("basic") }
        if let execPlugin { parts.append("exec(\((execPlugin.command as NSString).lastPathComponent))") }
        return parts.isEmpty ? "none" : parts.joined(separator: "+")
    }

    public var description: String {
        var text =
            "ClientConfiguration(server: \(server), source: \(source), namespace: \(defaultNamespace), auth: \(authenticationSummary)"
        if bearerToken != nil { text += ", token: <redacted>" }
        if let bearerTokenFile { text += ", tokenFile: \(bearerTokenFile)" }
        if clientKeyData != nil { text += ", clientKey: <redacted>" }
        if password != nil { text += ", password: <redacted>" }
        if insecureSkipTLSVerify { text += ", insecure-skip-tls-verify" }
        if let tlsServerName { text += ", tls-server-name: \(tlsServerName)" }
        if let proxyURL { text += ", proxy: \(Self.redactingUserInfo(proxyURL))" }
        return text + ")"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["description": description], displayStyle: .struct)
    }

    /// A proxy URL may carry `user:password@`.
    static func redactingUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return url
        }
        return url.replacingCharacters(in: scheme.upperBound..<at, with: "<redacted>")
    }
}

// MARK: - Loading

extension ClientConfiguration {
    /// The configuration kubectl would use.
    ///
    /// Order: `kubeconfig` (an explicit `--kubeconfig`; must exist), else `$KUBECONFIG` (a
    /// colon-separated list merged like kubectl: the first file to set a cluster, user or
    /// context name wins, `current-context` from the first file that sets it; missing files are
    /// skipped), else `~/.kube/config`, else the in-cluster service account. `context`
    /// overrides `current-context`.
    public static func load(
        kubeconfig: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = ClientConfiguration.defaultServiceAccountDirectory
    ) throws(KubeError) -> ClientConfiguration {
        let fileManager = FileManager.default
        var tried: [String] = []
        var files: [String] = []
        if let kubeconfig, !kubeconfig.isEmpty {
            guard fileManager.fileExists(atPath: kubeconfig) else {
                throw .configuration("kubeconfig \(kubeconfig): file does not exist")
            }
            files = [kubeconfig]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            var seen = Set<String>()
            for path in list.split(separator: ":").map(String.init)
            where !path.isEmpty && seen.insert(path).inserted {
                tried.append(path)
                if fileManager.fileExists(atPath: path) { files.append(path) }
            }
        } else if let home = environment["HOME"], !home.isEmpty {
            let path = (home as NSString).appendingPathComponent(".kube/config")
            tried.append(path)
            if fileManager.fileExists(atPath: path) { files = [path] }
        }
        if !files.isEmpty {
            return try Kubeconfig.load(files: files).configuration(context: context, environment: environment)
        }
        if environment["KUBERNETES_SERVICE_HOST"] != nil {
            return try inCluster(environment: environment, serviceAccountDirectory: serviceAccountDirectory)
        }
        let triedText = tried.isEmpty ? "" : " (tried \(tried.joined(separator: ", ")))"
        throw .configuration(
            "no kubeconfig found\(triedText) and not running in a cluster (KUBERNETES_SERVICE_HOST is not set)"
        )
    }

    /// The configuration of a pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, and
    /// `token` (re-read when it changes: kubelet rotates it), `ca.crt` and `namespace` from
    /// `serviceAccountDirectory`.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = ClientConfiguration.defaultServiceAccountDirectory
    ) throws(KubeError) -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw .configuration(
                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
        }
        guard Int(port) != nil else {
            throw .configuration("in-cluster: KUBERNETES_SERVICE_PORT is not a port number")
        }
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        var configuration = ClientConfiguration(server: "https://\(hostPart):\(port)")
        configuration.source = "in-cluster (\(serviceAccountDirectory))"
        let directory = serviceAccountDirectory as NSString
        let tokenPath = directory.appendingPathComponent("token")
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw .configuration("in-cluster: cannot read the service account token \(tokenPath)")
        }
        configuration.bearerTokenFile = tokenPath
        let caPath = directory.appendingPathComponent("ca.crt")
        guard let ca = FileManager.default.contents(atPath: caPath) else {
            throw .configuration("in-cluster: cannot read the service account CA \(caPath)")
        }
        configuration.certificateAuthorityData = Array(ca)
        if let namespace = FileManager.default.contents(atPath: directory.appendingPathComponent("namespace"))
        {
            let text = String(decoding: namespace, as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines)
            if !text.isEmpty { configuration.defaultNamespace = text }
        }
        return configuration
    }
}

/// One or more kubeconfig files merged as kubectl merges them.
struct Kubeconfig {
    /// A named cluster, user or context and the file it came from.
    struct Entry {
        var value: JSONValue
        var file: String
    }

    var clusters: [String: Entry] = [:]
    var users: [String: Entry] = [:]
    var contexts: [String: Entry] = [:]
    var currentContext: String?
    var currentContextFile: String?
    var files: [String] = []

    static func load(files: [String]) throws(KubeError) -> Kubeconfig {
        var merged = Kubeconfig()
        merged.files = files
        for file in files {
            let document = try parseFile(file)
            if document.isNull { continue }
            guard document.objectValue != nil else {
                throw .configuration(
                    "kubeconfig \(file): not a kubeconfig (expected a mapping at the top level)")
            }
            if merged.currentContext == nil, let current = document["current-context"].stringValue,
                !current.isEmpty
            {
                merged.currentContext = current
                merged.currentContextFile = file
            }
            let directory = ((file as NSString).deletingLastPathComponent as NSString).standardizingPath
            for (list, member) in [("clusters", "cluster"), ("users", "user"), ("contexts", "context")] {
                let items = document[list]
                if items.isNull { continue }
                guard let array = items.arrayValue else {
                    throw .configuration("kubeconfig \(file): \(list): expected a list")
                }
                for (index, item) in array.enumerated() {
                    guard let name = item["name"].stringValue, !name.isEmpty else {
                        throw .configuration("kubeconfig \(file): \(list)[\(index)].name: required")
                    }
                    var value = item[member]
                    if !value.isNull, value.objectValue == nil {
                        throw .configuration(
                            "kubeconfig \(file): \(list)[\(name)].\(member): expected a mapping")
                    }
                    resolvePaths(in: &value, kind: member, directory: directory)
                    let entry = Entry(value: value, file: file)
                    switch member {
                    case "cluster": if merged.clusters[name] == nil { merged.clusters[name] = entry }
                    case "user": if merged.users[name] == nil { merged.users[name] = entry }
                    default: if merged.contexts[name] == nil { merged.contexts[name] = entry }
                    }
                }
            }
        }
        return merged
    }

    static func parseFile(_ file: String) throws(KubeError) -> JSONValue {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .configuration("kubeconfig \(file): cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            return try KubeconfigParser.parse(text)
        } catch {
            throw .configuration("kubeconfig \(file): \(error)")
        }
    }

    /// Relative file references resolve against the directory of the file that holds them.
    static func resolvePaths(in value: inout JSONValue, kind: String, directory: String) {
        func resolve(_ key: String) {
            guard let path = value[key].stringValue, !path.isEmpty, !path.hasPrefix("/") else { return }
            value[key] = .string((directory as NSString).appendingPathComponent(path))
        }
        switch kind {
        case "cluster":
            resolve("certificate-authority")
        case "user":
            resolve("client-certificate")
            resolve("client-key")
            resolve("tokenFile")
            if let command = value["exec"]["command"].stringValue, command.contains("/"),
                !command.hasPrefix("/")
            {
                value["exec"]["command"] = .string((directory as NSString).appendingPathComponent(command))
            }
        default: break
        }
    }

    func configuration(context override: String?, environment: [String: String]) throws(KubeError)
        -> ClientConfiguration
    {
        let where_ =
            files.count == 1 ? "kubeconfig \(files[0])" : "kubeconfig files \(files.joined(separator: ":"))"
        let contextName: String
        if let override, !override.isEmpty {
            contextName = override
        } else if let currentContext {
            contextName = currentContext
        } else {
            throw .configuration("\(where_): current-context is not set; pass a context")
        }
        guard let contextEntry = contexts[contextName] else {
            throw .configuration("\(where_): context \"\(contextName)\" not found")
        }
        let context = contextEntry.value
        let contextPath = "kubeconfig \(contextEntry.file): contexts[\(contextName)].context"
        guard let clusterName = context["cluster"].stringValue, !clusterName.isEmpty else {
            throw .configuration("\(contextPath).cluster: required")
        }
        guard let clusterEntry = clusters[clusterName] else {
            throw .configuration("\(contextPath).cluster: cluster \"\(clusterName)\" not found")
        }
        let cluster = clusterEntry.value
        let clusterPath = "kubeconfig \(clusterEntry.file): clusters[\(clusterName)].cluster"
        guard let server = cluster["server"].stringValue, !server.isEmpty else {
            throw .configuration("\(clusterPath).server: required")
        }
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw .configuration("\(clusterPath).server: must be an http:// or https:// URL")
        }
        var configuration = ClientConfiguration(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server)
        configuration.contextName = contextName
        configuration.source = "\(where_), context \(contextName)"
        if let namespace = context["namespace"].stringValue, !namespace.isEmpty {
            configuration.defaultNamespace = namespace
        }
        configuration.insecureSkipTLSVerify =
            try Self.bool(cluster, "insecure-skip-tls-verify", clusterPath) ?? false
        configuration.tlsServerName = try Self.string(cluster, "tls-server-name", clusterPath)
        configuration.proxyURL = try Self.string(cluster, "proxy-url", clusterPath)
        configuration.certificateAuthorityData = try Self.pem(
            cluster, data: "certificate-authority-data", file: "certificate-authority", clusterPath)

        let userName = context["user"].stringValue ?? ""
        if !userName.isEmpty {
            guard let userEntry = users[userName] else {
                throw .configuration("\(contextPath).user: user \"\(userName)\" not found")
            }
            let user = userEntry.value
            let userPath = "kubeconfig \(userEntry.file): users[\(userName)].user"
            configuration.clientCertificateData = try Self.pem(
                user, data: "client-certificate-data", file: "client-certificate", userPath)
            configuration.clientKeyData = try Self.pem(
                user, data: "client-key-data", file: "client-key", userPath)
            if (configuration.clientCertificateData == nil) != (configuration.clientKeyData == nil) {
                throw .configuration("\(userPath): client-certificate and client-key must be given together")
            }
            configuration.bearerToken = try Self.string(user, "token", userPath)
            configuration.bearerTokenFile = try Self.string(user, "tokenFile", userPath)
            configuration.username = try Self.string(user, "username", userPath)
            configuration.password = try Self.string(user, "password", userPath)
            if !user["auth-provider"].isNull {
                throw .configuration(
                    "\(userPath).auth-provider: not supported; use an exec credential plugin")
            }
            let exec = user["exec"]
            if !exec.isNull {
                configuration.execPlugin = try Self.execPlugin(exec, "\(userPath).exec")
            }
        }
        return configuration
    }

    private static func string(_ object: JSONValue, _ key: String, _ path: String) throws(KubeError)
        -> String?
    {
        let value = object[key]
        if value.isNull { return nil }
        guard let text = value.stringValue else { throw .configuration("\(path).\(key): expected a string") }
        return text.isEmpty ? nil : text
    }

    private static func bool(_ object: JSONValue, _ key: String, _ path: String) throws(KubeError) -> Bool? {
        let value = object[key]
        if value.isNull { return nil }
        if let b = value.boolValue { return b }
        if let s = value.stringValue, s == "true" || s == "false" { return s == "true" }
        throw .configuration("\(path).\(key): expected true or false")
    }

    /// PEM bytes from `<data>` (base64) or the file named by `<file>`; the value never appears
    /// in an error.
    private static func pem(_ object: JSONValue, data: String, file: String, _ path: String) throws(KubeError)
        -> [UInt8]?
    {
        if let encoded = try string(object, data, path) {
            guard let decoded = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters),
                !decoded.isEmpty
            else {
                throw .configuration("\(path).\(data): not valid base64")
            }
            return Array(decoded)
        }
        if let filePath = try string(object, file, path) {
            guard let contents = FileManager.default.contents(atPath: filePath) else {
                throw .configuration("\(path).\(file): cannot read \(filePath)")
            }
            return Array(contents)
        }
        return nil
    }

    private static func execPlugin(_ exec: JSONValue, _ path: String) throws(KubeError)
        -> ExecCredentialPlugin
    {
        guard let command = try string(exec, "command", path) else {
            throw .configuration("\(path).command: required")
        }
        let apiVersion = try string(exec, "apiVersion", path) ?? ""
        guard ExecCredentialRunner.supportedVersions.contains(apiVersion) else {
            throw .configuration(
                "\(path).apiVersion: must be one of \(ExecCredentialRunner.supportedVersions.sorted().joined(separator: ", "))"
            )
        }
        var arguments: [String] = []
        if !exec["args"].isNull {
            guard let array = exec["args"].arrayValue else {
                throw .configuration("\(path).args: expected a list of strings")
            }
            for (index, item) in array.enumerated() {
                guard let text = item.stringValue else {
                    throw .configuration("\(path).args[\(index)]: expected a string")
                }
                arguments.append(text)
            }
        }
        var environment: [ExecEnvironmentVariable] = []
        if !exec["env"].isNull {
            guard let array = exec["env"].arrayValue else {
                throw .configuration("\(path).env: expected a list")
            }
            for (index, item) in array.enumerated() {
                guard let name = item["name"].stringValue, !name.isEmpty else {
                    throw .configuration("\(path).env[\(index)].name: required")
                }
                environment.append(
                    ExecEnvironmentVariable(name: name, value: item["value"].stringValue ?? ""))
            }
        }
        return ExecCredentialPlugin(
            apiVersion: apiVersion, command: command, arguments: arguments, environment: environment,
            provideClusterInfo: try bool(exec, "provideClusterInfo", path) ?? false,
            installHint: try string(exec, "installHint", path))
    }
}

/// Reads kubeconfig text: YAML (JSON is valid YAML); an empty file is `.null`.
enum KubeconfigParser {
    static func parse(_ text: String) throws(YAMLError) -> JSONValue {
        try YAML.parse(text)
    }
}
