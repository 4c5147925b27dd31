import Foundation
import KubeClient
import KubeJSON

extension Resources {
    static let restoreSessions = APIResource(
        group: "kubesnap.io", version: "v1alpha1", resource: "restoresessions", kind: "RestoreSession",
        namespaced: true)
}

/// Scenario: a RestoreSession of an M MiB Snapshot over its own source, without and with the
/// pre-restore Snapshot, against plain `restic restore` of the same snapshot into an empty
/// directory (and `restic restore --verify`, which kubesnap runs), and the pre-restore
/// Snapshot's extra cost against plain `restic backup` of the target; all in the same run, on
/// the operator's repository, without a cache as the operator reads local repositories.
func runRestore(mib: Int, settings: BenchSettings) async throws -> ScenarioReport {
    let namespace = "restore"
    let scenario = try await DataScenario.start(namespace, mib: mib, settings: settings)
    let (cluster, source, fileCount, op) = (scenario.cluster, scenario.source, scenario.fileCount, scenario.op)
    let repositoryPath = scenario.repositoryPath
    defer { cluster.stop() }
    progress("restore: the Snapshot to restore")
    _ = try await cluster.loadClient.create(
        Resources.snapshots, namespace: namespace,
        ["metadata": ["name": "data"], "spec": ["repository": "repo", "source": ["path": .string(source)]]])
    let snapshot = try await pollObject(
        cluster.loadClient, Resources.snapshots, namespace: namespace, name: "data",
        "to be Ready and verified",
        timeout: settings.timeout
    ) {
        let phase = $0["status"]["phase"].stringValue
        if phase == "Failed" { throw BenchError("the Snapshot failed: \($0["status"])") }
        return phase == "Ready" && !($0["status"]["verificationStatus"].stringValue ?? "").isEmpty
    }
    guard snapshot["status"]["verificationStatus"].stringValue == "OK",
        let id = snapshot["status"]["snapshotID"].stringValue
    else { throw BenchError("the Snapshot is not verified OK: \(snapshot["status"])") }
    try await waitForResticQuiet(op, timeout: settings.timeout)

    /// Seconds from the RestoreSession's creation to its being seen Succeeded.
    func timeRestore(_ name: String, preRestoreSnapshot: Bool) async throws -> Double {
        progress("restore: kubesnap \(name)")
        let start = ContinuousClock.now
        _ = try await cluster.loadClient.create(
            Resources.restoreSessions, namespace: namespace,
            [
                "metadata": ["name": .string(name)],
                "spec": ["snapshot": "data", "preRestoreSnapshot": .bool(preRestoreSnapshot)],
            ])
        let done = try await pollObject(
            cluster.loadClient, Resources.restoreSessions, namespace: namespace, name: name, "to end",
            timeout: settings.timeout
        ) { ["Succeeded", "Failed"].contains($0["status"]["phase"].stringValue ?? "") }
        let elapsed = seconds(since: start)
        guard done["status"]["phase"].stringValue == "Succeeded" else {
            throw BenchError("RestoreSession \(name) failed: \(done["status"])\n\(op.process.logTail())")
        }
        return elapsed
    }
    let runner = ResticRunner(restic: settings.tools.restic, repository: repositoryPath, cacheDirectory: nil)
    /// Seconds of `restic restore [--verify]` by hand into a new empty directory (removed after).
    func baselineRestore(_ round: Int, verify: Bool) async throws -> Double {
        let target = cluster.work.appending("baseline-restore-\(round)")
        let (_, elapsed) = try await timed {
            try await runner.run(["restore"] + (verify ? ["--verify"] : []) + ["--target", target, "--", id])
        }
        try FileManager.default.removeItem(atPath: target)
        return elapsed
    }
    // Rounds alternate with the baselines (this machine's noise moves a single restic restore of
    // 1 GiB between 5 and 9 s); the medians count. Each restores over the source itself: restic
    // writes it all anew beside it, then the swap and the removal of the old content.
    var offRuns: [Double] = []
    var plainRuns: [Double] = []
    var verifyRuns: [Double] = []
    for round in 1...settings.rounds {
        offRuns.append(try await timeRestore("restore-off-\(round)", preRestoreSnapshot: false))
        try await waitForResticQuiet(op, timeout: settings.timeout)
        progress("restore: restic restore by hand (round \(round))")
        plainRuns.append(try await baselineRestore(round, verify: false))
        progress("restore: restic restore --verify by hand (round \(round))")
        verifyRuns.append(try await baselineRestore(round, verify: true))
    }
    let on = try await timeRestore("restore-on", preRestoreSnapshot: true)
    let histogram = op.restic.histogram()
    op.process.killTree()
    progress("restore: restic backup of the target by hand")
    let (_, backupBaseline) = try await timed { try await runner.run(["backup", "-q", source]) }
    let off = medianRun(offRuns) { $0 }
    let restoreBaseline = medianRun(plainRuns) { $0 }
    let verifyBaseline = medianRun(verifyRuns) { $0 }

    let ratio = off / restoreBaseline
    let extra = on - off
    var report = ScenarioReport("restore")
    report.row("data MiB", "\(mib)", note: "\(fileCount) files, half random, half compressible")
    report.row(
        "restore seconds, no pre-restore Snapshot", format(off), baseline: format(restoreBaseline),
        note:
            "\(mediansNote(ratio: ratio, rounds: offRuns, baselines: plainRuns)) of `restic restore` into an empty directory; `restic restore --verify` (what kubesnap runs): \(format(verifyBaseline)) s, ratio \(format(off / verifyBaseline)) (\(verifyRuns.map { format($0) }.joined(separator: ", ")))"
    )
    report.row(
        "restore seconds, with the pre-restore Snapshot", format(on),
        baseline: format(restoreBaseline + backupBaseline),
        note:
            "one run; extra \(format(extra)) s over the median without for the pre-restore Snapshot (its backup and read-back); `restic backup` of the target: \(format(backupBaseline)) s"
    )
    report.row("operator restic runs", "\(histogram.values.reduce(0, +))", note: histogramText(histogram))
    report.field("mib", mib)
    report.field("seconds", off)
    report.field("baseline_seconds", restoreBaseline)
    report.field("ratio", ratio)
    report.field("verify_baseline_seconds", verifyBaseline)
    report.field("verify_ratio", off / verifyBaseline)
    report.field("with_pre_restore_seconds", on)
    report.field("pre_restore_extra_seconds", extra)
    report.field("backup_baseline_seconds", backupBaseline)
    report.target("ratio ≤ 1.15 (no pre-restore Snapshot)", ratio <= 1.15)
    report.notes.append(
        "kubesnap = RestoreSession created → seen Succeeded (polled every 20 ms) over its source; baselines on the same repository and snapshot, --no-cache as the operator"
    )
    return report
}

/// Polls `name` every 20 ms until `done` holds (it may throw to stop early); returns it.
func pollObject(
    _ client: KubeClient, _ resource: APIResource, namespace: String, name: String, _ what: String,
    timeout: Duration, done: (JSONValue) throws -> Bool
) async throws -> JSONValue {
    let deadline = ContinuousClock.now + timeout
    var last: JSONValue = .null
    while ContinuousClock.now < deadline {
        do {
            last = try await client.get(resource, namespace: namespace, name: name)
            if try done(last) { return last }
        } catch let error as BenchError {
            throw error
        } catch {
            if (error as? KubeError)?.isNotFound != true { throw error }
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw BenchError(
        "\(resource.resource) \(namespace)/\(name) did not come \(what) within \(timeout): \(last["status"])")
}
