import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeClient

@Suite struct BehaviourTests {
    @Test func tooManyRequestsWithRetryAfterIsRetriedAndObserved() async throws {
        try await withAPIServer { server in
            let observed = Shared<[RequestObservation]>([])
            let client = try KubeClient(configuration: try server.adminConfiguration()) { observation in
                observed.update { $0.append(observation) }
            }
            server.server.faults.failNext(count: 2, code: 429, retryAfterSeconds: 1)
            let started = ContinuousClock.now
            // POST is retried too: a 429 with Retry-After says the request was not processed.
            let created = try await client.create(
                .configMaps, namespace: nil, ["metadata": ["name": "after-429"]])
            #expect(created.name == "after-429")
            #expect(ContinuousClock.now - started >= .seconds(2), "Retry-After is honoured")
            let codes = observed.value.map(\.code)
            #expect(codes == [429, 429, 201])
            #expect(observed.value.allSatisfy { $0.verb == "create" && $0.resource == "configmaps" })

            // Out of retries: the 429 reaches the caller.
            var impatient = try server.adminConfiguration()
            impatient.maxRetries = 1
            server.server.faults.failNext(count: 3, code: 429, retryAfterSeconds: 0)
            await #expect {
                _ = try await KubeClient(configuration: impatient).get(
                    .configMaps, namespace: nil, name: "after-429")
            } throws: {
                ($0 as? KubeError)?.isTooManyRequests == true
            }
            server.server.faults.reset()
        }
    }

    @Test func serverErrorsAreRetriedForReadsOnly() async throws {
        try await withAPIServer { server in
            let observed = Shared<[Int]>([])
            let client = try KubeClient(configuration: try server.adminConfiguration()) { o in
                observed.update { $0.append(o.code) }
            }
            server.server.faults.failNext(count: 2, code: 500)
            #expect(try await client.list(.configMaps, namespace: nil).items.isEmpty)
            #expect(observed.value == [500, 500, 200])

            server.server.faults.failNext(count: 1, code: 500)
            let failed = await #expect(throws: KubeError.self) {
                _ = try await client.create(
                    .configMaps, namespace: nil, ["metadata": ["name": "not-retried"]])
            }
            #expect(failed?.status?.code == 500)
            #expect(observed.value.suffix(1) == [500])
        }
    }

    @Test func connectionRefusedIsATransportError() async throws {
        // A port that was just free: nothing listens there.
        let freed = Shared(0)
        try await withAPIServer { server in freed.update { $0 = server.port } }
        let port = freed.value
        #expect(port > 0)
        var configuration = ClientConfiguration(server: "https://127.0.0.1:\(port)")
        configuration.maxRetries = 1
        configuration.bearerToken = "token-never-shown-\(UUID().uuidString)"
        let failure = await #expect(throws: KubeError.self) {
            _ = try await KubeClient(configuration: configuration).list(.namespaces, namespace: nil)
        }
        guard case .transport(let message) = failure, message.contains("onnect") else {
            Issue.record("expected a transport error, got \(String(describing: failure))")
            return
        }
        #expect(!message.contains(configuration.bearerToken ?? ""))
    }

    @Test func secretsNeverReachLogsOrErrors() async throws {
        try await withAPIServer(configure: { $0.auditLogPath = nil }) { server in
            let capture = LogCapture()
            let admin = try server.adminConfiguration()
            let keyPEM = String(decoding: admin.clientKeyData ?? [], as: UTF8.self)
            let keyLines = keyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") && $0.count > 20 }
                .map(String.init)
            #expect(!keyLines.isEmpty)
            let secretValue = "c3VwZXItc2VjcmV0LWRhdGE="

            let mtls = try KubeClient(configuration: admin, logger: capture.logger)
            var tokenConfiguration = try server.anonymousConfiguration()
            tokenConfiguration.bearerToken = server.token
            let tokenClient = try KubeClient(configuration: tokenConfiguration, logger: capture.logger)
            var wrongConfiguration = tokenConfiguration
            wrongConfiguration.bearerToken = "wrong-\(server.token)"
            let wrongClient = try KubeClient(configuration: wrongConfiguration, logger: capture.logger)

            var errors: [String] = []
            _ = try await mtls.create(
                .secrets, namespace: nil,
                ["metadata": ["name": "s"], "data": ["password": .string(secretValue)]])
            _ = try await tokenClient.get(.secrets, namespace: nil, name: "s")
            do { _ = try await tokenClient.get(.secrets, namespace: nil, name: "absent") } catch {
                errors.append("\(error)")
            }
            do { _ = try await wrongClient.get(.secrets, namespace: nil, name: "s") } catch {
                errors.append("\(error)")
            }
            do {
                _ = try await tokenClient.create(
                    .secrets, namespace: nil,
                    ["metadata": ["name": "s"], "data": ["password": .string(secretValue)]])
            } catch { errors.append("\(error)") }
            server.server.faults.failNext(count: 1, code: 500)
            _ = try await tokenClient.list(.secrets, namespace: nil)
            for try await _ in tokenClient.watch(.secrets, namespace: nil) { break }
            errors += [
                admin.description, tokenConfiguration.description, wrongConfiguration.description, "\(admin)",
            ]

            let logs = capture.lines
            #expect(logs.count >= 6, "the client logged its requests at debug level")
            #expect(logs.contains { $0.contains("/api/v1/namespaces/default/secrets") })
            #expect(errors.count == 7)
            for text in logs + errors {
                #expect(!text.contains(server.token), "token leaked: \(text)")
                #expect(!text.contains(secretValue), "secret data leaked: \(text)")
                #expect(!text.lowercased().contains("authorization: bearer"), "header leaked: \(text)")
                for line in keyLines { #expect(!text.contains(line), "client key leaked: \(text)") }
            }
        }
    }

    @Test func userAgentIsSent() async throws {
        let audit = try TemporaryDirectory(prefix: "client-audit")
        defer { audit.remove() }
        let path = audit.appending("audit.log")
        try await withAPIServer(configure: { $0.auditLogPath = path }) { server in
            // The program names itself (the CLI passes `kubesnap/VERSION`); the client does not.
            var configuration = try server.adminConfiguration()
            configuration.userAgent = "example-operator/1.2.3"
            let client = try KubeClient(configuration: configuration)
            _ = try await client.list(.namespaces, namespace: nil)
            try await waitUntil("the audit log to record the request") {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                return (text.contains("example-operator/1.2.3"), text)
            }
        }
        #expect(ClientConfiguration(server: "https://example.invalid").userAgent == KubeClient.defaultUserAgent)
    }

    @Test func requestTimeoutAppliesToRequestsButNotToWatches() async throws {
        try await withAPIServer { server in
            var configuration = try server.adminConfiguration()
            configuration.requestTimeout = .milliseconds(300)
            configuration.maxRetries = 0
            let client = try KubeClient(configuration: configuration)
            // A watch outlives the request timeout: it ends by the server's timeoutSeconds, cleanly.
            let started = ContinuousClock.now
            for try await _ in client.watch(
                .namespaces, namespace: nil, options: WatchOptions(timeoutSeconds: 1))
            {}
            #expect(ContinuousClock.now - started >= .milliseconds(900))

            server.server.faults.setLatency(milliseconds: 2000)
            let timedOut = await #expect(throws: KubeError.self) {
                _ = try await client.create(.configMaps, namespace: nil, ["metadata": ["name": "slow"]])
            }
            server.server.faults.setLatency(milliseconds: 0)
            guard case .transport(let message) = timedOut else {
                Issue.record("expected a transport timeout, got \(String(describing: timedOut))")
                return
            }
            #expect(
                message.lowercased().contains("timeout") || message.lowercased().contains("timed out"),
                "\(message)")
        }
    }

    @Test func cancellingARequestAbortsTheTransfer() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            server.server.faults.setLatency(milliseconds: 30_000)
            let outcome = Shared<KubeError?>(nil)
            let request = Task {
                do {
                    _ = try await client.list(.configMaps, namespace: nil)
                } catch {
                    outcome.update { $0 = (error as? KubeError) ?? .transport("\(error)") }
                }
            }
            try await waitUntil("the request to be in flight") {
                (client.activeTransferCount == 1, "\(client.activeTransferCount) transfers")
            }
            request.cancel()
            try await waitUntil("the cancelled request to end", timeout: .seconds(5)) {
                (outcome.value != nil, "still running")
            }
            if case .cancelled? = outcome.value {
            } else {
                Issue.record("expected .cancelled, got \(String(describing: outcome.value))")
            }
            try await waitUntil("the transfer to leave the loop", timeout: .seconds(5)) {
                (client.activeTransferCount == 0, "\(client.activeTransferCount) transfers")
            }
            server.server.faults.setLatency(milliseconds: 0)
        }
    }

    @Test func connectionsAreReused() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            for i in 0..<20 {
                _ = try await client.create(
                    .configMaps, namespace: nil, ["metadata": ["name": .string("reuse-\(i)")]])
                _ = try await client.get(.configMaps, namespace: nil, name: "reuse-\(i)")
            }
            #expect(client.openedConnectionCount >= 1)
            #expect(
                client.openedConnectionCount <= 2,
                "40 sequential requests opened \(client.openedConnectionCount) connections")
        }
    }

    @Test func tokenBucketLimitsTheRate() {
        let bucket = TokenBucket(qps: 10, burst: 3)
        #expect(bucket.reserve() == nil)
        #expect(bucket.reserve() == nil)
        #expect(bucket.reserve() == nil)
        // The fourth and fifth wait about 100 ms and 200 ms for their tokens.
        let fourth = bucket.reserve() ?? .zero
        let fifth = bucket.reserve() ?? .zero
        #expect(fourth > .milliseconds(50) && fourth <= .milliseconds(100))
        #expect(fifth > .milliseconds(150) && fifth <= .milliseconds(200))
        #expect(TokenBucket(qps: 0, burst: 1).reserve() == nil)
    }
}
