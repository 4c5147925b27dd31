import ArgumentParser
import Foundation
import KubeClient
import Kubesnap
import Logging

/// `kubesnap operator`: the controller against a cluster.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Run the kubesnap controller against a Kubernetes cluster."
    )

    @Option(help: "Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use instead of its current-context.")
    var context: String?

    @Option(help: "Watch only this namespace (default: all namespaces).")
    var namespace: String?

    @Flag(help: "Elect a leader through a coordination.k8s.io Lease so that only one replica reconciles.")
    var leaderElect = false

    @Option(help: "Namespace of the leader-election Lease (default: the service account's namespace, else kubesnap-system).")
    var leaderElectionNamespace: String?

    @Option(help: "Address for /metrics (Prometheus); \"0\" disables it.")
    var metricsBindAddress: String = ":8080"

    @Option(help: "Address for /healthz and /readyz; \"0\" disables it.")
    var healthProbeBindAddress: String = ":8081"

    @OptionGroup var options: OperatorOptions

    func run() async throws {
        LoggingSystem.bootstrapOnce(level: options.logLevel)
        let client: ClientConfiguration
        do {
            client = try ClientConfiguration.load(kubeconfig: kubeconfig, context: context)
        } catch {
            throw CLIError("cannot load the cluster configuration: \(error)")
        }
        var configuration = OperatorConfiguration(
            client: client,
            sourceRoot: options.sourceRoot ?? "/",
            repositoryRoot: options.repositoryRoot ?? "/var/lib/kubesnap/repositories",
            cacheDirectory: options.cacheDir ?? OperatorOptions.defaultCacheDirectory)
        configuration.namespace = namespace
        configuration.leaderElect = leaderElect
        configuration.leaseNamespace = leaderElectionNamespace ?? Self.serviceAccountNamespace() ?? "kubesnap-system"
        configuration.metricsBindAddress = metricsBindAddress
        configuration.healthProbeBindAddress = healthProbeBindAddress
        options.apply(to: &configuration)
        configuration.handleSignals = true
        do {
            try await KubesnapOperator(configuration: configuration).run()
        } catch {
            throw CLIError("kubesnap operator: \(error)")
        }
    }

    /// The namespace the pod runs in, when in a cluster.
    static func serviceAccountNamespace() -> String? {
        let path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
