import ArgumentParser
import ChildProcesses
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `kubesnap`: one binary for the operator, the built-in API server, and the embedded default.
struct KubesnapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubesnap",
        abstract: "Point-in-time snapshots of data into restic repositories, as a Kubernetes operator.",
        version: kubesnapVersion,
        subcommands: [OperatorCommand.self, APIServerCommand.self, DevCommand.self, ConsoleCommand.self]
    )
}

/// The version printed by `--version` and sent in the User-Agent.
/// kubesnap's version: the CLI's `--version`, and passed down as the User-Agent's.
let kubesnapVersion = "0.1.0"

/// Runs the command line. Help and `--version` print in full; a bad flag or a failure prints
/// one line on standard error (`kubesnap: ...`) and exits non-zero, without the usage text
/// ArgumentParser would add (`--help` has it).
@main
enum KubesnapMain {
    static func main() async {
        limitMallocArenas()
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

/// glibc gives each thread that meets contention an arena of its own (up to 8 per core), and
/// each arena keeps the memory freed into it: on an operator whose threads (curl loop, Swift
/// concurrency pool, child-process readers) take turns parsing pages of objects, that retained
/// memory was a third of the resident size (10,000 cached Snapshots: 105 MiB with the default,
/// 75 MiB with two arenas; `kubesnap-bench idle`). Two arenas keep two cores busy without
/// contention. Called first thing, before threads start allocating.
func limitMallocArenas() {
    #if canImport(Glibc)
        // mallopt is in <malloc.h>, which the Glibc module does not export; M_ARENA_MAX is -8
        // in glibc's ABI.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        _ = glibcFunction("mallopt", as: Mallopt.self)?(-8, 2)
    #endif
}
