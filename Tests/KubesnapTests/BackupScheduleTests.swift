import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import KubesnapAPI
import Testing

@testable import Kubesnap

/// BackupSchedules against the built-in API server and real restic, on a `ManualClock` that the
/// test moves (no test waits for a wall-clock minute): nothing fires at creation or edit, each
/// scheduled time makes exactly one session, an outage gives one late run, a long run skips the
/// next, suspend, the last 10 sessions, retention's never-delete rules, dryRun, bad input.
@Suite("BackupSchedule")
struct BackupScheduleTests {
    static let namespace = "default"
    /// 2026-12-06T10:00:30Z: half a minute before a `@every 1m` time.
    static let start = Date(timeIntervalSince1970: 1_796_551_230)

    static func time(_ text: String) -> Date { RFC3339.parse(text)! }

    /// An operator on a manual clock at `start`.
    func withScheduleOperator(
        wrapped: Bool = false, _ body: @Sendable (Harness, ManualClock, ResticWrapper?) async throws -> Void
    ) async throws {
        let clock = ManualClock(Self.start)
        if wrapped {
            try await withWrappedRestic(configure: { $0.clock = clock }) { h, wrapper in
                try await body(h, clock, wrapper)
            }
        } else {
            try await withOperator(configure: { $0.clock = clock }) { h in try await body(h, clock, nil) }
        }
    }

    @discardableResult
    func createSchedule(
        _ h: Harness, _ name: String, schedule: String = "@every 1m", source: String = "app",
        repositories: [String] = ["repo"], extra: JSONValue = [:]
    ) async throws -> JSONValue {
        var spec: JSONValue = [
            "schedule": .string(schedule), "source": ["path": .string(source)],
            "repositories": .array(repositories.map { .string($0) }),
        ]
        for (key, value) in extra.objectValue ?? [:] { spec[key] = value }
        return try await h.client.create(
            Harness.schedules, namespace: Self.namespace,
            [
                "apiVersion": "kubesnap.io/v1alpha1", "kind": "BackupSchedule",
                "metadata": ["name": .string(name), "namespace": .string(Self.namespace)], "spec": spec,
            ])
    }

    func patchSpec(_ h: Harness, _ name: String, _ spec: JSONValue) async throws {
        _ = try await h.client.patch(
            Harness.schedules, namespace: Self.namespace, name: name, type: .merge, ["spec": spec])
    }

    /// The schedule's sessions on the API server, by name.
    func sessions(_ h: Harness, of schedule: String) async throws -> [JSONValue] {
        try await h.client.list(
            Harness.sessions, namespace: Self.namespace,
            options: ListOptions(labelSelector: "kubesnap.io/schedule=\(schedule)")
        ).items.sorted { ($0.name ?? "") < ($1.name ?? "") }
    }

    func snapshotNames(_ h: Harness) async throws -> [String] {
        try await h.client.list(Harness.snapshots, namespace: Self.namespace).items.compactMap(\.name)
            .sorted()
    }

    /// Waits until the schedule's status has caught up with its spec and satisfies `condition`.
    @discardableResult
    func waitForSchedule(
        _ h: Harness, _ name: String, _ what: String, timeout: Duration = .seconds(60),
        _ condition: @escaping (JSONValue) -> Bool
    ) async throws -> JSONValue {
        try await waitFor("backupschedule \(name): \(what)", timeout: timeout) {
            let object = try await h.get(Harness.schedules, Self.namespace, name)
            if let object, object["status"]["observedGeneration"] == object["metadata"]["generation"],
                condition(object)
            {
                return .done(object)
            }
            return .notYet(
                "\(object?["status"] ?? .null) generation \(object?["metadata"]["generation"] ?? .null)")
        }
    }

    func readyRepositoryAndSource(_ h: Harness, source: String = "app") async throws {
        try await h.readyRepository(Self.namespace, "repo", path: "repo", password: "pw-schedule")
        _ = try h.makeSource(source, files: ["a.txt": "alpha", "b.txt": "bravo"])
    }

    func resticSnapshotCount(_ h: Harness) async throws -> Int {
        try await h.resticSnapshots(repository: h.repositoryRoot + "/repo", password: "pw-schedule").count
    }

    // MARK: - Runs

    @Test(
        "creation and edit fire nothing; each scheduled time makes one session named after it, labelled, whose Snapshots carry the label; a restart runs nothing twice"
    )
    func creationFiresNothingAndEachTimeRunsOnce() async throws {
        try await withScheduleOperator { h, clock, _ in
            try await readyRepositoryAndSource(h)
            try await createSchedule(h, "nightly")
            let created = try await waitForSchedule(h, "nightly", "next run shown") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z"
            }
            #expect(Harness.readyMessage(created).contains("2026-12-06T10:01:00Z"))
            #expect(try await sessions(h, of: "nightly").isEmpty, "a run fired at creation")

            // An edit (the retention policy) starts nothing either.
            try await patchSpec(h, "nightly", ["retention": ["keepLast": 5]])
            try await waitForSchedule(h, "nightly", "the edit seen") { $0["metadata"]["generation"] == 2 }
            #expect(try await sessions(h, of: "nightly").isEmpty, "a run fired at an edit")

            clock.set(Self.time("2026-12-06T10:01:00Z"))
            let first = try await h.waitForPhase(
                Harness.sessions, Self.namespace, "nightly-20261206-100100", "Ready", timeout: .seconds(90))
            #expect(first["metadata"]["labels"]["kubesnap.io/schedule"] == "nightly")
            #expect(first["metadata"]["annotations"]["kubesnap.io/scheduled-time"] == "2026-12-06T10:01:00Z")
            #expect(first["spec"]["repositories"] == ["repo"])
            let snapshot = try #require(
                try await h.get(Harness.snapshots, Self.namespace, "nightly-20261206-100100-repo"))
            #expect(snapshot["metadata"]["labels"]["kubesnap.io/schedule"] == "nightly")
            let afterFirst = try await waitForSchedule(h, "nightly", "the first run recorded") {
                $0["status"]["lastSession"] == "nightly-20261206-100100"
                    && $0["status"]["nextScheduleTime"] == "2026-12-06T10:02:00Z"
                    && !$0["status"]["lastSuccessfulTime"].isNull && $0["status"]["active"].isNull
            }
            #expect(afterFirst["status"]["lastScheduleTime"] == "2026-12-06T10:01:00Z")
            #expect(afterFirst["status"]["missedRuns"] == 0)

            // A restart at the same instant starts nothing again.
            await h.restartOperator()
            clock.set(Self.time("2026-12-06T10:01:30Z"))
            try await waitForSchedule(h, "nightly", "the restarted operator's reconcile") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:02:00Z"
            }
            clock.set(Self.time("2026-12-06T10:02:00Z"))
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "nightly-20261206-100200", "Ready", timeout: .seconds(90))
            try await waitForSchedule(h, "nightly", "the second run recorded") {
                $0["status"]["lastSession"] == "nightly-20261206-100200" && $0["status"]["active"].isNull
            }
            let names = try await sessions(h, of: "nightly").compactMap(\.name)
            #expect(names == ["nightly-20261206-100100", "nightly-20261206-100200"])
            #expect(try await resticSnapshotCount(h) == 2, "one restic snapshot per scheduled time")
        }
    }

    @Test(
        "a 10-minute outage gives one late run and counts the other nine; past startingDeadlineSeconds nothing runs late"
    )
    func outageGivesOneLateRun() async throws {
        try await withScheduleOperator { h, clock, _ in
            try await readyRepositoryAndSource(h)
            try await createSchedule(h, "hourly", extra: ["startingDeadlineSeconds": 45])
            try await waitForSchedule(h, "hourly", "next run shown") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z"
            }

            await h.runner.stop()
            clock.set(Self.time("2026-12-06T10:10:30Z"))  // 10:01 ... 10:10 were due: 10 times
            h.runner.start()
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "hourly-20261206-101000", "Ready", timeout: .seconds(90))
            let late = try await waitForSchedule(h, "hourly", "the late run recorded") {
                $0["status"]["lastSession"] == "hourly-20261206-101000" && $0["status"]["active"].isNull
            }
            #expect(late["status"]["missedRuns"] == 9, "\(late["status"])")
            #expect(late["status"]["nextScheduleTime"] == "2026-12-06T10:11:00Z")
            #expect(try await sessions(h, of: "hourly").compactMap(\.name) == ["hourly-20261206-101000"])
            try await waitUntil("a MissedRuns Event") {
                let reasons = try await h.eventReasons(Self.namespace, about: "hourly")
                return (reasons.contains("MissedRuns"), "\(reasons)")
            }

            // 10:11 ... 10:20 due, the latest 50 s ago: past the 45 s deadline, nothing runs.
            await h.runner.stop()
            clock.set(Self.time("2026-12-06T10:20:50Z"))
            h.runner.start()
            let skipped = try await waitForSchedule(h, "hourly", "ten more missed") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:21:00Z"
            }
            #expect(skipped["status"]["missedRuns"] == 19, "\(skipped["status"])")
            #expect(try await sessions(h, of: "hourly").count == 1)
        }
    }

    @Test("a run that comes while the previous one is still Running is skipped and counted, never stacked")
    func longRunSkipsTheNext() async throws {
        try await withScheduleOperator(wrapped: true) { h, clock, wrapper in
            let wrapper = try #require(wrapper)
            defer { try? wrapper.release() }  // a failed expectation must not leave the backup held
            try await readyRepositoryAndSource(h, source: "hold-app")
            try await createSchedule(h, "slow", source: "hold-app")
            try await waitForSchedule(h, "slow", "next run shown") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z"
            }
            clock.set(Self.time("2026-12-06T10:01:00Z"))
            try await waitForSchedule(h, "slow", "the first run active") {
                $0["status"]["active"] == ["slow-20261206-100100"]
            }

            clock.set(Self.time("2026-12-06T10:02:00Z"))
            let skipped = try await waitForSchedule(h, "slow", "the second run skipped") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:03:00Z"
            }
            #expect(skipped["status"]["missedRuns"] == 1)
            #expect(try await sessions(h, of: "slow").compactMap(\.name) == ["slow-20261206-100100"])
            try await waitUntil("a RunSkipped Event") {
                let reasons = try await h.eventReasons(Self.namespace, about: "slow")
                return (reasons.contains("RunSkipped"), "\(reasons)")
            }

            try wrapper.release()
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "slow-20261206-100100", "Ready", timeout: .seconds(90))
            try await waitForSchedule(h, "slow", "nothing active") { $0["status"]["active"].isNull }
            clock.set(Self.time("2026-12-06T10:03:00Z"))
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "slow-20261206-100300", "Ready", timeout: .seconds(90))
            #expect(
                try await sessions(h, of: "slow").compactMap(\.name) == [
                    "slow-20261206-100100", "slow-20261206-100300",
                ])
        }
    }

    @Test("suspend stops runs (counted) and resuming replays none of them")
    func suspendAndResume() async throws {
        try await withScheduleOperator { h, clock, _ in
            try await readyRepositoryAndSource(h)
            try await createSchedule(h, "paused", extra: ["suspend": true])
            let suspended = try await waitForSchedule(h, "paused", "suspended, next run shown") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z"
            }
            #expect(Harness.readyMessage(suspended).contains("suspend"))
            clock.set(Self.time("2026-12-06T10:03:10Z"))  // 10:01, 10:02, 10:03
            let counted = try await waitForSchedule(h, "paused", "three runs not started") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:04:00Z"
            }
            #expect(counted["status"]["missedRuns"] == 3)
            #expect(try await sessions(h, of: "paused").isEmpty)

            try await patchSpec(h, "paused", ["suspend": false])
            let resumed = try await waitForSchedule(h, "paused", "resumed") {
                $0["metadata"]["generation"] == 2
                    && ($0["status"]["conditions"].arrayValue ?? []).contains { $0["reason"] == "Scheduled" }
            }
            #expect(resumed["status"]["nextScheduleTime"] == "2026-12-06T10:04:00Z")
            #expect(try await sessions(h, of: "paused").isEmpty, "resuming replayed a suspended run")
            clock.set(Self.time("2026-12-06T10:04:00Z"))
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "paused-20261206-100400", "Ready", timeout: .seconds(90))
            #expect(try await sessions(h, of: "paused").count == 1)
        }
    }

    @Test("a schedule keeps its last 10 sessions; deleting the older ones keeps their Snapshots")
    func keepsTheLastTenSessions() async throws {
        try await withScheduleOperator { h, clock, _ in
            try await readyRepositoryAndSource(h)
            try await createSchedule(h, "often")
            try await waitForSchedule(h, "often", "next run shown") {
                $0["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z"
            }
            var expected: [String] = []
            for minute in 1...12 {
                let time = Self.start.addingTimeInterval(Double(minute * 60 - 30))
                let name = BackupSchedule.sessionName(schedule: "often", time: time)
                expected.append(name)
                clock.set(time)
                try await h.waitForPhase(
                    Harness.sessions, Self.namespace, name, "Ready", timeout: .seconds(90))
                try await waitForSchedule(h, "often", "run \(minute) done") {
                    $0["status"]["lastSession"] == .string(name) && $0["status"]["active"].isNull
                }
            }
            try await waitUntil("only the last 10 sessions left") {
                let names = try await sessions(h, of: "often").compactMap(\.name)
                return (names == Array(expected.suffix(10)), "\(names)")
            }
            let snapshots = try await snapshotNames(h)
            for name in expected {
                #expect(snapshots.contains("\(name)-repo"), "\(name)-repo was deleted with its session")
            }
        }
    }

    @Test(
        "DST in Europe/Berlin: 02:30 daily skips the day it does not exist and runs once the day it happens twice"
    )
    func daylightSavingTransitions() async throws {
        try await withScheduleOperator { h, clock, _ in
            try await readyRepositoryAndSource(h)
            // Clocks go forward on 2026-03-29 at 02:00 CET: no 02:30 that day.
            clock.set(Self.time("2026-03-28T12:00:00Z"))
            try await createSchedule(
                h, "berlin", schedule: "30 2 * * *",
                extra: ["timeZone": "Europe/Berlin", "startingDeadlineSeconds": 60])
            try await waitForSchedule(h, "berlin", "the next run after the skipped day") {
                $0["status"]["nextScheduleTime"] == "2026-03-30T00:30:00Z"
            }
            clock.set(Self.time("2026-03-29T01:30:00Z"))  // 03:30 CEST: not a stand-in for 02:30
            try await waitForSchedule(h, "berlin", "still the 30th") {
                $0["status"]["nextScheduleTime"] == "2026-03-30T00:30:00Z"
            }
            #expect(try await sessions(h, of: "berlin").isEmpty, "a run on the day 02:30 does not exist")

            // Months later (every day missed, past the 60 s deadline: counted, none run late).
            clock.set(Self.time("2026-10-24T12:00:00Z"))
            let later = try await waitForSchedule(h, "berlin", "March 30th to October 24th missed") {
                $0["status"]["nextScheduleTime"] == "2026-10-25T00:30:00Z"
            }
            #expect(later["status"]["missedRuns"] == 209, "\(later["status"])")
            #expect(try await sessions(h, of: "berlin").isEmpty)

            // Clocks go back on 2026-10-25 at 03:00 CEST: 02:30 happens at 00:30Z and at 01:30Z.
            clock.set(Self.time("2026-10-25T00:30:00Z"))
            try await h.waitForPhase(
                Harness.sessions, Self.namespace, "berlin-20261025-003000", "Ready", timeout: .seconds(90))
            let autumn = try await waitForSchedule(h, "berlin", "the repeated 02:30 not run again") {
                $0["status"]["lastSession"] == "berlin-20261025-003000"
            }
            #expect(autumn["status"]["nextScheduleTime"] == "2026-10-26T01:30:00Z", "\(autumn["status"])")
            clock.set(Self.time("2026-10-25T01:30:00Z"))
            try await waitForSchedule(h, "berlin", "a reconcile at the second 02:30") {
                $0["status"]["nextScheduleTime"] == "2026-10-26T01:30:00Z"
            }
            #expect(try await sessions(h, of: "berlin").compactMap(\.name) == ["berlin-20261025-003000"])
        }
    }

    // MARK: - Retention

    /// Restic snapshots of `source` made at chosen times, adopted as Snapshots labelled for
    /// `schedule` (nil: not labelled); returns when all are Ready.
    func adoptedSnapshots(
        _ h: Harness, _ names: [(name: String, schedule: String?, time: String)], source: String = "app"
    ) async throws {
        for entry in names {
            let made = try await h.restic(
                [
                    "-r", h.repositoryRoot + "/repo", "backup", "--time", entry.time, "--tag", entry.name,
                    h.sourceRoot + "/" + source,
                ],
                password: "pw-schedule")
            #expect(made.succeeded, "\(made)")
        }
        let listed = try await h.resticSnapshots(
            repository: h.repositoryRoot + "/repo", password: "pw-schedule")
        for entry in names {
            let id = try #require(
                listed.first { ($0["tags"].arrayValue ?? []).contains(.string(entry.name)) }?["id"]
                    .stringValue)
            try await createLabelledSnapshot(
                h, entry.name, schedule: entry.schedule,
                spec: ["repository": "repo", "snapshotID": .string(id)])
        }
        for entry in names {
            try await h.waitForPhase(Harness.snapshots, Self.namespace, entry.name, "Ready")
        }
    }

    func createLabelledSnapshot(_ h: Harness, _ name: String, schedule: String?, spec: JSONValue) async throws
    {
        var metadata: JSONValue = ["name": .string(name), "namespace": .string(Self.namespace)]
        if let schedule { metadata["labels"] = ["kubesnap.io/schedule": .string(schedule)] }
        _ = try await h.client.create(
            Harness.snapshots, namespace: Self.namespace,
            ["apiVersion": "kubesnap.io/v1alpha1", "kind": "Snapshot", "metadata": metadata, "spec": spec])
    }

    func verify(_ h: Harness, _ name: String) async throws {
        _ = try await h.client.patch(
            Harness.snapshots, namespace: Self.namespace, name: name, type: .merge,
            ["metadata": ["annotations": ["kubesnap.io/verify-requested": "1"]]])
        try await h.waitForStatus(Harness.snapshots, Self.namespace, name, "verified OK") {
            $0["status"]["verificationStatus"] == "OK"
        }
    }

    @Test(
        "retention: dryRun lists and deletes nothing; then the newest verified Snapshot survives a maxAge that covers everything, keepFailed keeps the newest failed one, unlabelled Snapshots are untouched, two schedules on one repository touch only their own; deleting the schedule keeps what is left"
    )
    func retentionNeverDeleteRules() async throws {
        try await withScheduleOperator { h, _, _ in
            try await readyRepositoryAndSource(h)
            try await adoptedSnapshots(
                h,
                [
                    ("a-1", "alpha", "2026-12-01 10:00:00"), ("a-2", "alpha", "2026-12-02 10:00:00"),
                    ("a-3", "alpha", "2026-12-03 10:00:00"), ("a-4", "alpha", "2026-12-04 10:00:00"),
                    ("b-1", "beta", "2026-12-01 11:00:00"), ("b-2", "beta", "2026-12-02 11:00:00"),
                    ("hand-made", nil, "2026-11-30 10:00:00"),
                ])
            try await verify(h, "a-2")  // a-3 and a-4 are newer but not verified
            for name in ["f-1", "f-2"] {  // two failed runs, f-2 the newer
                try await createLabelledSnapshot(
                    h, name, schedule: "alpha", spec: ["repository": "repo", "snapshotID": "deadbeef0000"])
                try await h.waitForPhase(Harness.snapshots, Self.namespace, name, "Failed")
            }
            let everything = try await snapshotNames(h)
            // The newer failed one is kept: by creationTimestamp (whole seconds), a tie going to
            // the first name, as `Retention.decide` orders.
            let created = try await ["f-1", "f-2"].asyncMap {
                try #require(try await h.get(Harness.snapshots, Self.namespace, $0))["metadata"][
                    "creationTimestamp"
                ].stringValue ?? ""
            }
            let (keptFailed, goneFailed) = created[1] > created[0] ? ("f-2", "f-1") : ("f-1", "f-2")

            try await createSchedule(
                h, "alpha", schedule: "@every 24h",
                extra: ["retention": ["maxAge": "1h", "keepFailed": 1, "dryRun": true]])
            let dry = try await waitForSchedule(h, "alpha", "a dry run") {
                !$0["status"]["retention"]["wouldDelete"].isNull
            }
            #expect(
                dry["status"]["retention"]["wouldDelete"] == ["a-1", "a-3", "a-4", .string(goneFailed)],
                "\(dry["status"])")
            #expect(dry["status"]["retention"]["kept"] == 2)
            #expect(try await snapshotNames(h) == everything, "dryRun deleted something")

            try await patchSpec(h, "alpha", ["retention": ["dryRun": false]])
            let applied = try await waitForSchedule(h, "alpha", "retention applied") {
                $0["status"]["retention"]["deleted"] == 4
            }
            #expect(applied["status"]["retention"]["wouldDelete"].isNull)
            for name in ["a-1", "a-3", "a-4", goneFailed] {
                try await h.waitForGone(Harness.snapshots, Self.namespace, name)
            }
            let left = ["a-2", "b-1", "b-2", keptFailed, "hand-made"].sorted()
            #expect(try await snapshotNames(h) == left)
            try await waitUntil("a RetentionApplied Event") {
                let reasons = try await h.eventReasons(Self.namespace, about: "alpha")
                return (reasons.contains("RetentionApplied"), "\(reasons)")
            }

            // A second schedule on the same repository, keeping only its newest: it deletes its
            // own b-1 and touches none of alpha's.
            try await createSchedule(h, "beta", schedule: "@every 24h", extra: ["retention": ["keepLast": 1]])
            try await waitForSchedule(h, "beta", "retention applied") {
                $0["status"]["retention"]["deleted"] == 1
            }
            try await h.waitForGone(Harness.snapshots, Self.namespace, "b-1")
            let afterBeta = ["a-2", "b-2", keptFailed, "hand-made"].sorted()
            #expect(try await snapshotNames(h) == afterBeta)

            // Deleting the schedule keeps its Snapshots.
            try await h.client.delete(Harness.schedules, namespace: Self.namespace, name: "alpha")
            try await h.waitForGone(Harness.schedules, Self.namespace, "alpha")
            #expect(try await snapshotNames(h) == afterBeta)
        }
    }

    @Test(
        "retention keeps a Snapshot a RestoreSession is using, and a keepLast policy counts only successful Snapshots"
    )
    func retentionKeepsSnapshotsInUse() async throws {
        try await withScheduleOperator { h, _, _ in
            try await readyRepositoryAndSource(h)
            try await adoptedSnapshots(
                h,
                [
                    ("r-1", "gamma", "2026-12-01 10:00:00"), ("r-2", "gamma", "2026-12-02 10:00:00"),
                    ("r-3", "gamma", "2026-12-03 10:00:00"),
                ])
            try await createLabelledSnapshot(
                h, "r-failed", schedule: "gamma", spec: ["repository": "repo", "snapshotID": "deadbeef0001"])
            try await h.waitForPhase(Harness.snapshots, Self.namespace, "r-failed", "Failed")
            // A RestoreSession of r-1 that waits: it holds r-1. (It may restore the adopted,
            // never-verified r-1; it waits because the Repository is not Ready: the Secret's
            // password no longer opens it.)
            _ = try await h.client.patch(
                .secrets, namespace: Self.namespace, name: "pw", type: .merge,
                ["data": ["password": .string(Data("not-the-password".utf8).base64EncodedString())]])
            try await h.waitForPhase(Harness.repositories, Self.namespace, "repo", "Failed")
            _ = try await h.client.create(
                Harness.restores, namespace: Self.namespace,
                [
                    "apiVersion": "kubesnap.io/v1alpha1", "kind": "RestoreSession",
                    "metadata": [
                        "name": "undo", "namespace": .string(Self.namespace),
                        "annotations": ["kubesnap.io/restore-unverified": "true"],
                    ],
                    "spec": ["snapshot": "r-1", "target": ["path": "restored"]],
                ])
            let waiting = try await h.waitForPhase(Harness.restores, Self.namespace, "undo", "Pending")
            let completed = (waiting["status"]["conditions"].arrayValue ?? []).first { $0["type"] == "Completed" }
            #expect(completed?["reason"] == "RepositoryNotReady", "\(waiting["status"])")
            try await createSchedule(
                h, "gamma", schedule: "@every 24h", extra: ["retention": ["keepLast": 1, "keepFailed": 0]])
            try await waitForSchedule(h, "gamma", "retention applied") {
                $0["status"]["retention"]["deleted"] == 2
            }
            for name in ["r-2", "r-failed"] {
                try await h.waitForGone(Harness.snapshots, Self.namespace, name)
            }
            #expect(try await snapshotNames(h) == ["r-1", "r-3"])
        }
    }

    // MARK: - Bad input

    @Test("bad input: each a condition naming the field, or a rejection by the CRD")
    func badInput() async throws {
        try await withScheduleOperator { h, _, _ in
            try await readyRepositoryAndSource(h)
            let cases: [(name: String, spec: JSONValue, reason: String, field: String)] = [
                ("bad-cron", ["schedule": "61 * * * *"], "InvalidSpec", "spec.schedule"),
                ("bad-zone", ["timeZone": "Mars/Olympus_Mons"], "InvalidSpec", "spec.timeZone"),
                ("bad-every", ["schedule": "@every 0s"], "InvalidSpec", "spec.schedule"),
                ("no-repo", ["repositories": ["missing"]], "RepositoryNotFound", "spec.repositories[0]"),
                ("escaping-source", ["source": ["path": "../../etc"]], "InvalidSpec", "spec.source.path"),
            ]
            for entry in cases {
                var extra = entry.spec
                let schedule = extra["schedule"].stringValue ?? "@every 1m"
                let repositories = (extra["repositories"].arrayValue ?? ["repo"]).compactMap(\.stringValue)
                let source = extra["source"]["path"].stringValue ?? "app"
                if case .object(var members) = extra {
                    for key in ["schedule", "repositories", "source"] { members[key] = nil }
                    extra = .object(members)
                }
                try await createSchedule(
                    h, entry.name, schedule: schedule, source: source, repositories: repositories,
                    extra: extra)
            }
            for entry in cases {
                let object = try await waitForSchedule(h, entry.name, "Ready False \(entry.reason)") {
                    ($0["status"]["conditions"].arrayValue ?? []).contains {
                        $0["type"] == "Ready" && $0["status"] == "False"
                            && $0["reason"] == .string(entry.reason)
                    }
                }
                #expect(
                    Harness.readyMessage(object).contains(entry.field),
                    "\(entry.name): \(Harness.readyMessage(object))")
            }
            // The unknown repository does not stop the schedule: its next run is shown.
            let noRepo = try #require(try await h.get(Harness.schedules, Self.namespace, "no-repo"))
            #expect(noRepo["status"]["nextScheduleTime"] == "2026-12-06T10:01:00Z")
            // The Repository appearing clears the condition.
            try await h.createRepository(Self.namespace, "missing", path: "missing", secret: "pw")
            try await waitForSchedule(h, "no-repo", "Ready once the Repository exists") {
                ($0["status"]["conditions"].arrayValue ?? []).contains {
                    $0["type"] == "Ready" && $0["status"] == "True"
                }
            }
            let cron = try #require(try await h.get(Harness.schedules, Self.namespace, "bad-cron"))
            #expect(Harness.readyMessage(cron).contains("minute"), "\(Harness.readyMessage(cron))")

            // What the schema can say, the CRD rejects.
            let longName = String(repeating: "n", count: 48)
            for (name, extra, field) in [
                (longName, JSONValue.object([:]), "metadata.name"),
                ("negative", ["retention": ["keepDaily": -1]], "spec.retention.keepDaily"),
                ("bad-age", ["retention": ["maxAge": "90 days"]], "spec.retention.maxAge"),
                ("no-repositories", ["repositories": []], "spec.repositories"),
                ("bad-deadline", ["startingDeadlineSeconds": -5], "spec.startingDeadlineSeconds"),
            ] as [(String, JSONValue, String)] {
                do {
                    try await createSchedule(
                        h, name, repositories: name == "no-repositories" ? [] : ["repo"], extra: extra)
                    Issue.record("\(name) was accepted")
                } catch {
                    #expect("\(error)".contains(field), "\(name): \(error)")
                }
            }
            let fits = String(repeating: "n", count: 47)
            try await createSchedule(h, fits)
        }
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
