import ArgumentParser
import Foundation
import KubeAPIServer
import KubeClient
import KubeJSON
import Kubesnap
import KubesnapAPI
import KubesnapConsole
import Logging

/// `kubesnap dev`: the built-in API server with kubesnap's CRDs, plus the operator.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the built-in API server with kubesnap's CRDs and the operator, on this machine.",
        discussion: """
            Local repository paths resolve against DATA_DIR/repositories and Snapshot sources \
            against the directory kubesnap dev was started in. Ctrl-C stops it; a restart finds \
            every object and repository as it was.
            """
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var options: OperatorOptions

    @Option(help: "Address for /healthz, /readyz and /metrics of the embedded operator; \"0\" disables it.")
    var healthProbeBindAddress: String = "0"

    @Option(help: "Address of the web console, HOST:PORT (port 0 picks a free one); \"0\" disables it.")
    var consoleAddress: String = "127.0.0.1:8090"

    @OptionGroup var console: ConsoleOptions

    func run() async throws {
        LoggingSystem.bootstrapOnce(level: options.logLevel)
        let dataDir = server.absoluteDataDir
        let crds: [JSONValue]
        do {
            crds = try EmbeddedCRDs.files.flatMap { try YAML.parseAll($0.yaml) }
        } catch {
            throw CLIError("cannot read kubesnap's embedded CRDs: \(error)")
        }
        let apiServer = try await server.start(bootstrapObjects: crds)
        let client: ClientConfiguration
        do {
            client = try ClientConfiguration.load(kubeconfig: apiServer.kubeconfigPath)
        } catch {
            await apiServer.shutdown()
            throw CLIError("cannot read the kubeconfig the API server wrote: \(error)")
        }
        let here = FileManager.default.currentDirectoryPath
        if options.repositoryRoot == nil {
            // dev's own data directory holds its repositories: made here, as the operator never
            // makes a repository root (an --repository-root given must exist).
            // (If it cannot be made, every Repository says so: BackendUnreachable, root missing.)
            try? FileManager.default.createDirectory(atPath: dataDir + "/repositories", withIntermediateDirectories: true)
        }
        var configuration = OperatorConfiguration(
            client: client,
            sourceRoot: options.sourceRoot ?? here,
            repositoryRoot: options.repositoryRoot ?? dataDir + "/repositories",
            cacheDirectory: options.cacheDir ?? dataDir + "/cache")
        options.apply(to: &configuration)
        configuration.metricsBindAddress = healthProbeBindAddress
        configuration.healthProbeBindAddress = healthProbeBindAddress

        // Written unbuffered, so a script that starts kubesnap dev sees it at once.
        FileHandle.standardOutput.write(
            Data(
                """
            kubesnap dev is running: API server https://\(server.host):\(apiServer.port), data in \(dataDir)
            Point kubectl at it:

                export KUBECONFIG=\(apiServer.kubeconfigPath)
                kubectl apply -f deploy/examples/00-namespace.yaml -f deploy/examples/01-secret.yaml \\
                  -f deploy/examples/02-repository.yaml -f deploy/examples/03-snapshot.yaml
                kubectl get snap -n demo

            (the README's walk-through goes on from there)

            Ctrl-C stops it.

            """.utf8))
        // The console acts as the admin of the built-in API server (its kubeconfig).
        let consoleConfiguration = consoleAddress == "0" ? nil : try console.configuration(client: client, address: consoleAddress)
        let outcome: Result<Void, any Error>
        let operatorConfiguration = configuration
        do {
            try await TerminationSignal.runUntilSignalled {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await KubesnapOperator(configuration: operatorConfiguration).run()
                        return true
                    }
                    if let consoleConfiguration {
                        group.addTask {
                            // A console that cannot listen (the port is taken) leaves dev
                            // running without it, and says so.
                            do {
                                try await ConsoleOptions.serve(consoleConfiguration, label: "console")
                            } catch is CancellationError {
                            } catch {
                                FileHandle.standardError.write(Data("kubesnap dev: the console is not running: \(error) (--console-address picks another address)\n".utf8))
                            }
                            return false
                        }
                    }
                    // The operator ending ends dev (the console is cancelled with it).
                    for try await operatorEnded in group where operatorEnded {
                        group.cancelAll()
                        break
                    }
                }
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await apiServer.shutdown()
        if case .failure(let error) = outcome, !(error is CancellationError) {
            throw CLIError("kubesnap dev: \(error)")
        }
    }
}
