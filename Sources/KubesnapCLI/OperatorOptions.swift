import ArgumentParser
import Foundation
import Kubesnap
import Logging

/// The operator's flags, shared by `operator` and `dev`.
struct OperatorOptions: ParsableArguments {
    @Option(help: "Number of concurrent reconciles per controller.")
    var workers: Int = OperatorConfiguration.defaultWorkers

    @Option(help: "Data operations (restic backups and verifications) at once; each takes 100-180 MiB. Others wait Pending, reason Queued.")
    var maxConcurrentOperations: Int = 2

    @Option(help: "Directory that Snapshot sources must resolve inside (spec.source.path).")
    var sourceRoot: String?

    @Option(help: "Directory that local Repository paths must resolve inside (spec.backend.local.path).")
    var repositoryRoot: String?

    @Option(help: "Directory for restic's cache and kubesnap's scratch files.")
    var cacheDir: String?

    @Option(help: "The restic binary to run.")
    var restic: String = "restic"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Requests per second to the Kubernetes API (client-side token bucket; Events have a bucket of their own); 0 (the default) sets no client-side limit, as controller-runtime since v0.21: the API server's priority and fairness limits, and the operator's requests are bounded by --workers.")
    var kubeApiQps: Double = 0

    @Option(help: "Requests the Kubernetes API client may send at once above --kube-api-qps (unused with --kube-api-qps 0).")
    var kubeApiBurst: Int = 100

    func validate() throws {
        guard workers >= 1 && workers <= 256 else {
            throw ValidationError("--workers must be between 1 and 256, got \(workers)")
        }
        guard maxConcurrentOperations >= 1 && maxConcurrentOperations <= 64 else {
            throw ValidationError("--max-concurrent-operations must be between 1 and 64, got \(maxConcurrentOperations)")
        }
        guard kubeApiQps >= 0 && kubeApiQps <= 10_000 else {
            throw ValidationError("--kube-api-qps must be between 0 (no limit) and 10000, got \(kubeApiQps)")
        }
        guard kubeApiBurst >= 1 && kubeApiBurst <= 100_000 else {
            throw ValidationError("--kube-api-burst must be between 1 and 100000, got \(kubeApiBurst)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--log-level must be one of \(levels), got \(logLevel)")
        }
    }

    /// Copies the flags common to `operator` and `dev` into `configuration`.
    func apply(to configuration: inout OperatorConfiguration) {
        configuration.workers = workers
        configuration.component = "kubesnap"
        configuration.client.userAgent = "kubesnap/\(kubesnapVersion)"
        configuration.maxConcurrentOperations = maxConcurrentOperations
        configuration.resticExecutable = restic
        configuration.client.qps = kubeApiQps
        configuration.client.burst = kubeApiBurst
        // Test-only (see PausePoints): off unless the environment names points.
        configuration.pausePoints = PausePoints(environment: ProcessInfo.processInfo.environment)
    }

    static var defaultCacheDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/kubesnap" }
        return (environment["HOME"] ?? NSTemporaryDirectory()) + "/.cache/kubesnap"
    }
}

extension LoggingSystem {
    /// Logs to standard error at `level` (validated by the options).
    static func bootstrapOnce(level: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
