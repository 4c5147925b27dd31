import Dispatch
import Foundation

/// Waits for SIGINT or SIGTERM. The default handlers are replaced for the life of the process,
/// so Ctrl-C and `kill` stop kubesnap through cancellation, its only shutdown path.
enum TerminationSignal {
    static func wait() async -> Int32 {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        for await number in stream { return number }
        return 0
    }

    /// Runs `work` until it returns or a termination signal arrives; on a signal, `work` is
    /// cancelled and awaited.
    static func runUntilSignalled(_ work: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await work()
                return true
            }
            group.addTask {
                _ = await wait()
                return false
            }
            _ = try await group.next()
            group.cancelAll()
            while try await group.next() != nil {}
        }
    }
}
