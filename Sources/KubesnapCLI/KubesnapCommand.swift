import ArgumentParser

/// `kubesnap`: one binary for the operator, the built-in API server, and the embedded default.
@main
struct KubesnapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubesnap",
        abstract: "Point-in-time snapshots of data into restic repositories, as a Kubernetes operator.",
        version: kubesnapVersion,
        subcommands: [OperatorCommand.self, APIServerCommand.self, DevCommand.self]
    )
}

/// The version printed by `--version` and sent in the User-Agent.
let kubesnapVersion = "0.1.0"
