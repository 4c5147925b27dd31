import Foundation
import KubeClient
import KubeController
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubesnapConsole

/// The console's server without a browser: a `Console` over real HTTP (curl) in front of the
/// built-in API server with kubesnap's CRDs. What a browser cannot easily show: a watch that
/// expires (410) says so and the page relists; impersonation is believed only from a trusted
/// proxy; a console on a non-loopback address warns.
@Suite("web console server")
struct ConsoleServerTests {
    /// An API server with the CRDs and namespace demo, and a console in front of it.
    struct Setup {
        let api: TestAPIServer
        let console: Console
        let url: String
        let task: Task<Void, any Error>
        let kubectl: Kubectl

        static func start(impersonate: Bool = false, trustedProxies: Set<String> = []) async throws -> Setup {
            let api = try await TestAPIServer.start()
            let kubectl = Kubectl(kubeconfig: api.kubeconfigPath)
            try await kubectl.succeed(["apply", "-f", E2E.repositoryRoot + "/crds/"])
            try await waitUntil("the kubesnap.io resources to be served", timeout: .seconds(60), poll: .milliseconds(200)) {
                let result = try await kubectl.run(["get", "snapshots", "-A"])
                return (result.succeeded, result.stderr)
            }
            try await kubectl.succeed(["create", "namespace", "demo"])
            let client = try ClientConfiguration.load(kubeconfig: api.kubeconfigPath, environment: [:])
            let console = try Console(configuration: ConsoleConfiguration(client: client, port: 0, impersonate: impersonate, trustedProxies: trustedProxies))
            let ready = Latch()
            let url = Locked("")
            let task = Task {
                try await console.run { login in
                    url.withLock { $0 = login }
                    ready.open()
                }
            }
            await ready.wait()
            return Setup(api: api, console: console, url: url.current, task: task, kubectl: kubectl)
        }

        var base: String { String(url.prefix { $0 != "?" }.dropLast("/login".count)) }

        func stop() async {
            task.cancel()
            await api.stop()
        }

        /// A session cookie, from the login URL.
        func session() async throws -> String {
            let result = try await runCommand("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-D", "-", url])
            let cookie = result.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
            let value = cookie.split(separator: ":", maxSplits: 1).last.map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
            return try #require(value, "no cookie: \(result)")
        }

        func curl(_ path: String, cookie: String, headers: [String] = [], timeout: Int = 10) async throws -> CommandResult {
            var args = ["-sS", "-N", "--max-time", String(timeout), "-H", "Cookie: \(cookie)"]
            for h in headers { args += ["-H", h] }
            return try await runCommand("/usr/bin/curl", args + ["-w", "\n%{http_code}", base + path])
        }
    }

    @Test func anExpiredWatchSaysSoAndAFreshOneStreamsChanges() async throws {
        let setup = try await Setup.start()
        defer { Task { await setup.stop() } }
        let cookie = try await setup.session()
        setup.api.server.faults.goneNextWatches(1)
        let expired = try await setup.curl("/api/watch/snapshots?namespace=demo&resourceVersion=1", cookie: cookie)
        #expect(expired.stdout.contains(#"data: {"type":"OPEN"}"#) && expired.stdout.contains(#""type":"EXPIRED""#), "\(expired)")

        // A fresh watch from the list's version streams a new Snapshot as a Table row.
        let list = try await setup.curl("/api/table/snapshots?namespace=demo", cookie: cookie)
        let table = try JSONValue.parse(String(list.stdout.split(separator: "\n").dropLast().joined(separator: "\n")))
        let version = try #require(table["metadata"]["resourceVersion"].stringValue, "\(list)")
        let log = setup.api.directory.appending("watch.log")
        let watching = try ChildProcess(
            "/usr/bin/curl", ["-sS", "-N", "-H", "Cookie: \(cookie)", setup.base + "/api/watch/snapshots?namespace=demo&resourceVersion=\(version)"],
            logPath: log)
        defer { watching.kill9() }
        try await waitUntil("the watch to open", timeout: .seconds(20), poll: .milliseconds(50)) { (watching.log.contains("OPEN"), watching.log) }
        try await setup.kubectl.apply(#"{"apiVersion":"kubesnap.io/v1alpha1","kind":"Snapshot","metadata":{"name":"s1","namespace":"demo"},"spec":{"repository":"r","source":{"path":"x"}}}"#)
        try await waitUntil("the new Snapshot streamed as a Table row", timeout: .seconds(20), poll: .milliseconds(50)) {
            let events = watching.log.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { try? JSONValue.parse(String($0.dropFirst(6))) }
            return (events.contains { $0["type"] == "ADDED" && $0["table"]["rows"][0]["cells"][0] == "s1" }, watching.log)
        }
    }

    @Test func impersonationIsBelievedOnlyFromATrustedProxy() async throws {
        let trusted = try await Setup.start(impersonate: true, trustedProxies: ["127.0.0.1"])
        defer { Task { await trusted.stop() } }
        let cookie = try await trusted.session()
        let asAlice = try await trusted.curl("/api/table/snapshots?namespace=demo", cookie: cookie, headers: ["X-Remote-User: alice", "X-Remote-Group: team-a"])
        #expect(asAlice.stdout.hasSuffix("\n403") && asAlice.stdout.contains(#"User \"alice\" cannot list resource \"snapshots\""#), "\(asAlice)")
        let noUser = try await trusted.curl("/api/table/snapshots?namespace=demo", cookie: cookie)
        #expect(noUser.stdout.hasSuffix("\n403") && noUser.stdout.contains("X-Remote-User"), "\(noUser)")

        let untrusted = try await Setup.start(impersonate: true, trustedProxies: ["10.9.9.9"])
        defer { Task { await untrusted.stop() } }
        let other = try await untrusted.session()
        let refused = try await untrusted.curl("/api/table/snapshots?namespace=demo", cookie: other, headers: ["X-Remote-User: system:admin"])
        #expect(refused.stdout.hasSuffix("\n403") && refused.stdout.contains("trusted proxy"), "\(refused)")
    }

    @Test func theSignInPageAndTheAssetsHaveTheSecurityHeaders() async throws {
        let setup = try await Setup.start()
        defer { Task { await setup.stop() } }
        for path in ["/", "/assets/console.js", "/login?token=wrong"] {
            let head = try await runCommand("/usr/bin/curl", ["-sS", "-D", "-", "-o", "/dev/null", setup.base + path])
            #expect(head.stdout.contains("Content-Security-Policy: default-src 'none'; script-src 'self'") && !head.stdout.contains("unsafe-inline"), "\(path): \(head.stdout)")
            #expect(head.stdout.contains("X-Content-Type-Options: nosniff"), "\(path)")
        }
        #expect(ConsoleAssets.escapeHTML(#"<script>"x"&'</script>"#) == "&lt;script&gt;&quot;x&quot;&amp;&#39;&lt;/script&gt;")
    }

    @Test func theEmbeddedAssetsAreTheFilesInAssets() throws {
        let directory = E2E.repositoryRoot + "/Sources/KubesnapConsole/Assets"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == EmbeddedAssets.files.map(\.name).sorted(), "run `make generate`")
        for name in names {
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            #expect(EmbeddedAssets.files.first { $0.name == name }?.text == text, "EmbeddedAssets.swift's \(name) differs from Assets/\(name): run `make generate`")
        }
    }

    @Test func aConsoleOffLoopbackWithoutImpersonationWarns() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-console-warn")
        defer { directory.remove() }
        let api = try await TestAPIServer.start()
        defer { Task { await api.stop() } }
        let console = try KubesnapProcess.start(
            ["console", "--kubeconfig", api.kubeconfigPath, "--address", "0.0.0.0:0"], directory: directory.path,
            logPath: directory.appending("console.log"))
        defer { console.kill9() }
        try await waitUntil("the warning", timeout: .seconds(30), poll: .milliseconds(100)) {
            (console.log.contains("not loopback, without --impersonate"), E2E.tail(console.log, lines: 5))
        }
        let refused = try await runCommand(try E2E.kubesnapBinary(), ["console", "--kubeconfig", api.kubeconfigPath, "--impersonate"], environment: E2E.environment())
        #expect(!refused.succeeded && refused.stderr.contains("--impersonate needs --trusted-proxy"), "\(refused)")
    }

    /// A console port already taken leaves `kubesnap dev` running without its console, saying so.
    @Test func devRunsOnWhenTheConsolePortIsTaken() async throws {
        let setup = try await Setup.start()
        defer { Task { await setup.stop() } }
        let taken = try #require(setup.console.boundPort.current)
        let directory = try TemporaryDirectory(prefix: "kubesnap-console-taken")
        defer { directory.remove() }
        let dev = try await KubesnapProcess.dev(
            in: directory.path, dataDir: directory.appending(".kubesnap"), extraArguments: ["--console-address", "127.0.0.1:\(taken)"])
        defer { dev.kill9() }
        try await waitUntil("dev to say the console is not running", timeout: .seconds(30), poll: .milliseconds(100)) {
            (dev.log.contains("the console is not running"), E2E.tail(dev.log, lines: 5))
        }
        let kubectl = Kubectl(kubeconfig: directory.appending(".kubesnap/kubeconfig"))
        let listed = try await kubectl.run(["get", "snapshots", "-A"])
        #expect(listed.succeeded && dev.isRunning, "\(listed) \(E2E.tail(dev.log))")
    }

    /// Sessions end after their lifetime, and logins beyond the capacity end the oldest.
    @Test func sessionsExpireAndAreBounded() {
        var sessions = ConsoleSessions()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        sessions.add("a", csrf: "ta", now: start)
        #expect(sessions.csrf(for: "a", now: start.addingTimeInterval(60)) == "ta")
        #expect(sessions.csrf(for: "a", now: start.addingTimeInterval(ConsoleSessions.lifetime)) == nil, "expired")
        for i in 0..<(ConsoleSessions.capacity + 5) {
            sessions.add("s\(i)", csrf: "t\(i)", now: start.addingTimeInterval(Double(i)))
        }
        #expect(sessions.count == ConsoleSessions.capacity)
        #expect(sessions.csrf(for: "s0", now: start.addingTimeInterval(2000)) == nil, "the oldest ended")
        #expect(sessions.csrf(for: "s\(ConsoleSessions.capacity + 4)", now: start.addingTimeInterval(2000)) == "t\(ConsoleSessions.capacity + 4)")
    }
}
