import ArgumentParser
import Foundation
import KubeClient
import KubesnapConsole
import Logging

/// The console's flags, shared by `kubesnap console` and `kubesnap dev`.
struct ConsoleOptions: ParsableArguments {
    @Flag(help: "Act as the user an authenticating proxy names in X-Remote-User and X-Remote-Group (Impersonate-* headers); the kubeconfig's account then needs only `impersonate`.")
    var impersonate = false

    @Option(name: .customLong("trusted-proxy"), help: "An address whose X-Remote-* headers are believed with --impersonate (repeat for more).")
    var trustedProxies: [String] = []

    func configuration(client: ClientConfiguration, address: String) throws -> ConsoleConfiguration {
        guard let (host, port) = ConsoleConfiguration.parseAddress(address) else {
            throw CLIError("--console-address/--address \"\(address)\": want HOST:PORT, e.g. 127.0.0.1:8090")
        }
        if impersonate && trustedProxies.isEmpty {
            throw CLIError("--impersonate needs --trusted-proxy: the address of the proxy whose X-Remote-User is believed")
        }
        return ConsoleConfiguration(client: client, host: host, port: port, impersonate: impersonate, trustedProxies: Set(trustedProxies))
    }

    /// Starts the console; prints its login URL once it serves.
    static func serve(_ configuration: ConsoleConfiguration, label: String) async throws {
        let console = try Console(configuration: configuration)
        try await console.run { url in
            FileHandle.standardOutput.write(Data("\(label): \(url)\n".utf8))
        }
    }
}

/// `kubesnap console`: the web console, acting with a kubeconfig's credentials.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the web console: Snapshots by namespace, detail, delete and restore, live.",
        discussion: """
            Every request to the API server is made with the kubeconfig's credentials (or, with \
            --impersonate behind an authenticating proxy, as the user the proxy names), so the \
            console shows what that user may see and nothing more. It prints a URL with a login \
            token; opening it gives the browser a session cookie.
            """
    )

    @Option(help: "Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use instead of its current-context.")
    var context: String?

    @Option(help: "Address to serve on, HOST:PORT (port 0 picks a free one).")
    var address: String = "127.0.0.1:8090"

    @OptionGroup var console: ConsoleOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        LoggingSystem.bootstrapOnce(level: logLevel)
        let client: ClientConfiguration
        do {
            client = try ClientConfiguration.load(kubeconfig: kubeconfig, context: context)
        } catch {
            throw CLIError("cannot load the cluster configuration: \(error)")
        }
        let configuration = try console.configuration(client: client, address: address)
        do {
            try await TerminationSignal.runUntilSignalled {
                try await ConsoleOptions.serve(configuration, label: "kubesnap console")
            }
        } catch is CancellationError {
        } catch {
            throw CLIError("kubesnap console: \(error)")
        }
    }
}
