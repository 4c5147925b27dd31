import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Logging
import Testing

@testable import KubeClient

/// Runs `body` against a fresh in-process API server, stopping it even when `body` fails.
func withAPIServer(
    configure: (inout APIServerConfiguration) -> Void = { _ in },
    _ body: (TestAPIServer) async throws -> Void
) async throws {
    let server = try await TestAPIServer.start(configure: configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

extension TestAPIServer {
    /// The configuration of the kubeconfig the server wrote (mutual TLS as admin).
    func adminConfiguration() throws -> ClientConfiguration {
        try ClientConfiguration.load(kubeconfig: kubeconfigPath, environment: [:])
    }

    /// Server URL + CA only (no credentials).
    func anonymousConfiguration() throws -> ClientConfiguration {
        let admin = try adminConfiguration()
        var configuration = ClientConfiguration(server: admin.server)
        configuration.certificateAuthorityData = admin.certificateAuthorityData
        return configuration
    }

    var caPEM: String {
        get throws {
            String(decoding: try adminConfiguration().certificateAuthorityData ?? [], as: UTF8.self)
        }
    }
}

/// A value shared between a test and the tasks it starts.
final class Shared<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func update<R>(_ change: (inout Value) -> R) -> R { lock.withLock { change(&stored) } }
}

/// Collects every log line (message and metadata) a client writes.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }

    var logger: Logger {
        var logger = Logger(label: "kubesnap.client") { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let error = event.error.map { " error=\($0)" } ?? ""
        capture.append(
            "\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))\(error)"
        )
    }
}

/// A ConfigMap for the typed API.
struct TestConfigMap: KubeResource, Equatable {
    static let apiResource = APIResource.configMaps
    var apiVersion: String? = "v1"
    var kind: String? = "ConfigMap"
    var metadata: ObjectMeta
    var data: [String: String]?
}
