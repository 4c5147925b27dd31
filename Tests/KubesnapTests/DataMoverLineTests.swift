import KubeController
import Testing

@testable import Kubesnap

@Suite("Data-operation line")
struct DataMoverLineTests {
    static func key(_ name: String) -> ObjectKey { ObjectKey(namespace: "default", name: name) }

    /// The next `count` keys the mover asks to reconcile again.
    static func next(
        _ count: Int, from completions: inout AsyncStream<ObjectKey>.Iterator
    ) async -> [String] {
        var names: [String] = []
        while names.count < count, let key = await completions.next() { names.append(key.name) }
        return names
    }

    /// A freed slot wakes the first two in line; the one that finds the slot taken by the other
    /// goes back to its place at the front, not to the end of the line.
    @Test("a woken Snapshot that finds the slot taken keeps its place in line")
    func wokenLoserKeepsItsPlace() async throws {
        let mover = DataMover(maxRunning: 1)
        let runner = Task { await mover.run() }
        defer { runner.cancel() }
        var completions = mover.completions.makeAsyncIterator()

        let first = Latch()
        #expect(mover.submit(key: Self.key("a"), uid: "a", kind: .backup) { await first.wait(); return .notStarted } == .started)
        for name in ["b", "c", "d", "e"] {
            #expect(mover.submit(key: Self.key(name), uid: name, kind: .backup) { .notStarted } == .queued)
        }
        first.open()
        // a's end: a itself, then the first two in line.
        #expect(await Self.next(3, from: &completions) == ["a", "b", "c"])

        // c tries first and takes the slot; b finds it taken.
        let second = Latch()
        #expect(mover.submit(key: Self.key("c"), uid: "c", kind: .backup) { await second.wait(); return .notStarted } == .started)
        #expect(mover.submit(key: Self.key("b"), uid: "b", kind: .backup) { .notStarted } == .queued)
        second.open()
        // c's end: c itself, then b (back at the front), then d.
        #expect(await Self.next(3, from: &completions) == ["c", "b", "d"])
    }
}
