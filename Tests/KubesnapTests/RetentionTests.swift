import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import Kubesnap

private let berlin = TimeZone(identifier: "Europe/Berlin")!

private func date(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let value = formatter.date(from: text) { return value }
    formatter.formatOptions = [.withInternetDateTime]
    guard let value = formatter.date(from: text) else { fatalError("bad time \(text)") }
    return value
}

/// The rules restic does not have: what retention never deletes, and failed Snapshots.
@Suite struct RetentionRuleTests {
    let now = date("2026-12-07T12:00:00Z")

    private func ready(_ name: String, daysAgo: Double, verified: Bool = true) -> RetentionCandidate {
        RetentionCandidate(name: name, time: now.addingTimeInterval(-daysAgo * 86_400), state: .ready(verified: verified))
    }

    @Test func newestVerifiedSurvivesAMaxAgeThatCoversEverything() {
        let candidates = [
            ready("a", daysAgo: 100), ready("b", daysAgo: 90), ready("c", daysAgo: 80, verified: false),
        ]
        let decision = Retention.decide(candidates, policy: RetentionPolicy(maxAge: 7 * 86_400), now: now, zone: berlin)
        #expect(decision.keep == ["b": [.newestVerified]], "the newest verified one, not the newer unverified one")
        #expect(decision.delete == ["a", "c"])
    }

    @Test func failedSnapshotsNeverPushOutGoodOnesAndKeepFailedKeepsTheNewest() {
        let candidates = [
            ready("good-1", daysAgo: 5), ready("good-2", daysAgo: 4),
            RetentionCandidate(name: "bad-1", time: now.addingTimeInterval(-3 * 86_400), state: .failed),
            RetentionCandidate(name: "bad-2", time: now.addingTimeInterval(-2 * 86_400), state: .failed),
            RetentionCandidate(name: "bad-3", time: now.addingTimeInterval(-1 * 86_400), state: .failed),
        ]
        let two = Retention.decide(candidates, policy: RetentionPolicy(keepLast: 2, keepFailed: 2), now: now, zone: berlin)
        #expect(Set(two.keep.keys) == ["good-1", "good-2", "bad-2", "bad-3"])
        #expect(two.delete == ["bad-1"])
        let none = Retention.decide(candidates, policy: RetentionPolicy(keepLast: 1, keepFailed: 0), now: now, zone: berlin)
        #expect(Set(none.keep.keys) == ["good-2"])
        #expect(none.delete == ["good-1", "bad-1", "bad-2", "bad-3"])
    }

    @Test func busyInUseAndForeignSnapshotsAreNeverDeleted() {
        let candidates = [
            ready("old", daysAgo: 50),
            RetentionCandidate(name: "running", time: now.addingTimeInterval(-40 * 86_400), state: .busy),
            RetentionCandidate(name: "restoring", time: now.addingTimeInterval(-30 * 86_400), state: .ready(verified: false), inUse: true),
            RetentionCandidate(name: "hand-made", time: now.addingTimeInterval(-20 * 86_400), state: .ready(verified: true), ownedBySchedule: false),
            ready("newest", daysAgo: 1),
        ]
        let decision = Retention.decide(candidates, policy: RetentionPolicy(keepLast: 1), now: now, zone: berlin)
        #expect(decision.delete == ["old"])
        #expect(decision.keep["running"] == [.busy])
        #expect(decision.keep["restoring"] == [.inUse])
        #expect(decision.keep["hand-made"] == [.notOwned], "and it does not take a keepLast slot")
        #expect(decision.keep["newest"] == [.last, .newestVerified])
    }

    @Test func noPolicyDeletesNothingSuccessful() {
        let candidates = [ready("a", daysAgo: 400), ready("b", daysAgo: 300, verified: false)]
        let decision = Retention.decide(candidates, policy: RetentionPolicy(), now: now, zone: berlin)
        #expect(decision.delete.isEmpty)
    }

    @Test func bucketsAreReadInTheSchedulesZone() {
        // All three are on 5 Dec in UTC; in Berlin "late" and "early" are on 6 Dec (00:30, 00:10)
        // and "before" on 5 Dec (23:50): two Berlin days, one UTC day.
        let candidates = [
            RetentionCandidate(name: "late", time: date("2026-12-05T23:30:00Z"), state: .ready(verified: false)),
            RetentionCandidate(name: "early", time: date("2026-12-05T23:10:00Z"), state: .ready(verified: false)),
            RetentionCandidate(name: "before", time: date("2026-12-05T22:50:00Z"), state: .ready(verified: false)),
        ]
        let inBerlin = Retention.decide(candidates, policy: RetentionPolicy(keepDaily: 5), now: now, zone: berlin)
        #expect(Set(inBerlin.keep.keys) == ["late", "before"])
        let inUTC = Retention.decide(candidates, policy: RetentionPolicy(keepDaily: 5), now: now, zone: TimeZone(identifier: "UTC")!)
        #expect(Set(inUTC.keep.keys) == ["late"])
    }
}

/// Retention's bucket decisions against real `restic forget --dry-run --json`: one repository
/// holds snapshots made with `restic backup --time` at chosen times (Europe/Berlin wall clock,
/// across both DST changes, an ISO week-year boundary and year ends); for each policy of a
/// grid, the set restic keeps and the set `Retention.decide` keeps must be the same.
@Suite(.serialized) struct RetentionMatchesResticTests {
    struct ResticFailed: Error, CustomStringConvertible { var description: String }

    static let restic = "/usr/bin/restic"

    /// Wall-clock times in Europe/Berlin: clusters within an hour and a day, DST days, the
    /// 2024/2025 ISO week-year edge (30 Dec 2024 is in week 1 of 2025), and a spread of months.
    static let times: [String] = {
        var times = [
            "2024-01-01 00:10:00", "2024-06-15 12:00:00", "2024-12-29 23:00:00", "2024-12-30 01:00:00",
            "2024-12-31 23:59:00", "2025-01-01 00:01:00", "2025-03-30 01:30:00", "2025-03-30 03:30:00",
            "2025-03-31 00:30:00", "2025-10-26 01:30:00", "2025-10-26 03:30:00", "2025-10-27 00:00:00",
            "2026-02-28 10:00:00", "2026-03-01 10:00:00",
        ]
        // Then a deterministic pseudo-random walk: gaps from minutes to weeks.
        var state: UInt64 = 0x2405
        var instant = date("2026-03-02T00:00:00Z")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = berlin
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let gaps: [TimeInterval] = [600, 1800, 3600, 5400, 4 * 3600, 20 * 3600, 86_400, 3 * 86_400, 9 * 86_400, 20 * 86_400]
        for _ in 0..<30 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            instant.addTimeInterval(gaps[Int((state >> 33) % UInt64(gaps.count))])
            times.append(formatter.string(from: instant))
        }
        return times
    }()

    /// Policies: each restic rule alone, combinations, and keep-within (maxAge) in hours.
    static let grid: [RetentionPolicy] = [
        RetentionPolicy(keepLast: 3), RetentionPolicy(keepLast: 100),
        RetentionPolicy(keepHourly: 5), RetentionPolicy(keepHourly: 40),
        RetentionPolicy(keepDaily: 7), RetentionPolicy(keepDaily: 30),
        RetentionPolicy(keepWeekly: 4), RetentionPolicy(keepWeekly: 60),
        RetentionPolicy(keepMonthly: 6), RetentionPolicy(keepMonthly: 40),
        RetentionPolicy(keepYearly: 2), RetentionPolicy(keepYearly: 10),
        RetentionPolicy(keepDaily: 3, keepWeekly: 2, keepMonthly: 2),
        RetentionPolicy(keepLast: 2, keepHourly: 3, keepDaily: 3, keepWeekly: 3, keepMonthly: 3, keepYearly: 3),
        RetentionPolicy(keepLast: 1, keepYearly: 5),
        RetentionPolicy(maxAge: 30 * 86_400), RetentionPolicy(maxAge: 400 * 3600),
        RetentionPolicy(keepMonthly: 3, maxAge: 100 * 3600),
        RetentionPolicy(keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, maxAge: 90 * 86_400),
    ]

    static func resticArguments(_ policy: RetentionPolicy) -> [String] {
        var arguments: [String] = []
        let rules: [(String, Int)] = [
            ("--keep-last", policy.keepLast), ("--keep-hourly", policy.keepHourly), ("--keep-daily", policy.keepDaily),
            ("--keep-weekly", policy.keepWeekly), ("--keep-monthly", policy.keepMonthly), ("--keep-yearly", policy.keepYearly),
        ]
        for (flag, count) in rules where count > 0 { arguments += [flag, String(count)] }
        if let maxAge = policy.maxAge {
            precondition(maxAge % 3600 == 0, "restic's keep-within counts whole hours")
            arguments += ["--keep-within", "\(maxAge / 3600)h"]
        }
        return arguments
    }

    @Test func bucketsMatchResticForgetOnAGrid() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-retention")
        defer { directory.remove() }
        _ = try directory.write("source/file", "retention grid\n")
        var environment = ProcessInfo.processInfo.environment
        environment["RESTIC_PASSWORD"] = "retention-test-password"
        environment["RESTIC_REPOSITORY"] = directory.appending("repo")
        environment["RESTIC_CACHE_DIR"] = directory.appending("cache")
        environment["TZ"] = "Europe/Berlin"
        func restic(_ arguments: [String]) async throws -> String {
            let result = try await runCommand(Self.restic, arguments, environment: environment, directory: directory.path)
            guard result.succeeded else { throw ResticFailed(description: "restic \(arguments.joined(separator: " ")): \(result)") }
            return result.stdout
        }
        _ = try await restic(["init"])
        for (index, time) in Self.times.enumerated() {
            _ = try await restic(["backup", "--quiet", "--host", "grid", "--tag", "s\(index)", "--time", time, "source"])
        }
        // The times restic stored (it resolved each wall-clock time in TZ), per tag.
        let listing = try JSONValue.parse(try await restic(["snapshots", "--json"]))
        var candidates: [RetentionCandidate] = []
        for snapshot in listing.arrayValue ?? [] {
            guard let tag = snapshot["tags"][0].stringValue, let time = snapshot["time"].stringValue else { continue }
            candidates.append(RetentionCandidate(name: tag, time: date(time), state: .ready(verified: false)))
        }
        #expect(candidates.count == Self.times.count, "restic listed \(candidates.count) snapshots")
        let newest = try #require(candidates.map(\.time).max())

        for policy in Self.grid {
            let arguments = Self.resticArguments(policy)
            let output = try JSONValue.parse(try await restic(["forget", "--dry-run", "--json", "--group-by", "host"] + arguments))
            var resticKeeps: Set<String> = []
            for group in output.arrayValue ?? [] {
                for kept in group["keep"].arrayValue ?? [] {
                    if let tag = kept["tags"][0].stringValue { resticKeeps.insert(tag) }
                }
            }
            // restic measures keep-within from its newest snapshot: decide as of that moment.
            let ours = Retention.decide(candidates, policy: policy, now: newest, zone: berlin)
            #expect(Set(ours.keep.keys) == resticKeeps, "policy \(arguments.joined(separator: " "))")
            #expect(!resticKeeps.isEmpty, "restic kept something for \(arguments.joined(separator: " "))")
        }
    }
}
