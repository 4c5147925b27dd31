import ArgumentParser
import Foundation
import KubeAPIServer
import KubeJSON

/// `kubesnap apiserver`: the built-in Kubernetes-compatible API server on its own.
struct APIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apiserver",
        abstract: "Run the built-in Kubernetes-compatible API server.",
        discussion: """
            Serves HTTPS on 127.0.0.1 with a CA and certificates it generates under --data-dir, and \
            writes DATA_DIR/kubeconfig once it answers requests: \
            `kubectl --kubeconfig DATA_DIR/kubeconfig get ns`. Objects persist under --data-dir.
            """
    )

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let apiServer = try await server.start()
        print("kubesnap apiserver listening on https://\(server.host):\(apiServer.port)")
        print("export KUBECONFIG=\(apiServer.kubeconfigPath)")
        _ = await TerminationSignal.wait()
        await apiServer.shutdown()
    }
}

/// Options shared by `apiserver` and `dev`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Directory for objects, certificates and the kubeconfig.")
    var dataDir: String = ".kubesnap"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 6443

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Write one JSON line per API request to this file.", visibility: .hidden))
    var auditLog: String?

    @Flag(help: ArgumentHelp("Serve POST /debug/faults (tests only).", visibility: .hidden))
    var enableFaultInjection = false

    func validate() throws {
        guard (0...65535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535, got \(port)")
        }
        guard !dataDir.isEmpty else { throw ValidationError("--data-dir must not be empty") }
    }

    /// The data directory as an absolute path.
    var absoluteDataDir: String {
        URL(fileURLWithPath: dataDir, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
    }

    /// Starts the server; `bootstrapObjects` are served before the kubeconfig is written.
    func start(bootstrapObjects: [JSONValue] = []) async throws -> APIServer {
        var configuration = APIServerConfiguration(dataDirectory: absoluteDataDir)
        configuration.bootstrapObjects = bootstrapObjects
        configuration.port = port
        configuration.host = host
        configuration.auditLogPath = auditLog
        configuration.enableFaultInjection = enableFaultInjection
        let apiServer = APIServer(configuration: configuration)
        do {
            try await apiServer.start()
        } catch {
            throw CLIError("cannot start the API server: \(error)")
        }
        return apiServer
    }
}

/// A one-line error for the command line.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
