import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport

/// The web console over one namespace's N Ready Snapshots: time to the first byte and to the
/// whole list answer of the console, the time to a list rendered in headless Chromium, against
/// `kubectl get snap -n NS` in the same run; the time from an API write to the change on the
/// page (95th percentile); the console's peak RSS.
func runConsole(snapshots count: Int, updates: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let cluster = try await BenchCluster.start(tools: settings.tools, prefix: "console", rate: settings.rate)
    defer { cluster.stop() }
    let namespace = "console"
    try await cluster.createNamespace(namespace)
    progress("console: writing \(count) Ready Snapshots straight to the API server")
    let items = (0..<count).map { (namespace: namespace, name: String(format: "snap-%05d", $0), id: fakeSnapshotID($0)) }
    let repositoryRoot = cluster.repositoryRoot
    try await cluster.createReadySnapshots(items, location: { "local:\(repositoryRoot)/\($0)" }, policy: "Retain")

    let console = try BenchProcess(
        name: "console", settings.tools.kubesnap, ["console", "--kubeconfig", cluster.kubeconfig, "--address", "127.0.0.1:0"],
        logPath: cluster.work.appending("logs/console.log"))
    let loginURL: String = try await waitFor("the console's URL", timeout: .seconds(60), poll: .milliseconds(50)) {
        if !console.isRunning { throw BenchError("the console exited: \(console.logTail())") }
        let line = console.child.log.split(separator: "\n").first { $0.hasPrefix("kubesnap console: ") }
        return line.map { .done(String($0.dropFirst("kubesnap console: ".count))) } ?? .notYet(console.logTail(3))
    }
    let base = String(loginURL.prefix { $0 != "?" }.dropLast("/login".count))
    let cookieJar = cluster.work.appending("cookies")
    _ = try await runCommand("/usr/bin/curl", ["-sS", "-c", cookieJar, "-o", "/dev/null", loginURL])

    // The list's answer, as the page fetches it; and kubectl's, alternating, medians.
    var firstByte: [Double] = [], whole: [Double] = [], kubectlSeconds: [Double] = []
    for round in 0..<settings.rounds {
        progress("console: round \(round + 1) of \(settings.rounds): the console's list and kubectl get snap")
        let timing = try await runCommand(
            "/usr/bin/curl",
            ["-sS", "-b", cookieJar, "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total} %{http_code}", base + "/api/table/snapshots?namespace=\(namespace)"])
        let parts = timing.stdout.split(separator: " ")
        guard parts.count == 3, parts[2] == "200", let ttfb = Double(parts[0]), let total = Double(parts[1]) else {
            throw BenchError("the console's list failed: \(timing)")
        }
        firstByte.append(ttfb)
        whole.append(total)
        let (listed, seconds) = try await timed {
            try await runCommand(settings.tools.kubectl, ["--kubeconfig", cluster.kubeconfig, "get", "snap", "-n", namespace])
        }
        guard listed.succeeded, listed.stdout.split(separator: "\n").count == count + 1 else {
            throw BenchError("kubectl get snap: \(listed.stderr.prefix(500))")
        }
        kubectlSeconds.append(seconds)
    }

    progress("console: rendering the list in headless Chromium and timing \(updates) live updates")
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/console-bench.py").path
    let browser = try await runCommand(
        "/usr/bin/env", ["python3", script],
        environment: ProcessInfo.processInfo.environment.merging([
            "CONSOLE_URL": loginURL, "NAMESPACE": namespace, "UPDATES": String(updates),
            "API": try ClientConfiguration.load(kubeconfig: cluster.kubeconfig).server, "TOKEN_FILE": cluster.work.appending("api/token"), "CA_FILE": cluster.work.appending("api/ca.crt"),
        ]) { $1 }, timeout: settings.timeout)
    guard browser.succeeded, let last = browser.stdout.split(separator: "\n").last, let measured = try? JSONValue.parse(String(last)) else {
        throw BenchError("the browser half failed: \(browser.stdout.suffix(500)) \(browser.stderr.suffix(1500))")
    }
    let rendered = measured["rendered_seconds"].doubleValue ?? .nan
    let latencies = (measured["latencies_ms"].arrayValue ?? []).compactMap(\.doubleValue).sorted()
    let p95 = latencies.isEmpty ? Double.nan : latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.95).rounded(.up)) - 1)]
    let usage = console.usage

    let kubectlMedian = median(kubectlSeconds)
    var report = ScenarioReport("console")
    report.row("snapshots in the namespace", "\(count)")
    report.row("console list: first byte s", format(median(firstByte), digits: 3), baseline: format(kubectlMedian, digits: 3), note: "baseline: kubectl get snap -n \(namespace), whole command")
    report.row("console list: whole answer s", format(median(whole), digits: 3), baseline: format(kubectlMedian, digits: 3), note: "ratio \(format(median(whole) / kubectlMedian))")
    report.row("list rendered in Chromium s", format(rendered, digits: 3), baseline: format(kubectlMedian, digits: 3), note: "navigation to the first 100 rows drawn, \(measured["pager"].stringValue ?? "")")
    report.row("API write to page change ms (p95)", format(p95, digits: 0), baseline: "1000", note: "\(latencies.count) writes; median \(format(median(latencies), digits: 0)) ms")
    report.row("console peak RSS MiB", format(usage?.peakRSSMiB ?? .nan), note: "now \(format(usage?.rssMiB ?? .nan))")
    report.field("snapshots", count)
    report.field("first_byte_seconds", median(firstByte))
    report.field("list_seconds", median(whole))
    report.field("kubectl_seconds", kubectlMedian)
    report.field("rendered_seconds", rendered)
    report.field("update_p95_ms", p95)
    report.field("console_peak_rss_mib", usage?.peakRSSMiB ?? .nan)
    report.target("update_p95_ms ≤ 1000", p95 <= 1000)
    report.notes.append("Snapshots written straight to the API server (no operator); the page's writes are status patches of rows on its first page.")
    return report
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
