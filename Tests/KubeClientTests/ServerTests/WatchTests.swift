import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeClient

/// What a background watch saw.
struct WatchRecord: Sendable {
    var events: [WatchEvent] = []
    var endedCleanly = false
    var error: KubeError?
    var ended: Bool { endedCleanly || error != nil }
    var summary: String {
        "\(events.count) events \(events.map { "\($0)".prefix(12) }), ended: \(endedCleanly), error: \(error.map { "\($0)" } ?? "none")"
    }
}

/// Watches in a child task, recording every event and how the sequence ended.
func recordWatch(_ stream: WatchStream, into record: Shared<WatchRecord>) async {
    do {
        for try await event in stream { record.update { $0.events.append(event) } }
        record.update { $0.endedCleanly = true }
    } catch {
        record.update { $0.error = error }
    }
}

@Suite struct WatchTests {
    @Test func eventsBookmarksAndServerSideClose() async throws {
        try await withAPIServer(configure: { $0.bookmarkIntervalSeconds = 0.2 }) { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let list = try await client.list(.configMaps, namespace: "default")
            let record = Shared(WatchRecord())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await recordWatch(
                        client.watch(
                            .configMaps, namespace: "default",
                            options: WatchOptions(resourceVersion: list.resourceVersion)),
                        into: record)
                }
                // A large object spans many TLS records/chunks.
                let big = String(repeating: "0123456789abcdef", count: 8192)
                var object = try await client.create(
                    .configMaps, namespace: nil, ["metadata": ["name": "w"], "data": ["big": .string(big)]])
                object["data"]["small"] = "1"
                _ = try await client.update(.configMaps, namespace: nil, object)
                try await client.delete(.configMaps, namespace: nil, name: "w")
                try await waitUntil("added, modified, deleted and a bookmark") {
                    let r = record.value
                    let kinds = r.events.map { event -> String in
                        switch event {
                        case .added: return "A"
                        case .modified: return "M"
                        case .deleted: return "D"
                        case .bookmark: return "B"
                        case .error: return "E"
                        }
                    }
                    let changes = kinds.filter { $0 != "B" }
                    return (changes == ["A", "M", "D"] && kinds.contains("B"), r.summary)
                }
                let added = record.value.events.first {
                    if case .added = $0 { return true } else { return false }
                }
                let bigReceived = added?.object?["data"]["big"].stringValue
                #expect(
                    bigReceived == big, "the big object arrived whole (\(bigReceived?.count ?? 0) characters)"
                )
                // The server closes every watch: the sequence ends without an error.
                await server.server.faults.closeWatches()
                try await waitUntil("the watch to end") { (record.value.ended, record.value.summary) }
                #expect(record.value.endedCleanly, "\(record.value.summary)")
                try await group.waitForAll()
            }
            try await waitUntil("no transfer left") {
                (client.activeTransferCount == 0, "\(client.activeTransferCount)")
            }
        }
    }

    @Test func goneFromAFaultAndFromATooOldResourceVersion() async throws {
        try await withAPIServer(configure: { $0.watchHistoryLimit = 3 }) { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let start = try await client.list(.configMaps, namespace: nil).resourceVersion
            server.server.faults.goneNextWatches(1)
            let injected = await #expect(throws: KubeError.self) {
                for try await _ in client.watch(
                    .configMaps, namespace: nil, options: WatchOptions(resourceVersion: start))
                {}
            }
            #expect(injected?.isGone == true)

            for i in 0..<10 {
                _ = try await client.create(
                    .configMaps, namespace: nil, ["metadata": ["name": .string("old-\(i)")]])
            }
            let tooOld = await #expect(throws: KubeError.self) {
                for try await _ in client.watch(
                    .configMaps, namespace: nil, options: WatchOptions(resourceVersion: start))
                {}
            }
            #expect(tooOld?.isGone == true, "\(String(describing: tooOld))")
            try await waitUntil("the ended watches to leave the curl loop") {
                (client.activeTransferCount == 0, "\(client.activeTransferCount) transfers")
            }
        }
    }

    @Test func timeoutSecondsEndsTheWatchCleanly() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            var count = 0
            for try await _ in client.watch(
                .namespaces, namespace: nil,
                options: WatchOptions(allowWatchBookmarks: false, timeoutSeconds: 1))
            {
                count += 1
            }
            #expect(count >= 1)  // an ADDED per existing namespace, then the server's close
        }
    }

    @Test func cancellingAWatchInFlightEndsItPromptly() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            _ = try await client.create(.configMaps, namespace: nil, ["metadata": ["name": "seen"]])
            let record = Shared(WatchRecord())
            let watcher = Task { await recordWatch(client.watch(.configMaps, namespace: nil), into: record) }
            try await waitUntil("the watch to deliver an event") {
                (!record.value.events.isEmpty, record.value.summary)
            }
            #expect(client.activeTransferCount == 1)
            watcher.cancel()
            try await waitUntil("the cancelled watch to end", timeout: .seconds(5)) {
                (record.value.ended, record.value.summary)
            }
            await watcher.value
            if case .cancelled = record.value.error {
            } else {
                Issue.record("expected .cancelled, got \(record.value.summary)")
            }
            try await waitUntil("the transfer to be removed from the curl loop", timeout: .seconds(5)) {
                (client.activeTransferCount == 0, "\(client.activeTransferCount) transfers")
            }
            // Leaving a for-await loop early (no cancellation) also releases the transfer.
            for try await _ in client.watch(.configMaps, namespace: nil) { break }
            try await waitUntil("the abandoned watch to be removed", timeout: .seconds(5)) {
                (client.activeTransferCount == 0, "\(client.activeTransferCount) transfers")
            }
        }
    }

    @Test func manyConcurrentWatchesDoNotStarveRequests() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let records = (0..<100).map { _ in Shared(WatchRecord()) }
            await withTaskGroup(of: Void.self) { group in
                for record in records {
                    group.addTask {
                        await recordWatch(
                            client.watch(
                                .configMaps, namespace: nil, options: WatchOptions(allowWatchBookmarks: false)
                            ), into: record)
                    }
                }
                do {
                    try await waitUntil("100 watches open", timeout: .seconds(60)) {
                        (client.activeTransferCount == 100, "\(client.activeTransferCount)")
                    }
                    // Plain requests still go through while the watches hang open.
                    for i in 0..<5 {
                        _ = try await client.create(
                            .configMaps, namespace: nil, ["metadata": ["name": .string("c\(i)")]])
                    }
                    try await waitUntil("every watch to see 5 events", timeout: .seconds(60)) {
                        let counts = records.map { $0.value.events.count }
                        return (counts.allSatisfy { $0 == 5 }, "min \(counts.min() ?? 0)")
                    }
                } catch {
                    Issue.record("\(error)")
                }
                group.cancelAll()
            }
            try await waitUntil("all transfers removed") {
                (client.activeTransferCount == 0, "\(client.activeTransferCount)")
            }
        }
    }

    @Test func aSlowConsumerPausesTheTransferAndLosesNothing() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let start = try await client.list(.configMaps, namespace: nil).resourceVersion
            var iterator = client.watch(
                .configMaps, namespace: nil,
                options: WatchOptions(resourceVersion: start, allowWatchBookmarks: false)
            ).makeAsyncIterator()
            // 24 objects of 512 KiB (12 MiB) while nobody reads: more than the 8 MiB flow window.
            let payload = String(repeating: "x", count: 512 << 10)
            _ = try await client.create(
                .configMaps, namespace: nil,
                ["metadata": ["name": "slow-0"], "data": ["p": .string(payload)]])
            guard case .added(let first)? = try await iterator.next() else {
                Issue.record("expected the first ADDED")
                return
            }
            #expect(first.name == "slow-0")
            for i in 1..<24 {
                _ = try await client.create(
                    .configMaps, namespace: nil,
                    ["metadata": ["name": .string("slow-\(i)")], "data": ["p": .string(payload)]])
            }
            try await waitUntil("the watch to be paused by flow control") {
                (client.pausedTransferCount > 0, "\(client.pausedTransferCount) pauses")
            }
            var names: [String] = []
            while names.count < 23, let event = try await iterator.next() {
                guard case .added(let object) = event else { continue }
                #expect(object["data"]["p"].stringValue?.count == payload.count)
                names.append(object.name ?? "")
            }
            #expect(names == (1..<24).map { "slow-\($0)" })
        }
    }

    @Test func typedWatch() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let start = try await client.list(TestConfigMap.self, namespace: "default").resourceVersion
            _ = try await client.create(
                TestConfigMap(
                    metadata: ObjectMeta(name: "typed-watch", namespace: "default"), data: ["x": "y"]))
            for try await event in client.watch(
                TestConfigMap.self, namespace: "default", options: WatchOptions(resourceVersion: start))
            {
                guard case .added(let map) = event else { continue }
                #expect(map.metadata.name == "typed-watch" && map.data == ["x": "y"])
                break
            }
        }
    }
}

/// Consumes a watch from actor-isolated code (as a controller does).
actor WatchConsumer {
    private(set) var names: [String] = []

    func consume(_ stream: WatchStream, until count: Int) async throws {
        for try await event in stream {
            if case .added(let object) = event, let name = object.name { names.append(name) }
            if names.count >= count { return }
        }
    }
}

@Suite struct ActorWatchTests {
    @Test func aWatchCanBeConsumedInsideAnActor() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            for name in ["a", "b"] {
                _ = try await client.create(
                    .configMaps, namespace: nil, ["metadata": ["name": .string(name)]])
            }
            let consumer = WatchConsumer()
            try await consumer.consume(client.watch(.configMaps, namespace: nil), until: 2)
            #expect(await consumer.names.sorted() == ["a", "b"])
        }
    }
}
