import Foundation
import KubeClient
import KubeJSON
import Logging

/// How `kubesnap console` runs.
public struct ConsoleConfiguration: Sendable {
    /// The kubeconfig's cluster and credentials: every API request is made with them.
    public var client: ClientConfiguration
    public var host: String
    public var port: Int
    /// Act as the user an authenticating proxy names (`X-Remote-User`, `X-Remote-Group`).
    public var impersonate: Bool
    /// Peer addresses whose `X-Remote-*` headers are believed (with `impersonate`).
    public var trustedProxies: Set<String>
    /// The secret in the login URL; random unless given (tests give none either).
    public var loginToken: String

    public init(client: ClientConfiguration, host: String = "127.0.0.1", port: Int = 8090, impersonate: Bool = false, trustedProxies: Set<String> = [], loginToken: String? = nil) {
        self.client = client
        self.host = host
        self.port = port
        self.impersonate = impersonate
        self.trustedProxies = trustedProxies
        self.loginToken = loginToken ?? Console.randomToken()
    }

    /// `host:port`, as `--address` takes it (`[::1]:8090` for IPv6).
    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    public var isLoopback: Bool { host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.") }
}

/// The web console: Snapshots by namespace, their detail, delete with the policy shown, restore,
/// and the other kinds' lists, live from watches, acting with the kubeconfig's credentials (or as
/// the user a trusted proxy names). It never reads Secrets.
public final class Console: Sendable {
    public let configuration: ConsoleConfiguration
    let client: KubeClient
    let sessions = Locked(ConsoleSessions())
    let boundPort = Locked<Int?>(nil)
    let logger = Logger(label: "kubesnap.console")

    public init(configuration: ConsoleConfiguration) throws {
        self.configuration = configuration
        client = try KubeClient(configuration: configuration.client)
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()  // getrandom(2): fit for secrets
        return (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }

    /// The URL to open (with the login token), once serving.
    public var loginURL: String? {
        guard let port = boundPort.current else { return nil }
        let host = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "http://\(host):\(port)/login?token=\(configuration.loginToken)"
    }

    /// Serves until the task is cancelled; `onReady` gets the login URL once bound.
    public func run(onReady: @Sendable (String) -> Void = { _ in }) async throws {
        if !configuration.isLoopback && !configuration.impersonate {
            logger.warning("the console listens on \(configuration.host), not loopback, without --impersonate: everyone who has its URL acts with this kubeconfig's credentials")
        }
        let server = ConsoleHTTPServer(host: configuration.host, port: configuration.port) { request in await self.handle(request) }
        try await server.run { port in
            boundPort.withLock { $0 = port }
            onReady(loginURL ?? "")
        }
    }
}

/// The signed-in browsers: session id to CSRF token. A session lasts `lifetime` from its login;
/// at most `capacity` are kept (a login beyond that ends the oldest), so logins through the
/// token URL never grow the console's memory without bound.
struct ConsoleSessions: Sendable {
    static let lifetime: TimeInterval = 12 * 3600
    static let capacity = 1000

    private var entries: [String: (csrf: String, since: Date)] = [:]

    /// The CSRF token of a live session.
    func csrf(for session: String, now: Date = Date()) -> String? {
        guard let entry = entries[session], now.timeIntervalSince(entry.since) < Self.lifetime else { return nil }
        return entry.csrf
    }

    mutating func add(_ session: String, csrf: String, now: Date = Date()) {
        entries = entries.filter { now.timeIntervalSince($0.value.since) < Self.lifetime }
        while entries.count >= Self.capacity, let oldest = entries.min(by: { $0.value.since < $1.value.since })?.key {
            entries[oldest] = nil
        }
        entries[session] = (csrf, now)
    }

    var count: Int { entries.count }
}
