import Foundation
import Restic
import KubeClient
import KubeJSON
import KubeTestSupport

/// Settings every scenario shares.
struct BenchSettings: Sendable {
    var tools: Tools
    /// Where fixture repositories are kept between runs.
    var cacheRoot: String
    /// The longest any one wait may take.
    var timeout: Duration
    /// Operator `--workers`.
    var workers: Int
    /// adopt and delete: baseline runs and operator rounds, alternating (the medians count).
    var rounds: Int
    /// Operator `--kube-api-qps` / `--kube-api-burst` (and the adopt baseline's client).
    var rate: ClientRate
}

/// Waits until the operator has started no restic command for `quiet` and none of its restic
/// children still runs (its start-up work is done: a run started just before would otherwise
/// take CPU inside the measured window).
func waitForResticQuiet(_ op: OperatorProcess, quiet: Duration = .seconds(2), timeout: Duration)
    async throws
{
    var lastCount = -1
    var lastChange = ContinuousClock.now
    try await waitUntil("the operator's restic runs to stop", timeout: timeout, poll: .milliseconds(100)) {
        let count = op.restic.runs().count
        if count != lastCount {
            lastCount = count
            lastChange = .now
        }
        let running = resticChildren(of: op.process.pid)
        return (ContinuousClock.now - lastChange >= quiet && running == 0, "\(count) runs so far, \(running) running")
    }
}

/// How many restic processes `parent` has (from /proc: the wrapper execs restic).
func resticChildren(of parent: Int32) -> Int {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
    var count = 0
    for entry in entries where entry.allSatisfy(\.isNumber) {
        guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { continue }
        // After the name: state, then the parent's pid.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if stat[stat.index(after: open)..<close] == "restic", fields.count > 1, Int32(fields[1]) == parent { count += 1 }
    }
    return count
}

func histogramText(_ counts: [String: Int]) -> String {
    counts.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
}

/// Scenario 1: adopt N existing restic snapshots through static Snapshots.
func runAdopt(snapshots count: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let namespaceCount = min(10, max(1, count))
    let fixture = try await SnapshotRepositoryFixture.prepare(
        count: count, cacheRoot: settings.cacheRoot, restic: settings.tools.restic)
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "adopt", rate: settings.rate)
    defer { cluster.stop() }
    let namespaces = (0..<namespaceCount).map { "adopt-\($0)" }
    // One backend location has one Repository: each namespace gets its own copy of the
    // repository (all N snapshots in each) and adopts its share of the ids.
    try await cluster.createRepositories(copying: fixture.path, into: namespaces)
    let items = fixture.ids.enumerated().map { index, id in
        (namespace: namespaces[index % namespaceCount], name: "adopt-\(index)", id: id)
    }

    progress("adopt: starting the operator")
    let op = try await cluster.startOperator(name: "adopt", workers: settings.workers)
    try await op.waitReady(timeout: settings.timeout)
    try await cluster.waitForRepositoriesReady(namespaces, timeout: settings.timeout)
    try await waitForResticQuiet(op, timeout: settings.timeout)
    try await cluster.createNamespace("adopt-baseline")

    // The bench's watch (SnapshotTracker, which times each Snapshot) runs through the baseline
    // too, on the baseline's copy of the resource: the API server then serves the same watcher,
    // and the bench parses the same events, in both figures (about 0.1 s of bench CPU and up to
    // 0.1 s of API server CPU per 1,000 objects).
    return try await withSnapshotTracker(client: cluster.loadClient, resource: Resources.baselineSnapshots) { _ in
        try await withSnapshotTracker(client: cluster.loadClient) { tracker in
            // Baseline runs and operator rounds alternate, `--rounds` of each (3 by default), and the
            // medians count: one run of either is at the mercy of a shared machine's hiccups (single
            // rounds of the same build gave ratios from 1.03 to 1.69), and alternating them keeps a
            // slow minute from falling on one side only. The baseline's objects are of a copy of the Snapshot CRD the
            // operator does not watch (Resources.baselineSnapshots), so it stays idle through them.
            // Between rounds the Snapshots are deleted (Retain, the default with snapshotID: their
            // data stays) and the next round adopts the same ids again under new names, as API.md
            // allows.
            var baselineRuns: [AdoptBaselineRun] = []
            var rounds: [AdoptRound] = []
            for round in 1...settings.rounds {
                baselineRuns.append(
                    try await adoptBaselineRun(round, ids: fixture.ids, cluster: cluster, settings: settings))
                let roundItems = items.enumerated().map { index, item in
                    (namespace: item.namespace, name: round == 1 ? item.name : "adopt-r\(round)-\(index)", id: item.id)
                }
                rounds.append(try await adoptRound(round, roundItems, cluster: cluster, op: op, tracker: tracker, settings: settings))
                guard round < settings.rounds else { break }
                progress("adopt: deleting round \(round)'s Snapshots (Retain: their data stays)")
                for namespace in namespaces {
                    _ = try await cluster.loadClient.deleteCollection(Resources.snapshots, namespace: namespace)
                }
                try await tracker.wait(
                    "round \(round)'s Snapshots gone", keys: roundItems.map { "\($0.namespace)/\($0.name)" },
                    timeout: settings.timeout
                ) { $0?.deletedAt != nil }
                try await waitForWritesQuiet(cluster, op, timeout: settings.timeout)
            }
            let baselineMedian = medianRun(baselineRuns, \.seconds)
            let baselineSeconds = baselineMedian.seconds
            let baselineSpent = baselineMedian.cpu
            let median = medianRun(rounds, \.window.seconds)
            let readySeconds = median.window.seconds
            let allRuns = op.restic.runs()
            var histogram: [String: Int] = [:]
            for run in allRuns { histogram[run, default: 0] += 1 }
            let usage = op.process.usage
            let snapshotWrites = rounds.map(\.snapshotWrites).reduce(0, +)
            let eventWrites = rounds.map(\.eventWrites).reduce(0, +)
            let ratio = readySeconds / baselineSeconds
            let writesPerSnapshot = Double(snapshotWrites) / Double(count * rounds.count)
            let runsInWindows = rounds.map(\.runsInWindow).reduce(0, +)

            var report = ScenarioReport("adopt")
            report.row(
                "snapshots", "\(count)", note: "across \(namespaceCount) namespaces, one repository copy each")
            report.row(
                "seconds until all Ready", format(readySeconds), baseline: format(baselineSeconds),
                note:
                    mediansNote(ratio: ratio, rounds: rounds.map(\.window.seconds), baselines: baselineRuns.map(\.seconds))
            )
            report.row(
                "  (bench's creates took)", format(median.createSeconds),
                note: "operator paused; from the first create until all Ready: \(format(median.createSeconds + readySeconds)) s")
            report.spreadRow(
                "  (Ready: first, median, last)", median.readyInstants, since: median.window.start, after: "the operator resumed")
            report.row("  (restic starts)", "", note: rounds.map { "round \($0.window.round): \($0.resticTimeline)" }.joined(separator: "; "))
            report.row(
                "seconds until restic quiet", median.settledSeconds.isNaN ? "timeout" : format(median.settledSeconds))
            report.row(
                "operator writes to snapshots", "\(snapshotWrites)", baseline: "\(2 * count * rounds.count)",
                note:
                    "\(format(writesPerSnapshot)) per snapshot over \(rounds.count) rounds; \(rounds.map(\.snapshotWritesAtReady).reduce(0, +)) by the time all were Ready"
            )
            report.row(
                "operator writes to events", "\(eventWrites)",
                note: "\(rounds.map(\.eventWritesAtReady).reduce(0, +)) by the time all were Ready")
            report.row(
                "restic runs", "\(allRuns.count)",
                note:
                    "since the operator started: \(rounds[0].window.runsBefore) before the first creates (each Repository's first refresh, its check and the read of its master key), \(runsInWindows) from the creates until all were Ready, \(allRuns.count - rounds[0].window.runsBefore - runsInWindows) otherwise; \(histogramText(histogram))"
            )
            report.row("CPU until all Ready", "", note: CPUWindow.summary(median.window.cpu, per: count) + " (the median round)")
            for round in rounds {
                report.row(
                    "  (round \(round.window.round))", format(round.window.seconds),
                    note:
                        "CPU: \(CPUWindow.summary(round.window.cpu, per: count)); Event writes by Ready: \(round.eventWritesAtReady), by quiet: \(round.eventWrites)"
                )
            }
            report.row("  (baseline's CPU)", "", note: CPUWindow.summary(baselineSpent, per: count))
            report.row(
                "operator CPU seconds", format(usage?.cpuSeconds ?? .nan),
                note: "since it started; restic children: \(format(usage?.childCPUSeconds ?? .nan)) s")
            report.row("operator peak RSS MiB", format(usage?.peakRSSMiB ?? .nan))
            report.row("API requests (settled)", "", note: "round 1: " + rounds[0].window.requests.summary)
            report.field("snapshots", count)
            report.field("seconds", readySeconds)
            report.field("baseline_seconds", baselineSeconds)
            report.field("ratio", ratio)
            report.field("seconds_from_first_create", median.createSeconds + readySeconds)
            report.field("writes_per_snapshot", writesPerSnapshot)
            report.field("restic_runs", allRuns.count)
            report.field("operator_peak_rss_mib", usage?.peakRSSMiB ?? .nan)
            report.field("settled_seconds", median.settledSeconds)
            report.field("event_writes", eventWrites)
            report.field("restic_runs_in_window", runsInWindows)
            report.target("ratio ≤ 1.5", ratio <= 1.5)
            report.target("writes_per_snapshot ≤ 2 (Events apart)", writesPerSnapshot <= 2)
            report.target(
                "restic_runs independent of N (here ≤ 3 per repository: its first refresh, its check, the read of its master key: \(3 * namespaceCount))",
                allRuns.count <= 3 * namespaceCount)
            report.notes.append(
                "baseline: KubeClient with the operator's rate limit (\(format(settings.rate.qps)) qps, burst \(settings.rate.burst)) making 2 merge patches per object with \(settings.workers) at once (the finalizer, then an adopted Snapshot's status), each run on new objects of a copy of the Snapshot CRD; kubesnap: rounds each adopting the N ids again under new names; medians of \(rounds.count) of each, alternating"
            )
            return report
        }
    }
}

/// What one run of the adopt baseline measured.
struct AdoptBaselineRun {
    var seconds: Double
    var cpu: [(name: String, seconds: Double)]
}

/// Baseline: the same client (KubeClient with the operator's rate limit) makes the two writes per
/// object the operator must make, with the operator's worker count: the finalizer, then the status
/// an adopted Snapshot must show (API.md: phase, snapshotID, snapshotTime, backendRepository,
/// observedGeneration, the Ready and Verified conditions), as a merge patch with the
/// resourceVersion precondition, as the operator's status writer sends it. Each run is on new
/// objects (an object's first status costs the server more than a change to it), which exist
/// before its clock starts.
private func adoptBaselineRun(
    _ run: Int, ids: [String], cluster: BenchCluster, settings: BenchSettings
) async throws -> AdoptBaselineRun {
    let resource = Resources.baselineSnapshots
    let namespace = "adopt-baseline"
    progress("adopt: baseline run \(run): 2 writes per object for \(ids.count) objects")
    let names = (0..<ids.count).map { "baseline-\(run)-\($0)" }
    try await concurrentForEach(Array(zip(names, ids)), width: 16) { name, id in
        _ = try await cluster.loadClient.create(
            resource, namespace: namespace,
            ["metadata": ["name": .string(name)], "spec": ["repository": "none", "snapshotID": .string(id)]])
    }
    let client = cluster.client
    let cpu = CPUWindow.start([("server", cluster.apiserver.pid)])
    let (_, runSeconds) = try await timed {
        try await concurrentForEach(Array(zip(names, ids)), width: settings.workers) { name, id in
            let written = try await client.patch(
                resource, namespace: namespace, name: name, type: .merge,
                ["metadata": ["finalizers": ["bench.kubesnap.io/baseline"]]])
            _ = try await client.patch(
                resource, namespace: namespace, name: name, type: .merge,
                [
                    "metadata": ["resourceVersion": written["metadata"]["resourceVersion"]],
                    "status": adoptedStatus(id: id, location: "local:\(cluster.repositoryRoot)/\(namespace)"),
                ],
                subresource: "status")
        }
    }
    let spent = cpu.end()
    try await concurrentForEach(names, width: 16) { name in
        _ = try await cluster.loadClient.patch(
            resource, namespace: namespace, name: name, type: .merge, ["metadata": ["finalizers": nil]])
        _ = try await cluster.loadClient.delete(resource, namespace: namespace, name: name)
    }
    return AdoptBaselineRun(seconds: runSeconds, cpu: spent)
}

/// What every adopt and delete round measures: its number, when its clock started, its figure,
/// the CPU each process spent until its objects got there, its API requests, and how many restic
/// runs the operator had made before it.
struct RoundWindow {
    var round: Int
    var start: ContinuousClock.Instant
    var seconds: Double
    var cpu: [(name: String, seconds: Double)]
    var requests: RequestCounts
    var runsBefore: Int
}

/// The median of `runs` by `seconds` (of an even count, the upper one).
func medianRun<Run>(_ runs: [Run], _ seconds: (Run) -> Double) -> Run {
    runs.sorted { seconds($0) < seconds($1) }[runs.count / 2]
}

/// "ratio R; medians of N rounds (a, b, c) and of N baseline runs (x, y, z)".
func mediansNote(ratio: Double, rounds: [Double], baselines: [Double]) -> String {
    "ratio \(format(ratio)); medians of \(rounds.count) rounds (\(rounds.map { format($0) }.joined(separator: ", "))) and of \(baselines.count) baseline runs (\(baselines.map { format($0) }.joined(separator: ", ")))"
}

/// What one adopt round measured.
struct AdoptRound {
    var window: RoundWindow
    var createSeconds: Double
    var readyInstants: [ContinuousClock.Instant]
    /// The operator's writes from the creates until restic was quiet after them.
    var snapshotWrites: Int
    var snapshotWritesAtReady: Int
    var eventWrites: Int
    var eventWritesAtReady: Int
    var runsInWindow: Int
    var resticTimeline: String
    var settledSeconds: Double
}

/// One adopt round: the operator paused, `items` created, then the clock runs from its resumption
/// until the bench's watch has seen every one Ready.
private func adoptRound(
    _ round: Int, _ items: [(namespace: String, name: String, id: String)], cluster: BenchCluster,
    op: OperatorProcess, tracker: SnapshotTracker, settings: BenchSettings
) async throws -> AdoptRound {
    let count = items.count
    let before = try await cluster.requestCounts()
    let runsBefore = op.restic.runs().count
    // "Created at once": a client has no batch create (delete has its deletecollection), so
    // the operator is paused (SIGSTOP) while the bench makes its N creates, and the clock
    // starts when it resumes with all N waiting in its watch, just as the baseline's N objects
    // exist before its clock starts. The bench's creates are thus not in the figure; the
    // time from the first create is reported beside it.
    progress("adopt: round \(round): creating \(count) static Snapshots (operator paused)")
    let createStart = ContinuousClock.now
    let (createSeconds, startEpoch, start, cpu) = try await op.process.whilePaused {
        try await concurrentForEach(items, width: 16) { item in
            _ = try await cluster.loadClient.create(
                Resources.snapshots, namespace: item.namespace,
                [
                    "metadata": ["name": .string(item.name), "namespace": .string(item.namespace)],
                    "spec": ["repository": "repo", "snapshotID": .string(item.id)],
                ])
        }
        let cpu = CPUWindow.start([("server", cluster.apiserver.pid), ("operator", op.process.pid)])
        return (seconds(since: createStart), Date().timeIntervalSince1970, ContinuousClock.now, cpu)
    }
    let keys = items.map { "\($0.namespace)/\($0.name)" }
    try await tracker.wait("all Snapshots Ready", keys: keys, timeout: settings.timeout) { state in
        if let phase = state?.phase, phase == "Failed" { return true }
        return state?.phase == "Ready"
    }
    let readySeconds = ((tracker.latest(keys) { $0.phaseSeen["Ready"] ?? $0.phaseSeen["Failed"] } ?? .now) - start).seconds
    let spent = cpu.end()
    let phases = tracker.phases(of: keys)
    guard phases["Ready"] == count else {
        throw BenchError("adopt: round \(round): not every Snapshot became Ready: \(phases)\n\(op.process.logTail())")
    }
    let atReady = try await cluster.requestCounts().minus(before)
    let runsAtReady = op.restic.runs().count - runsBefore
    // Adopted snapshots are read back only on request, so nothing should follow Ready; wait
    // for restic to stay quiet to count anything that does.
    progress("adopt: round \(round): all Ready after \(format(readySeconds)) s; waiting for restic to stay quiet")
    var settledSeconds = Double.nan
    do {
        try await waitForResticQuiet(op, timeout: settings.timeout)
        settledSeconds = seconds(since: start)
    } catch {
        progress("adopt: restic did not settle: \(error)")
    }
    let settled = try await cluster.requestCounts().minus(before)
    let snapshots = tracker.snapshot()
    return AdoptRound(
        window: RoundWindow(
            round: round, start: start, seconds: readySeconds, cpu: spent, requests: settled, runsBefore: runsBefore),
        createSeconds: createSeconds, readyInstants: keys.compactMap { snapshots[$0]?.phaseSeen["Ready"] },
        // The bench's own creates are the N creates of snapshots; everything else is the operator's.
        snapshotWrites: settled.writes(resource: "snapshots") - count,
        snapshotWritesAtReady: atReady.writes(resource: "snapshots") - count,
        eventWrites: settled.writes(resource: "events"), eventWritesAtReady: atReady.writes(resource: "events"),
        runsInWindow: runsAtReady,
        resticTimeline: op.restic.timeline(since: startEpoch), settledSeconds: settledSeconds)
}

/// Waits until the API server has taken no write for a second and the operator runs no restic:
/// what one round left behind (its Events, the finalizers' removal) is done before the next.
func waitForWritesQuiet(_ cluster: BenchCluster, _ op: OperatorProcess, timeout: Duration) async throws {
    var lastWrites = -1
    var lastChange = ContinuousClock.now
    try await waitUntil("the API server's writes to stop", timeout: timeout, poll: .milliseconds(250)) {
        let writes = try await cluster.requestCounts().total { RequestCounts.writeVerbs.contains($0.verb) }
        if writes != lastWrites {
            lastWrites = writes
            lastChange = .now
        }
        return (ContinuousClock.now - lastChange >= .seconds(1), "\(writes) writes so far")
    }
    try await waitForResticQuiet(op, timeout: timeout)
}

/// Scenario 2: N Ready Snapshots, operator start-up, then nothing for a while.
func runIdle(snapshots count: Int, idleSeconds: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let namespaceCount = 10
    let fixture = try await SnapshotRepositoryFixture.prepare(
        count: 1, cacheRoot: settings.cacheRoot, restic: settings.tools.restic)
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "idle", rate: settings.rate)
    defer { cluster.stop() }
    let namespaces = (0..<namespaceCount).map { "idle-\($0)" }
    try await cluster.createRepositories(copying: fixture.path, into: namespaces)
    // Each Snapshot gets a restic snapshot of its own (a copy of the fixture's one, written
    // straight into its namespace's repository): a Snapshot whose id the repository does not
    // hold is flagged SnapshotMissing at start-up, a status write and an Event each.
    progress("idle: writing \(count) restic snapshot copies into \(namespaceCount) repositories")
    let repositoryRoot = cluster.repositoryRoot
    var copies: [[String]] = []
    for (index, namespace) in namespaces.enumerated() {
        let repository = try ResticRepository(
            backend: .local(path: repositoryRoot + "/" + namespace), password: benchPassword,
            cacheDirectory: cluster.work.appending("cache-copies"), executable: settings.tools.restic)
        let wanted = count / namespaceCount + (index < count % namespaceCount ? 1 : 0)
        copies.append(try await repository.writeSnapshotCopies(of: fixture.ids[0], count: wanted))
    }
    progress("idle: writing \(count) Ready Snapshots straight to the API server")
    let items = (0..<count).map { index in
        (namespace: namespaces[index % namespaceCount], name: "idle-\(index)", id: copies[index % namespaceCount][index / namespaceCount])
    }
    let (_, writeSeconds) = try await timed {
        try await cluster.createReadySnapshots(
            items, location: { "local:\(repositoryRoot)/\($0)" }, policy: "Retain")
    }
    progress("idle: wrote them in \(format(writeSeconds)) s; starting the operator")
    let beforeStart = try await cluster.requestCounts()
    let op = try await cluster.startOperator(name: "idle", workers: settings.workers)
    let syncSeconds = try await op.waitReady(timeout: settings.timeout)
    try await cluster.waitForRepositoriesReady(namespaces, timeout: settings.timeout)
    try await waitForResticQuiet(op, quiet: .seconds(3), timeout: settings.timeout)
    let startup = try await cluster.requestCounts().minus(beforeStart)
    let startupRuns = op.restic.runs().count
    let usageBefore = op.process.usage
    let before = try await cluster.requestCounts()
    progress("idle: operator synced in \(format(syncSeconds)) s; idle for \(idleSeconds) s")
    try await Task.sleep(for: .seconds(idleSeconds))  // the idle period being measured
    let during = try await cluster.requestCounts().minus(before)
    let idleRuns = op.restic.runs().count - startupRuns
    let usage = op.process.usage
    let writesWhileIdle = during.total { RequestCounts.writeVerbs.contains($0.verb) }
    let readsWhileIdle = during.total { !RequestCounts.writeVerbs.contains($0.verb) && $0.resource != "" }
    let idleCPU = (usage?.cpuSeconds ?? .nan) - (usageBefore?.cpuSeconds ?? .nan)

    var report = ScenarioReport("idle")
    report.row("snapshots (Ready)", "\(count)", note: "across \(namespaceCount) namespaces")
    report.row("seconds until /readyz (caches synced)", format(syncSeconds))
    report.row(
        "start-up: writes", "\(startup.total { RequestCounts.writeVerbs.contains($0.verb) })",
        note: startup.summary)
    report.row("start-up: restic runs", "\(startupRuns)", note: histogramText(op.restic.histogram()))
    report.row("idle seconds", "\(idleSeconds)")
    report.row("writes while idle", "\(writesWhileIdle)", baseline: "0")
    report.row("reads while idle", "\(readsWhileIdle)", note: during.summary)
    report.row("restic runs while idle", "\(idleRuns)", baseline: "0")
    report.row("operator CPU seconds while idle", format(idleCPU, digits: 3))
    report.row(
        "operator peak RSS MiB", format(usage?.peakRSSMiB ?? .nan), baseline: "100",
        note: "now \(format(usage?.rssMiB ?? .nan))")
    report.field("snapshots", count)
    report.field("startup_writes", startup.total { RequestCounts.writeVerbs.contains($0.verb) })
    report.field("sync_seconds", syncSeconds)
    report.field("writes_while_idle", writesWhileIdle)
    report.field("restic_runs_while_idle", idleRuns)
    report.field("operator_peak_rss_mib", usage?.peakRSSMiB ?? .nan)
    report.field("idle_seconds", idleSeconds)
    report.field("operator_cpu_seconds_while_idle", idleCPU)
    report.target("writes_while_idle = 0", writesWhileIdle == 0)
    report.target("restic_runs_while_idle = 0", idleRuns == 0)
    report.target("operator_peak_rss_mib ≤ 100", (usage?.peakRSSMiB ?? .infinity) <= 100)
    return report
}

/// A made-up restic snapshot id (64 hex digits), different for each index.
func fakeSnapshotID(_ index: Int) -> String {
    let hex = String(index, radix: 16)
    return String(repeating: "a", count: 64 - hex.count) + hex
}

/// A scenario over generated data: a cluster, M MiB at `source` (sources/data), an operator,
/// and the Ready Repository `repo` in the namespace named as the scenario, at
/// `repositoryPath` (the operator initializes it). Stop `cluster` when done.
struct DataScenario {
    let cluster: BenchCluster
    let source: String
    let fileCount: Int
    let op: OperatorProcess
    let repositoryPath: String

    static func start(_ name: String, mib: Int, settings: BenchSettings) async throws -> DataScenario {
        let cluster = try await BenchCluster.start(tools: settings.tools, prefix: name, rate: settings.rate)
        do {
            let source = cluster.sourceRoot + "/data"
            progress("\(name): writing \(mib) MiB of mixed random and compressible files")
            let (fileCount, generateSeconds) = try await timed {
                try DataGenerator.write(mebibytes: mib, into: source)
            }
            progress("\(name): \(fileCount) files in \(format(generateSeconds)) s")
            let op = try await cluster.startOperator(name: name, workers: settings.workers)
            try await op.waitReady(timeout: settings.timeout)
            let repositoryPath = cluster.repositoryRoot + "/" + name
            try await cluster.createRepository(namespace: name, path: repositoryPath)
            try await cluster.waitForRepositoriesReady([name], timeout: settings.timeout)
            return DataScenario(
                cluster: cluster, source: source, fileCount: fileCount, op: op, repositoryPath: repositoryPath)
        } catch {
            cluster.stop()
            throw error
        }
    }
}

/// Scenario 3: backup and verification of M MiB against restic by hand.
func runThroughput(mib: Int, settings: BenchSettings) async throws -> ScenarioReport {
    // kubesnap: Repository (the operator initializes it), then one dynamic Snapshot.
    let scenario = try await DataScenario.start("throughput", mib: mib, settings: settings)
    let (cluster, source, fileCount, op) = (scenario.cluster, scenario.source, scenario.fileCount, scenario.op)
    defer { cluster.stop() }
    try await waitForResticQuiet(op, timeout: settings.timeout)
    let (backupSeconds, verifySeconds, timeline) = try await withSnapshotTracker(client: cluster.loadClient) {
        tracker in
        progress("throughput: kubesnap backup")
        let start = ContinuousClock.now
        let startEpoch = Date().timeIntervalSince1970
        _ = try await cluster.loadClient.create(
            Resources.snapshots, namespace: "throughput",
            [
                "metadata": ["name": "data"],
                "spec": ["repository": "repo", "source": ["path": .string(source)]],
            ])
        let key = "throughput/data"
        try await tracker.wait("the Snapshot to be Ready", keys: [key], timeout: settings.timeout) {
            $0?.phase == "Ready" || $0?.phase == "Failed"
        }
        guard let state = tracker.snapshot()[key], state.phase == "Ready",
            let readyAt = state.phaseSeen["Ready"]
        else {
            throw BenchError(
                "the throughput Snapshot did not become Ready: \(tracker.phases(of: [key]))\n\(op.process.logTail())"
            )
        }
        try await tracker.wait("the Snapshot to be verified", keys: [key], timeout: settings.timeout) {
            !($0?.verificationStatus ?? "").isEmpty
        }
        guard let verified = tracker.snapshot()[key], verified.verificationStatus == "OK",
            let verifiedAt = verified.verifiedAt
        else {
            throw BenchError(
                "the throughput Snapshot's verification failed: \(tracker.snapshot()[key]?.verificationStatus ?? "")"
            )
        }
        let backup = readyAt - start
        let verify = verifiedAt - readyAt
        return (
            Double(backup.components.seconds) + Double(backup.components.attoseconds) / 1e18,
            Double(verify.components.seconds) + Double(verify.components.attoseconds) / 1e18,
            op.restic.timeline(since: startEpoch)
        )
    }
    let histogram = op.restic.histogram()
    op.process.killTree()

    // Baseline: restic by hand on the same data, into a fresh repository, same machine, same run.
    progress("throughput: restic backup by hand")
    let baselineRepository = cluster.work.appending("baseline-repo")
    let runner = ResticRunner(
        restic: settings.tools.restic, repository: baselineRepository,
        cacheDirectory: cluster.work.appending("baseline-cache"))
    try await runner.run(["init", "-q"])
    let (_, backupBaseline) = try await timed { try await runner.run(["backup", "-q", source]) }
    guard let id = try await runner.snapshots().first?.id else {
        throw BenchError("the baseline backup made no snapshot")
    }
    progress("throughput: restic dump by hand")
    let (dump, verifyBaseline) = try await timed {
        try await runCommand(
            "/bin/sh",
            [
                "-c", "exec \"$0\" --repo \"$1\" --no-cache dump --archive=tar -- \"$2\" / > /dev/null",
                settings.tools.restic,
                baselineRepository, id,
            ],
            environment: runner.environment, timeout: .seconds(7200))
    }
    guard dump.succeeded else { throw BenchError("restic dump failed: \(dump.stderr.suffix(300))") }

    let backupRatio = backupSeconds / backupBaseline
    let verifyRatio = verifySeconds / verifyBaseline
    var report = ScenarioReport("throughput")
    report.row("data MiB", "\(mib)", note: "\(fileCount) files, half random, half compressible")
    report.row(
        "backup seconds", format(backupSeconds), baseline: format(backupBaseline),
        note:
            "ratio \(format(backupRatio)); \(format(Double(mib) / backupSeconds, digits: 1)) MiB/s vs \(format(Double(mib) / backupBaseline, digits: 1))"
    )
    report.row(
        "verify seconds", format(verifySeconds), baseline: format(verifyBaseline),
        note:
            "ratio \(format(verifyRatio)); \(format(Double(mib) / verifySeconds, digits: 1)) MiB/s vs \(format(Double(mib) / verifyBaseline, digits: 1))"
    )
    report.row("operator restic runs", "\(histogram.values.reduce(0, +))", note: histogramText(histogram))
    report.row("restic starts after create", "", note: timeline)
    report.field("mib", mib)
    report.field("backup_seconds", backupSeconds)
    report.field("backup_baseline_seconds", backupBaseline)
    report.field("backup_ratio", backupRatio)
    report.field("verify_seconds", verifySeconds)
    report.field("verify_baseline_seconds", verifyBaseline)
    report.field("verify_ratio", verifyRatio)
    report.target("backup_ratio ≤ 1.10", backupRatio <= 1.10)
    report.target("verify_ratio ≤ 1.10", verifyRatio <= 1.10)
    report.notes.append(
        "kubesnap backup = Snapshot created → seen Ready; verify = seen Ready → verificationStatus set (both via a watch)"
    )
    report.notes.append(
        "baselines: `restic backup DIR` into a fresh repository; `restic --no-cache dump --archive=tar ID / > /dev/null`"
    )
    return report
}

/// Scenario 4: N Ready Snapshots with policy Delete deleted at once.
func runDelete(snapshots count: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let fixture = try await SnapshotRepositoryFixture.prepare(
        count: count, cacheRoot: settings.cacheRoot, restic: settings.tools.restic)
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "delete", rate: settings.rate)
    defer { cluster.stop() }

    // Baseline runs and operator rounds alternate, `--rounds` of each (3 by default), and the
    // medians count (as in adopt). Each operator round has its own namespace, repository copy and
    // Ready Snapshots; the first round's exist before the operator starts, the later ones are
    // written while it runs.
    var baselineRuns: [Double] = []
    var rounds: [DeleteRound] = []
    var op: OperatorProcess?
    try await withSnapshotTracker(client: cluster.loadClient) { tracker in
        for round in 1...settings.rounds {
            baselineRuns.append(try await deleteBaselineRun(round, fixture: fixture, cluster: cluster, settings: settings))
            let namespace = round == 1 ? "delete" : "delete-\(round)"
            let path = cluster.repositoryRoot + "/" + namespace
            try await SnapshotRepositoryFixture.copy(fixture.path, to: path)
            try await cluster.createRepository(namespace: namespace, path: path)
            let items = fixture.ids.enumerated().map {
                (namespace: namespace, name: "delete-\($0.offset)", id: $0.element)
            }
            progress("delete: round \(round): writing \(count) Ready Snapshots (deletionPolicy Delete)")
            try await cluster.createReadySnapshots(items, location: { _ in "local:\(path)" }, policy: "Delete")
            if op == nil { op = try await cluster.startOperator(name: "delete", workers: settings.workers) }
            guard let op else { break }
            try await op.waitReady(timeout: settings.timeout)
            try await cluster.waitForRepositoriesReady([namespace], timeout: settings.timeout)
            try await tracker.wait(
                "round \(round)'s Snapshots written", keys: items.map { "\($0.namespace)/\($0.name)" },
                timeout: settings.timeout
            ) { $0?.phase == "Ready" }
            try await waitForWritesQuiet(cluster, op, timeout: settings.timeout)
            rounds.append(
                try await deleteRound(
                    round, items, path: path, cluster: cluster, op: op, tracker: tracker, settings: settings))
        }
    }
    guard let op else { throw BenchError("delete: the operator never started") }
    let median = medianRun(rounds, \.window.seconds)
    let baselineSeconds = medianRun(baselineRuns) { $0 }
    let ratio = median.window.seconds / baselineSeconds
    let pruneRuns = rounds.map(\.pruneRuns).max() ?? 0

    var report = ScenarioReport("delete")
    report.row("snapshots", "\(count)")
    report.row(
        "seconds until gone from restic", format(median.window.seconds), baseline: format(baselineSeconds),
        note: mediansNote(ratio: ratio, rounds: rounds.map(\.window.seconds), baselines: baselineRuns)
    )
    report.row("seconds until objects gone", format(median.objectsGoneSeconds), note: "the median round")
    report.row("  (bench's deletecollection took)", format(median.deleteCallsSeconds))
    report.spreadRow(
        "  (objects gone: first, median, last)", median.deletedInstants, since: median.window.start,
        after: "the deletecollection began")
    report.row("restic runs before the deletes", "\(rounds[0].window.runsBefore)", note: rounds[0].runsBeforeText)
    for round in rounds {
        report.row(
            "  (round \(round.window.round))", format(round.window.seconds),
            note:
                "restic starts after the deletes began: \(round.timeline); runs: \(histogramText(round.histogram)); CPU until objects gone: \(CPUWindow.summary(round.window.cpu, per: count)) (restic apart)"
        )
    }
    report.row("prune runs", "\(pruneRuns)", baseline: "1", note: "per round, the most")
    report.row("restic runs", "\(median.histogram.values.reduce(0, +))", note: "the median round")
    report.row("API requests", "", note: "the median round: " + median.window.requests.summary)
    report.row("operator peak RSS MiB", format(op.process.usage?.peakRSSMiB ?? .nan))
    report.field("snapshots", count)
    report.field("seconds", median.window.seconds)
    report.field("baseline_seconds", baselineSeconds)
    report.field("ratio", ratio)
    report.field("prune_runs", pruneRuns)
    report.field("restic_runs", median.histogram.values.reduce(0, +))
    report.target("ratio ≤ 2", ratio <= 2)
    report.target("prune_runs ≤ 3", pruneRuns <= 3)
    report.notes.append(
        "baseline: one `restic forget --prune ID...` of all \(count) ids on a copy of the same repository, its cache warmed by `restic stats` (the operator reads local repositories without a cache; a cold cache costs the baseline 0.3 to 1 s); kubesnap: one deletecollection of N Ready Snapshots in a namespace of their own; medians of \(settings.rounds) of each, alternating"
    )
    report.notes.append(
        "the operator forgets the ids itself (a local repository: restic's lock and file format, its master key opened before) and releases the finalizers; its `restic prune` follows 10 s later, outside the figure (API.md lets prunes be batched), while the baseline's prune is inside it"
    )
    return report
}

/// The baseline's restic starts with a warm cache (warmed by `restic stats`), its fastest start:
/// a cold cache alone adds 0.3 to 1 s here (the operator reads local repositories with
/// --no-cache, as fast as warm). Each run on its own copy.
private func deleteBaselineRun(
    _ run: Int, fixture: (path: String, ids: [String]), cluster: BenchCluster, settings: BenchSettings
) async throws -> Double {
    progress("delete: baseline run \(run): restic forget --prune of \(fixture.ids.count) ids (warm cache)")
    let baselineRepository = cluster.work.appending("baseline-repo-\(run)")
    try await SnapshotRepositoryFixture.copy(fixture.path, to: baselineRepository)
    let baselineRunner = ResticRunner(
        restic: settings.tools.restic, repository: baselineRepository,
        cacheDirectory: cluster.work.appending("baseline-cache-\(run)"))
    _ = try await baselineRunner.run(["stats", "-q"])
    let (_, runSeconds) = try await timed {
        try await baselineRunner.run(["forget", "-q", "--prune", "--"] + fixture.ids)
    }
    return runSeconds
}

/// What one delete round measured.
struct DeleteRound {
    var window: RoundWindow
    var objectsGoneSeconds: Double
    var deleteCallsSeconds: Double
    var deletedInstants: [ContinuousClock.Instant]
    var runsBeforeText: String
    var timeline: String
    var histogram: [String: Int]
    var pruneRuns: Int
}

/// One delete round: one deletecollection of `items` (Ready, policy Delete), timed until the
/// objects are gone and their ids out of `restic snapshots`; then the operator's later prune is
/// waited for and counted.
private func deleteRound(
    _ round: Int, _ items: [(namespace: String, name: String, id: String)], path: String, cluster: BenchCluster,
    op: OperatorProcess, tracker: SnapshotTracker, settings: BenchSettings
) async throws -> DeleteRound {
    let count = items.count
    let namespace = items.first?.namespace ?? ""
    let runner = ResticRunner(restic: settings.tools.restic, repository: path, cacheDirectory: nil)
    let runsBefore = op.restic.runs().count
    let before = try await cluster.requestCounts()
    progress("delete: round \(round): deleting \(count) Snapshots")
    let startEpoch = Date().timeIntervalSince1970
    let cpu = CPUWindow.start([("server", cluster.apiserver.pid), ("operator", op.process.pid)])
    let start = ContinuousClock.now
    // One deletecollection: how the namespace controller (and client-go's DeleteCollection)
    // deletes a set at once, and what keeps the bench's own 1,000 calls out of the figure.
    let answered = try await cluster.loadClient.deleteCollection(Resources.snapshots, namespace: namespace)
    let deleteCallsSeconds = seconds(since: start)
    guard answered.count == count else {
        throw BenchError("deletecollection answered \(answered.count) Snapshots, expected \(count)")
    }
    let keys = items.map { "\($0.namespace)/\($0.name)" }
    try await tracker.wait("all Snapshots gone", keys: keys, timeout: settings.timeout) {
        $0?.deletedAt != nil
    }
    let objectsGoneSeconds = ((tracker.latest(keys) { $0.deletedAt } ?? .now) - start).seconds
    let spent = cpu.end()
    let ids = Set(items.map(\.id))
    var remaining = -1
    // The data was out when the listing that found none of it began (the listing's own
    // ~0.4 s of restic start-up is the bench's, not the operator's).
    var listingStarted = ContinuousClock.now
    try await waitUntil(
        "the snapshots to be out of restic snapshots", timeout: settings.timeout, poll: .milliseconds(100)
    ) {
        listingStarted = ContinuousClock.now
        remaining = try await runner.snapshots().filter { ids.contains($0.id) }.count
        return (remaining == 0, "\(remaining) still listed")
    }
    let totalSeconds = (listingStarted - start).seconds
    let requests = try await cluster.requestCounts().minus(before)
    // The space is reclaimed by a prune that follows (the operator's prune delay, 10 s): it
    // is waited for, to be counted, but is not in the figure.
    try await waitUntil("the operator's prune", timeout: settings.timeout, poll: .milliseconds(100)) {
        let runs = op.restic.runs().dropFirst(runsBefore)
        return (runs.contains { $0 == "prune" || $0 == "forget --prune" }, "restic runs: \(Array(runs))")
    }
    try await waitForResticQuiet(op, timeout: settings.timeout)
    let runs = Array(op.restic.runs().dropFirst(runsBefore))
    var histogram: [String: Int] = [:]
    for run in runs { histogram[run, default: 0] += 1 }
    let snapshots = tracker.snapshot()
    return DeleteRound(
        window: RoundWindow(
            round: round, start: start, seconds: totalSeconds, cpu: spent, requests: requests, runsBefore: runsBefore),
        objectsGoneSeconds: objectsGoneSeconds, deleteCallsSeconds: deleteCallsSeconds,
        deletedInstants: keys.compactMap { snapshots[$0]?.deletedAt },
        runsBeforeText: histogramText(op.restic.runs().prefix(runsBefore).reduce(into: [:]) { $0[$1, default: 0] += 1 }),
        timeline: op.restic.timeline(since: startEpoch), histogram: histogram,
        pruneRuns: (histogram["forget --prune"] ?? 0) + (histogram["prune"] ?? 0))
}

/// Scenario 5: SIGKILL of the leader with 100 Snapshots in flight.
func runFailover(snapshots count: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "failover", rate: settings.rate)
    defer { cluster.stop() }
    let namespace = "failover"
    progress("failover: writing \(count) small sources")
    for index in 0..<count {
        _ = try DataGenerator.write(
            mebibytes: 1, into: cluster.sourceRoot + "/s\(index)", fileSize: 256 * 1024,
            seed: UInt64(index + 1))
    }
    let leaseArguments = ["--leader-elect", "--leader-election-namespace", namespace]
    try await cluster.createRepository(namespace: namespace, path: cluster.repositoryRoot + "/failover")
    let first = try await cluster.startOperator(
        name: "a", workers: settings.workers, extraArguments: leaseArguments)
    try await waitUntil("operator a to lead", timeout: settings.timeout, poll: .milliseconds(100)) {
        guard first.process.isRunning else {
            throw BenchError("operator a exited:\n\(first.process.logTail())")
        }
        return (first.isLeader, "not leader yet")
    }
    let second = try await cluster.startOperator(
        name: "b", workers: settings.workers, extraArguments: leaseArguments)
    try await second.waitReady(timeout: settings.timeout)
    try await cluster.waitForRepositoriesReady([namespace], timeout: settings.timeout)

    return try await withSnapshotTracker(client: cluster.loadClient) { tracker in
        let keys = (0..<count).map { "\(namespace)/fo-\($0)" }
        progress("failover: creating \(count) dynamic Snapshots")
        try await concurrentForEach(Array(0..<count), width: 16) { index in
            _ = try await cluster.loadClient.create(
                Resources.snapshots, namespace: namespace,
                [
                    "metadata": ["name": .string("fo-\(index)")],
                    "spec": [
                        "repository": "repo", "source": ["path": .string(cluster.sourceRoot + "/s\(index)")],
                    ],
                ])
        }
        try await tracker.wait(
            "some Snapshots to be in flight", keys: Array(keys.prefix(1)), timeout: settings.timeout
        ) { _ in
            let phases = tracker.phases(of: keys)
            return (phases["Ready"] ?? 0) >= max(1, count / 20) && (phases["Running"] ?? 0) > 0
        }
        let phasesAtKill = tracker.phases(of: keys)
        progress("failover: SIGKILL of the leader (phases \(phasesAtKill))")
        let killedAt = ContinuousClock.now
        first.process.killTree()
        try await waitUntil("operator b to take over", timeout: settings.timeout, poll: .milliseconds(50)) {
            (second.isLeader, "b is not leader yet")
        }
        let takeoverSeconds = seconds(since: killedAt)
        progress("failover: b leads after \(format(takeoverSeconds)) s; waiting for every Snapshot to finish")
        var settled = true
        do {
            try await tracker.wait("every Snapshot to finish", keys: keys, timeout: settings.timeout) {
                $0?.phase == "Ready" || $0?.phase == "Failed"
            }
        } catch {
            settled = false
        }
        let phases = tracker.phases(of: keys)
        let states = tracker.snapshot()
        let failedReasons = Dictionary(
            grouping: keys.compactMap { states[$0] }.filter { $0.phase == "Failed" }, by: \.reason
        )
        .mapValues(\.count)
        let stuck = phases["Running"] ?? 0
        let runner = ResticRunner(
            restic: settings.tools.restic, repository: cluster.repositoryRoot + "/failover",
            cacheDirectory: nil)
        var perUID: [String: Int] = [:]
        for snapshot in try await runner.snapshots() {
            for tag in snapshot.tags where tag.hasPrefix("kubesnap-uid=") { perUID[tag, default: 0] += 1 }
        }
        let duplicates = perUID.values.filter { $0 > 1 }.count
        let extraCopies = perUID.values.map { max(0, $0 - 1) }.reduce(0, +)

        var report = ScenarioReport("failover")
        report.row("snapshots", "\(count)", note: "phases at the kill: \(phasesAtKill)")
        report.row(
            "takeover seconds", format(takeoverSeconds), baseline: "20",
            note: "SIGKILL → the standby's leader_election_master_status is 1")
        report.row(
            "phases at the end", settled ? "settled" : "NOT settled",
            note: "\(phases); failed reasons \(failedReasons)")
        report.row(
            "duplicate backups", "\(duplicates)", baseline: "0",
            note: "UIDs with more than one restic snapshot (\(extraCopies) extra copies)")
        report.row("stuck Running", "\(stuck)", baseline: "0")
        report.row(
            "restic runs (a, b)", "\(first.restic.runs().count), \(second.restic.runs().count)",
            note: "b: \(histogramText(second.restic.histogram()))")
        report.field("snapshots", count)
        report.field("takeover_seconds", takeoverSeconds)
        report.field("duplicate_backups", duplicates)
        report.field("stuck_running", stuck)
        report.field("failed", phases["Failed"] ?? 0)
        report.field("ready", phases["Ready"] ?? 0)
        report.target("takeover_seconds ≤ 20", takeoverSeconds <= 20)
        report.target("duplicate_backups = 0", duplicates == 0)
        report.target("stuck_running = 0", stuck == 0)
        return report
    }
}

/// The status the operator writes for an adopted Snapshot (SnapshotReconciler's markReady), with
/// the same fields and messages: what the adopt baseline writes.
private func adoptedStatus(id: String, location: String) -> JSONValue {
    let now = RFC3339.format(Date())
    let short = String(id.prefix(8))
    return [
        "phase": "Ready", "snapshotID": .string(id), "snapshotTime": .string(now),
        "backendRepository": .string(location), "observedGeneration": 1,
        "conditions": [
            [
                "type": "Ready", "status": "True", "reason": "Adopted",
                "message": .string("adopted restic snapshot \(short) from \(location)"),
                "lastTransitionTime": .string(now), "observedGeneration": 1,
            ],
            [
                "type": "Verified", "status": "Unknown", "reason": "NotRequested",
                "message":
                    "an adopted snapshot is read back only on request: annotate it kubesnap.io/verify-requested=<any new value>",
                "lastTransitionTime": .string(now), "observedGeneration": 1,
            ],
        ],
    ]
}
