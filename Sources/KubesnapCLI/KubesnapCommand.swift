import ArgumentParser
import Foundation

/// `kubesnap`: one binary for the operator, the built-in API server, and the embedded default.
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

/// Runs the command line. Help and `--version` print in full; a bad flag or a failure prints
/// one line on standard error (`kubesnap: ...`) and exits non-zero, without the usage text
/// ArgumentParser would add (`--help` has it).
@main
enum KubesnapMain {
    static func main() async {
        do {
            var command = try KubesnapCommand.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = KubesnapCommand.exitCode(for: error)
            let message = KubesnapCommand.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                exit(0)
            }
            let line = message.split(separator: "\n").first.map(String.init) ?? "\(error)"
            let text = line.hasPrefix("Error: ") ? String(line.dropFirst("Error: ".count)) : line
            FileHandle.standardError.write(Data("kubesnap: \(text)\n".utf8))
            exit(code.rawValue)
        }
    }
}
