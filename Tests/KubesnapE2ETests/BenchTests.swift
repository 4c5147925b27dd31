import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// `kubesnap-bench` itself, at a tiny size (the debug build, on a machine shared with other
/// tests): each scenario runs to its end, and its last line is the JSON object with the fields
/// the README and issue name. Figures are not judged here, only what must hold at any size (a
/// Snapshot costs at most two writes, deletions share a prune). A benchmark that hangs or loses
/// a field is found here rather than by someone running `make bench`.
@Suite(.serialized) struct BenchTests {
    /// Runs `kubesnap-bench ARGUMENTS`, with a fixture cache of its own if given; its last line, parsed.
    func bench(_ arguments: [String], cache: TemporaryDirectory?) async throws -> JSONValue {
        let result = try await runCommand(
            try E2E.builtBinary("kubesnap-bench"), arguments + (cache.map { ["--cache-dir", $0.path] } ?? []),
            environment: E2E.environment(), timeout: .seconds(600))
        #expect(result.status == 0, "kubesnap-bench \(arguments.joined(separator: " ")): \(result.stderr.suffix(3000))")
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        do {
            return try JSONValue.parse(Array(last.utf8))
        } catch {
            Issue.record("the last line is not JSON: \(last)\nstdout: \(result.stdout.suffix(3000))")
            throw error
        }
    }

    @Test func adoptAndDeleteRunToTheirEndWithTheirFields() async throws {
        let cache = try TemporaryDirectory(prefix: "kubesnap-bench-test")
        defer { cache.remove() }

        let adopt = try await bench(["adopt", "--snapshots", "4", "--rounds", "2"], cache: cache)
        #expect(adopt["scenario"] == "adopt")
        #expect(adopt["snapshots"] == 4)
        for field in ["seconds", "baseline_seconds", "ratio", "writes_per_snapshot", "operator_peak_rss_mib"] {
            #expect((adopt[field].doubleValue ?? 0) > 0, "adopt \(field): \(adopt)")
        }
        #expect((adopt["writes_per_snapshot"].doubleValue ?? 99) <= 2, "\(adopt)")
        #expect(adopt["restic_runs_in_window"] == 0, "no restic run while adopting: \(adopt)")
        #expect(adopt["targets_met"].boolValue != nil)

        // The second scenario reuses the fixture the first made (4 snapshots), from the cache.
        let delete = try await bench(["delete", "--snapshots", "4", "--rounds", "2"], cache: cache)
        #expect(delete["scenario"] == "delete")
        #expect(delete["snapshots"] == 4)
        for field in ["seconds", "baseline_seconds", "ratio"] {
            #expect((delete[field].doubleValue ?? 0) > 0, "delete \(field): \(delete)")
        }
        // One in the normal case; the issue's bound, as a loaded test machine may split a batch.
        #expect((1...3).contains(delete["prune_runs"].intValue ?? 0), "deletions at once share a prune: \(delete)")
    }

    @Test func restoreRunsToItsEndWithItsFields() async throws {
        let restore = try await bench(["restore", "--mib", "8"], cache: nil)
        #expect(restore["scenario"] == "restore")
        #expect(restore["mib"] == 8)
        for field in [
            "seconds", "baseline_seconds", "ratio", "verify_baseline_seconds", "verify_ratio", "with_pre_restore_seconds",
            "backup_baseline_seconds",
        ] {
            #expect((restore[field].doubleValue ?? 0) > 0, "restore \(field): \(restore)")
        }
        #expect(restore["pre_restore_extra_seconds"].doubleValue != nil, "\(restore)")
        #expect(restore["targets_met"].boolValue != nil)
    }

    @Test func jsonScenarioReportsBothParsers() async throws {
        // `json` starts no processes and takes none of the cluster scenarios' options.
        let last = try await bench(["json", "--events", "200"], cache: nil)
        #expect(last["scenario"] == "json")
        #expect(last["events"] == 200)
        for field in ["parse_us", "parse_baseline_us", "parse_ratio", "write_us", "write_baseline_us", "write_ratio"] {
            #expect((last[field].doubleValue ?? 0) > 0, "json \(field): \(last)")
        }
    }

    @Test func consoleScenarioRendersAndTimesUpdates() async throws {
        let last = try await bench(["console", "--snapshots", "30", "--updates", "3", "--rounds", "1"], cache: nil)
        #expect(last["scenario"] == "console")
        #expect(last["snapshots"] == 30)
        for field in ["first_byte_seconds", "list_seconds", "kubectl_seconds", "rendered_seconds", "update_p95_ms", "console_peak_rss_mib"] {
            #expect((last[field].doubleValue ?? 0) > 0, "console \(field): \(last)")
        }
    }

    /// Every idle Snapshot has a restic snapshot of its own: start-up writes nothing per
    /// Snapshot (a missing id would be flagged SnapshotMissing, a status write and an Event each).
    @Test func idleSnapshotsHaveTheirResticSnapshots() async throws {
        let cache = try TemporaryDirectory(prefix: "kubesnap-bench-idle")
        defer { cache.remove() }
        let idle = try await bench(["idle", "--snapshots", "40", "--idle-seconds", "1"], cache: cache)
        #expect(idle["scenario"] == "idle" && idle["snapshots"] == 40)
        #expect((idle["startup_writes"].intValue ?? 999) < 40, "start-up wrote per Snapshot: \(idle)")
        #expect(idle["writes_while_idle"] == 0 && idle["restic_runs_while_idle"] == 0, "\(idle)")
    }
}
