import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport

/// Counts the events of watches and remembers when the last one arrived.
final class EventCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var last: ContinuousClock.Instant?

    func add() {
        lock.withLock {
            count += 1
            last = .now
        }
    }

    var current: (count: Int, last: ContinuousClock.Instant?) { lock.withLock { (count, last) } }
}

/// Opens `watchers` watches of ConfigMaps in `namespace` from `resourceVersion`, counting every
/// added/modified event, for the duration of `body`.
func withConfigMapWatchers<T>(
    client: KubeClient, namespace: String, resourceVersion: String?, watchers: Int, counter: EventCounter,
    _ body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<watchers {
            group.addTask {
                for try await event in client.watch(
                    .configMaps, namespace: namespace,
                    options: WatchOptions(resourceVersion: resourceVersion, allowWatchBookmarks: false))
                {
                    switch event {
                    case .added, .modified, .deleted: counter.add()
                    default: break
                    }
                }
            }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}

func configMap(_ name: String, value: String) -> JSONValue {
    ["metadata": ["name": .string(name)], "data": ["key": .string(value)]]
}

/// Issue 2: the client library against kubectl on the same server.
func runClient(gets: Int, kubectlGets: Int, events: Int, settings: BenchSettings) async throws
    -> ScenarioReport
{
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "client", crds: false)
    defer { cluster.stop() }
    let client = cluster.loadClient
    for namespace in ["client", "watch"] { try await cluster.createNamespace(namespace) }
    _ = try await client.create(.configMaps, namespace: "client", configMap("target", value: "x"))

    // GET round trips, one at a time.
    progress("client: \(gets) GETs with KubeClient, \(kubectlGets) with kubectl")
    // Warm the connection first.
    for _ in 0..<20 { _ = try await client.get(.configMaps, namespace: "client", name: "target") }
    let (_, getSeconds) = try await timed {
        for _ in 0..<gets { _ = try await client.get(.configMaps, namespace: "client", name: "target") }
    }
    let (_, kubectlSeconds) = try await timed {
        for _ in 0..<kubectlGets {
            let result = try await runCommand(
                settings.tools.kubectl,
                [
                    "--kubeconfig", cluster.kubeconfig, "get", "configmap", "target", "-n", "client", "-o",
                    "name",
                ])
            guard result.succeeded else { throw BenchError("kubectl get failed: \(result.stderr)") }
        }
    }
    let getRate = Double(gets) / getSeconds
    let kubectlGetRate = Double(kubectlGets) / kubectlSeconds

    // Live watch: KubeClient and `kubectl get -w` watch the same burst of creates.
    progress("client: watching a burst of \(events) creates with KubeClient and kubectl get -w")
    let kubectlLog = cluster.work.appending("logs/kubectl-watch.log")
    let kubectlWatch = try BenchProcess(
        name: "kubectl-watch", settings.tools.kubectl,
        [
            "--kubeconfig", cluster.kubeconfig, "get", "configmaps", "-n", "watch", "--watch-only", "-o",
            "name",
        ],
        logPath: kubectlLog)
    defer { kubectlWatch.killTree() }
    func kubectlLines() -> Int {
        ((try? String(contentsOfFile: kubectlLog, encoding: .utf8)) ?? "").split(separator: "\n").filter {
            $0.hasPrefix("configmap/")
        }.count
    }
    let startRV = try await client.list(.configMaps, namespace: "watch", options: ListOptions(limit: 1))
        .resourceVersion
    let liveCounter = EventCounter()
    let (liveRate, kubectlLiveRate, writeRate) = try await withConfigMapWatchers(
        client: client, namespace: "watch", resourceVersion: startRV, watchers: 1, counter: liveCounter
    ) { () async throws -> (Double, Double, Double) in
        // Both watchers are connected once both saw the sentinel (touched until they do: a
        // watch opened after a change does not see it).
        _ = try await client.create(.configMaps, namespace: "watch", configMap("sentinel", value: "0"))
        var touches = 0
        try await waitUntil(
            "both watchers to see the sentinel", timeout: .seconds(60), poll: .milliseconds(300)
        ) {
            if liveCounter.current.count >= 1 && kubectlLines() >= 1 { return (true, "") }
            touches += 1
            _ = try await client.patch(
                .configMaps, namespace: "watch", name: "sentinel", type: .merge,
                ["data": ["key": .string("\(touches)")]])
            return (false, "client \(liveCounter.current.count), kubectl \(kubectlLines())")
        }
        // Let the sentinel's last events arrive before counting from here.
        try await Task.sleep(for: .milliseconds(500))  // settle: the last touch's events are in flight
        let clientBase = liveCounter.current.count
        let kubectlBase = kubectlLines()
        let start = ContinuousClock.now
        try await concurrentForEach(Array(0..<events), width: 16) { index in
            _ = try await client.create(
                .configMaps, namespace: "watch", configMap("event-\(index)", value: "\(index)"))
        }
        let writeSeconds = seconds(since: start)
        var kubectlLast = ContinuousClock.now
        var kubectlSeen = 0
        try await waitUntil(
            "both watchers to see every event", timeout: settings.timeout, poll: .milliseconds(10)
        ) {
            let lines = kubectlLines()
            if lines != kubectlSeen {
                kubectlSeen = lines
                kubectlLast = .now
            }
            return (
                liveCounter.current.count >= clientBase + events && lines >= kubectlBase + events,
                "client \(liveCounter.current.count - clientBase), kubectl \(lines - kubectlBase) of \(events)"
            )
        }
        let clientLast = liveCounter.current.last ?? .now
        func rate(_ last: ContinuousClock.Instant) -> Double {
            let elapsed = last - start
            return Double(events)
                / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        return (rate(clientLast), rate(kubectlLast), Double(events) / writeSeconds)
    }
    let kubectlWatchRSS = kubectlWatch.usage?.peakRSSMiB ?? .nan
    kubectlWatch.killTree()

    // Replay: a watch without resourceVersion starts with an ADDED event per existing object.
    let replayCounter = EventCounter()
    let replayStart = ContinuousClock.now
    let replayRate = try await withConfigMapWatchers(
        client: client, namespace: "watch", resourceVersion: nil, watchers: 1, counter: replayCounter
    ) { () async throws -> Double in
        try await waitUntil(
            "the replay of \(events + 1) objects", timeout: settings.timeout, poll: .milliseconds(5)
        ) {
            (replayCounter.current.count >= events + 1, "\(replayCounter.current.count)")
        }
        let elapsed = (replayCounter.current.last ?? .now) - replayStart
        return Double(events + 1)
            / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    // 100 concurrent watches, each receiving 100 events.
    progress("client: 100 concurrent watches")
    let rssBefore = ProcessUsage.read(getpid())?.rssMiB ?? .nan
    let manyRV = try await client.list(.configMaps, namespace: "watch", options: ListOptions(limit: 1))
        .resourceVersion
    let manyCounter = EventCounter()
    let rssWith100 = try await withConfigMapWatchers(
        client: client, namespace: "watch", resourceVersion: manyRV, watchers: 100, counter: manyCounter
    ) { () async throws -> Double in
        try await concurrentForEach(Array(0..<100), width: 16) { index in
            _ = try await client.patch(
                .configMaps, namespace: "watch", name: "event-\(index % max(1, events))", type: .merge,
                ["data": ["key": .string("patched-\(index)")]])
        }
        let expected = 100 * 100
        try await waitUntil("100 watchers to see 100 events each", timeout: settings.timeout) {
            (manyCounter.current.count >= expected, "\(manyCounter.current.count) of \(expected)")
        }
        return ProcessUsage.read(getpid())?.rssMiB ?? .nan
    }

    var report = ScenarioReport("client")
    report.row(
        "GET round trips / s", format(getRate, digits: 0), baseline: format(kubectlGetRate, digits: 1),
        note: "KubeClient \(gets) GETs one at a time vs `kubectl get` \(kubectlGets) times")
    report.row(
        "live watch events / s", format(liveRate, digits: 0), baseline: format(kubectlLiveRate, digits: 0),
        note:
            "\(events) creates at \(format(writeRate, digits: 0))/s (16 at once); KubeClient watch vs `kubectl get -w -o name`"
    )
    report.row(
        "replayed watch events / s", format(replayRate, digits: 0),
        note: "watch without resourceVersion: one ADDED per existing object")
    report.row(
        "RSS MiB with 100 watches", format(rssWith100, digits: 1),
        note:
            "this process; \(format(rssBefore, digits: 1)) before opening them; one `kubectl get -w` peaks at \(format(kubectlWatchRSS, digits: 1))"
    )
    report.field("get_per_second", getRate)
    report.field("kubectl_get_per_second", kubectlGetRate)
    report.field("watch_events_per_second", liveRate)
    report.field("kubectl_watch_events_per_second", kubectlLiveRate)
    report.field("watch_replay_events_per_second", replayRate)
    report.field("rss_mib_100_watches", rssWith100)
    report.field("rss_mib_before_watches", rssBefore)
    report.field("kubectl_watch_rss_mib", kubectlWatchRSS)
    report.notes.append(
        "KubeClient without a client-side rate limit (qps 0) for these figures; the operator's default is 50 qps"
    )
    report.notes.append(
        "live watch rate = events / (last event seen − first create sent); both watchers saw the same burst")
    return report
}

/// Issue 3: the built-in API server under load.
func runAPIServer(objects: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "apiserver", crds: false)
    defer { cluster.stop() }
    let client = cluster.loadClient
    try await cluster.createNamespace("load")
    let width = 32
    let rssStart = cluster.apiserver.usage?.rssMiB ?? .nan

    progress("apiserver: \(objects) creates, \(width) at once")
    let (_, createSeconds) = try await timed {
        try await concurrentForEach(Array(0..<objects), width: width) { index in
            _ = try await client.create(
                .configMaps, namespace: "load", configMap("cm-\(index)", value: "value-\(index)"))
        }
    }
    let cpuAfterCreates = cluster.apiserver.usage?.cpuSeconds ?? .nan
    let patchCount = min(objects, 10_000)
    progress("apiserver: \(patchCount) merge patches")
    let (_, patchSeconds) = try await timed {
        try await concurrentForEach(Array(0..<patchCount), width: width) { index in
            _ = try await client.patch(
                .configMaps, namespace: "load", name: "cm-\(index)", type: .merge,
                ["data": ["key": .string("patched-\(index)")]])
        }
    }

    func watchRate(watchers: Int, writes: Int, round: Int) async throws -> (Double, Double) {
        let resourceVersion = try await client.list(
            .configMaps, namespace: "load", options: ListOptions(limit: 1)
        ).resourceVersion
        let counter = EventCounter()
        return try await withConfigMapWatchers(
            client: client, namespace: "load", resourceVersion: resourceVersion, watchers: watchers,
            counter: counter
        ) { () async throws -> (Double, Double) in
            // Each watch is open once it delivered the sentinel's event.
            _ = try await client.patch(
                .configMaps, namespace: "load", name: "cm-0", type: .merge,
                ["data": ["key": .string("sentinel-\(round)")]])
            try await waitUntil("\(watchers) watches to open", timeout: .seconds(120)) {
                (counter.current.count >= watchers, "\(counter.current.count)")
            }
            let start = ContinuousClock.now
            try await concurrentForEach(Array(0..<writes), width: width) { index in
                _ = try await client.patch(
                    .configMaps, namespace: "load", name: "cm-\(index % objects)", type: .merge,
                    ["data": ["key": .string("round-\(round)-\(index)")]])
            }
            let writeSeconds = seconds(since: start)
            let expected = watchers * (writes + 1)
            try await waitUntil("\(expected) events", timeout: settings.timeout, poll: .milliseconds(5)) {
                (counter.current.count >= expected, "\(counter.current.count) of \(expected)")
            }
            let elapsed = (counter.current.last ?? .now) - start
            let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return (Double(watchers * writes) / total, Double(writes) / writeSeconds)
        }
    }
    progress("apiserver: watch events with 1 watcher")
    let (watch1, writeRate1) = try await watchRate(watchers: 1, writes: 2000, round: 1)
    progress("apiserver: watch events with 100 watchers")
    let (watch100, writeRate100) = try await watchRate(watchers: 100, writes: 300, round: 2)
    let usage = cluster.apiserver.usage
    let createRate = Double(objects) / createSeconds
    let patchRate = Double(patchCount) / patchSeconds

    var report = ScenarioReport("apiserver")
    report.row("objects held", "\(objects)", note: "ConfigMaps of ~150 bytes")
    report.row("creates / s", format(createRate, digits: 0), note: "\(width) at once, one KubeClient")
    report.row("merge patches / s", format(patchRate, digits: 0), note: "\(patchCount) patches")
    report.row(
        "watch events / s, 1 watcher", format(watch1, digits: 0),
        note: "2000 patches at \(format(writeRate1, digits: 0))/s")
    report.row(
        "watch events / s, 100 watchers", format(watch100, digits: 0),
        note:
            "300 patches at \(format(writeRate100, digits: 0))/s, 30000 events; watchers parse in this process"
    )
    report.row(
        "server peak RSS MiB", format(usage?.peakRSSMiB ?? .nan, digits: 1),
        note: "at start \(format(rssStart, digits: 1)); now \(format(usage?.rssMiB ?? .nan, digits: 1))")
    report.row(
        "server CPU seconds", format(usage?.cpuSeconds ?? .nan),
        note: "\(format(cpuAfterCreates)) after the creates")
    report.field("creates_per_second", createRate)
    report.field("patches_per_second", patchRate)
    report.field("watch_events_per_second_1", watch1)
    report.field("watch_events_per_second_100", watch100)
    report.field("objects", objects)
    report.field("server_peak_rss_mib", usage?.peakRSSMiB ?? .nan)
    report.field("server_cpu_seconds", usage?.cpuSeconds ?? .nan)
    report.notes.append(
        "no baseline on this machine: kube-apiserver/etcd are not installed; client and server share the 2 cores"
    )
    return report
}
