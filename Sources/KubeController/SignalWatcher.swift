import Dispatch
import Foundation
import KubeJSON

/// Turns SIGTERM/SIGINT into a call (the manager's graceful shutdown). The signals' default
/// action is disabled while the watcher waits and restored afterwards.
enum SignalWatcher {
    /// Waits until one of `signals` arrives (returns it) or the task is cancelled (returns nil).
    /// `installed` opens once the handlers are in place.
    static func wait(for signals: [Int32] = [SIGTERM, SIGINT], installed: Latch? = nil) async -> Int32? {
        let received = FirstSignal()
        let latch = Latch()
        var sources: [DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                received.set(number)
                latch.open()
            }
            source.resume()
            sources.append(source)
        }
        installed?.open()
        await latch.wait()
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
        return received.value
    }
}

/// The first signal number seen.
private final class FirstSignal: Sendable {
    private let box = Locked<Int32?>(nil)
    func set(_ number: Int32) { box.withLock { if $0 == nil { $0 = number } } }
    var value: Int32? { box.withLock { $0 } }
}
