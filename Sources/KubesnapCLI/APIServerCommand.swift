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
            That kubeconfig is the admin's (user kubesnap-admin, group system:masters); \
            `kubesnap apiserver kubeconfig --user NAME` writes one for another user, whom RBAC \
            (Roles and bindings) then governs.
            """,
        subcommands: [UserKubeconfigCommand.self]
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

    @Option(help: "Static bearer tokens, as kube-apiserver's: CSV lines token,user,uid,\"group1,group2\".")
    var tokenAuthFile: String?

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
        configuration.tokenAuthFile = tokenAuthFile
        let apiServer = APIServer(configuration: configuration)
        do {
            try await apiServer.start()
        } catch {
            throw CLIError("cannot start the API server: \(error)")
        }
        return apiServer
    }
}

/// `kubesnap apiserver kubeconfig`: a kubeconfig for a named user, so that people and tests
/// can act as a tenant.
struct UserKubeconfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Write a kubeconfig for a user, with a client certificate signed by the server's CA.",
        discussion: """
            The certificate's CN is --user and its O is --group (once). The CA is the one the \
            server keeps in --data-dir; the server URL comes from DATA_DIR/kubeconfig (written \
            while the server runs) unless --server is given. The user may do only what Roles \
            and bindings grant: `kubectl create rolebinding ... --user NAME`.
            """
    )

    /// `--data-dir` is the parent's (`kubesnap apiserver --data-dir`), parsed wherever it is written.
    @ParentCommand var parent: APIServerCommand

    @Option(help: "The user name (the certificate's CN).")
    var user: String

    @Option(help: "A group of the user (the certificate's O); at most once.")
    var group: [String] = []

    @Option(help: "The namespace of the kubeconfig's context (default \"default\").")
    var namespace: String?

    @Option(help: "The server URL; default: the one in DATA_DIR/kubeconfig.")
    var server: String?

    @Option(help: "Where to write the kubeconfig (mode 0600).")
    var output: String

    func run() throws {
        var request = UserKubeconfig.Request(dataDirectory: parent.server.absoluteDataDir, user: user, output: output)
        request.groups = group
        request.namespace = namespace
        request.server = server
        do {
            try UserKubeconfig.write(request)
        } catch {
            throw CLIError(error.description)
        }
        print("wrote \(output) for user \(user)" + (group.isEmpty ? "" : " in group \(group[0])"))
    }
}

/// A one-line error for the command line.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
