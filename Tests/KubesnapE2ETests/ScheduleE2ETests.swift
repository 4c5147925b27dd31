import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// A `@every 2s` BackupSchedule run by real `kubesnap operator --leader-elect` processes, on the
/// wall clock: the leader is SIGKILLed (the standby takes over), the killed one is restarted,
/// and the new leader is SIGKILLed in turn. No scheduled time ever runs twice: one session per
/// time, one Snapshot per session, and one restic snapshot per Ready Snapshot (none for a
/// Failed one).
@Suite struct ScheduleE2ETests {
    @Test func killsRestartsAndLeaderHandoversNeverRunATimeTwice() async throws {
        let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-schedule")
        defer {
            cluster.kill()
            cluster.directory.remove()
        }
        let source = try cluster.writeSmallSource("app")
        let kubectl = cluster.kubectl
        let leaseNamespace = "leader-election"
        try await kubectl.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: \(leaseNamespace)}\n")
        let arguments = ["--leader-elect", "--leader-election-namespace", leaseNamespace]
        let operators = Locked<[String: KubesnapProcess]>([:])
        defer { for process in operators.withLock({ $0.values }) { process.kill9() } }
        for name in ["operator-a", "operator-b"] {
            let process = try cluster.startOperator(name: name, extraArguments: arguments)
            operators.withLock { $0[name] = process }
        }
        let snapshotOperators = { operators.withLock { $0 } }

        /// The running process holding the Lease.
        func leader() async throws -> String? {
            let running = snapshotOperators().filter { $0.value.child.isRunning }
            return try await cluster.leaseHolder(namespace: leaseNamespace, among: running).name
        }
        func waitForLeader(otherThan previous: String?) async throws -> String {
            try await waitFor(
                "an operator other than \(previous ?? "-") to lead", timeout: .seconds(90),
                poll: .milliseconds(300)
            ) {
                () -> WaitProbe<String> in
                let name = try await leader()
                if let name, name != previous { return .done(name) }
                return .notYet("leader \(name ?? "unknown")")
            }
        }

        let ns = "scheduled"
        try await kubectl.apply(DemoManifests.namespaceSecretRepository(namespace: ns, path: "scheduled/app"))
        try await kubectl.waitForObject("repo", "app-repo", namespace: ns, "to be Ready") {
            $0.phase == "Ready"
        }
        // An hourly schedule beside it: creation starts nothing (checked at the end, after a
        // minute of operators starting, dying and leading).
        try await kubectl.apply(
            DemoManifests.backupSchedule(name: "quiet", namespace: ns, schedule: "@every 1h", source: source))
        try await kubectl.apply(
            DemoManifests.backupSchedule(
                name: "every2s", namespace: ns, schedule: "@every 2s", source: source))
        let created = try await kubectl.waitForObject(
            "bsched", "every2s", namespace: ns, "to show its next run"
        ) {
            !$0["status"]["nextScheduleTime"].isNull
        }
        let createdAt = try #require(
            RFC3339.parse(created["metadata"]["creationTimestamp"].stringValue ?? ""))

        /// The schedule's Snapshots, by name.
        func snapshots() async throws -> [JSONValue] {
            let listed = try JSONValue.parse(
                try await kubectl.succeed([
                    "get", "snap", "-n", ns, "-l", "kubesnap.io/schedule=every2s", "-o", "json",
                ]))
            return (listed["items"].arrayValue ?? []).sorted { ($0.name ?? "") < ($1.name ?? "") }
        }
        /// Waits for `count` more Ready Snapshots of the schedule than `after`.
        func waitForRuns(_ count: Int, after: Int, _ what: String) async throws -> Int {
            try await waitFor(
                "\(count) more Ready runs \(what)", timeout: .seconds(180), poll: .milliseconds(500)
            ) {
                () -> WaitProbe<Int> in
                let ready = try await snapshots().filter { $0.phase == "Ready" }.count
                return ready >= after + count ? .done(ready) : .notYet("\(ready) Ready Snapshots")
            }
        }

        var ready = try await waitForRuns(2, after: 0, "before any kill")
        let first = try await waitForLeader(otherThan: nil)
        snapshotOperators()[first]?.kill9()
        let second = try await waitForLeader(otherThan: first)
        ready = try await waitForRuns(2, after: ready, "under the standby \(second)")
        // The killed one comes back (a restarted pod), then the current leader is killed.
        let restarted = try cluster.startOperator(name: "operator-c", extraArguments: arguments)
        operators.withLock { $0["operator-c"] = restarted }
        snapshotOperators()[second]?.kill9()
        let third = try await waitForLeader(otherThan: second)
        _ = try await waitForRuns(2, after: ready, "under \(third)")

        try await kubectl.succeed([
            "patch", "bsched", "every2s", "-n", ns, "--type", "merge", "-p", #"{"spec":{"suspend":true}}"#,
        ])
        try await waitUntil(
            "every Snapshot of the schedule to finish", timeout: .seconds(180), poll: .milliseconds(500)
        ) {
            let phases = try await snapshots().map(\.phase)
            return (phases.allSatisfy { $0 == "Ready" || $0 == "Failed" }, "\(phases)")
        }

        // One Snapshot per scheduled time, each time after the creation and on the 2 s grid.
        let all = try await snapshots()
        var perTime: [String: Int] = [:]
        for snapshot in all {
            let name = snapshot.name ?? ""
            let session = snapshot["spec"]["invoker"]["name"].stringValue ?? ""
            #expect(name == "\(session)-app-repo", "\(name) is not its session's Snapshot")
            let stamp = String(session.dropFirst("every2s-".count))
            perTime[stamp, default: 0] += 1
            let time = try #require(Self.parseStamp(stamp), "session \(session) is not named after a time")
            #expect(time > createdAt, "\(session) ran at or before the schedule's creation (\(createdAt))")
            #expect(Int(time.timeIntervalSince1970) % 2 == 0, "\(session) is not on the @every 2s grid")
        }
        #expect(perTime.values.allSatisfy { $0 == 1 }, "\(perTime)")

        // The sessions left (the last 10) carry the label and their scheduled time.
        let sessions = try JSONValue.parse(
            try await kubectl.succeed([
                "get", "bs", "-n", ns, "-l", "kubesnap.io/schedule=every2s", "-o", "json",
            ]))
        let sessionItems = sessions["items"].arrayValue ?? []
        #expect(!sessionItems.isEmpty && sessionItems.count <= 10, "\(sessionItems.count) sessions")
        for session in sessionItems {
            let name = session.name ?? ""
            let stamp = try #require(Self.parseStamp(String(name.dropFirst("every2s-".count))), "\(name)")
            #expect(
                session["metadata"]["annotations"]["kubesnap.io/scheduled-time"].stringValue
                    == RFC3339.format(stamp), "\(name): \(session["metadata"])")
        }

        let quiet = try #require(try await kubectl.get("bsched", "quiet", namespace: ns))
        let quietCreated = try #require(
            RFC3339.parse(quiet["metadata"]["creationTimestamp"].stringValue ?? ""))
        let firstHour = Date(
            timeIntervalSince1970: (floor(quietCreated.timeIntervalSince1970 / 3600) + 1) * 3600)
        let quietSessions = try await kubectl.succeed([
            "get", "bs", "-n", ns, "-l", "kubesnap.io/schedule=quiet", "-o",
            "jsonpath={.items[*].metadata.name}",
        ]).split(separator: " ").map(String.init)
        for session in quietSessions {
            // Only a whole hour after the creation may have run (if the test ran across one).
            let time = Self.parseStamp(String(session.dropFirst("quiet-".count)))
            #expect(time != nil && time! >= firstHour, "creating the schedule started a run: \(session)")
        }
        #expect(!quiet["status"]["nextScheduleTime"].isNull, "\(quiet["status"])")

        // One restic snapshot per Ready Snapshot (by its uid tag), none for a Failed one.
        let listed = try await runCommand(
            E2E.resticPath,
            [
                "-r", cluster.repositoryRoot + "/scheduled/app", "--no-lock", "--cache-dir",
                cluster.directory.appending("test-cache"), "snapshots", "--json",
            ],
            environment: E2E.environment(["RESTIC_PASSWORD": DemoManifests.password]))
        #expect(listed.succeeded, "\(listed)")
        let resticSnapshots = try JSONValue.parse(listed.stdout).arrayValue ?? []
        for snapshot in all {
            let tag = JSONValue.string("kubesnap-uid=\(snapshot["metadata"]["uid"].stringValue ?? "")")
            let copies = resticSnapshots.filter { ($0["tags"].arrayValue ?? []).contains(tag) }.count
            #expect(
                copies == (snapshot.phase == "Ready" ? 1 : 0),
                "\(snapshot.name ?? "") (\(snapshot.phase)) has \(copies) restic snapshots")
        }
        #expect(resticSnapshots.count == all.filter { $0.phase == "Ready" }.count)
    }

    /// `YYYYMMDD-HHMMSS` (UTC) as a date.
    static func parseStamp(_ stamp: String) -> Date? {
        let digits = stamp.replacingOccurrences(of: "-", with: "")
        guard digits.count == 14, digits.allSatisfy(\.isNumber) else { return nil }
        let chars = Array(digits)
        func part(_ from: Int, _ length: Int) -> String { String(chars[from..<(from + length)]) }
        return RFC3339.parse(
            "\(part(0, 4))-\(part(4, 2))-\(part(6, 2))T\(part(8, 2)):\(part(10, 2)):\(part(12, 2))Z")
    }
}

extension DemoManifests {
    /// A BackupSchedule of `source` into `repositories`, with `retention` as a flow mapping.
    static func backupSchedule(
        name: String, namespace: String, schedule: String, source: String,
        repositories: [String] = ["app-repo"],
        retention: String? = nil
    ) -> String {
        """
        apiVersion: kubesnap.io/v1alpha1
        kind: BackupSchedule
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          schedule: "\(schedule)"
          source: {path: "\(source)"}
          repositories: [\(repositories.joined(separator: ", "))]
        """ + (retention.map { "\n  retention: \($0)" } ?? "")
    }
}

extension E2ECluster {
    /// The Lease `kubesnap-operator`'s holder identity, and which of `processes` it is (found by
    /// its identity in their logs; nil unless exactly one matches).
    func leaseHolder(namespace: String, among processes: [String: KubesnapProcess]) async throws
        -> (identity: String, name: String?)
    {
        guard let lease = try await kubectl.get("lease", "kubesnap-operator", namespace: namespace),
            let identity = lease["spec"]["holderIdentity"].stringValue, !identity.isEmpty
        else { return ("", nil) }
        let names = processes.filter { $0.value.log.contains(identity) }.map(\.key)
        return (identity, names.count == 1 ? names[0] : nil)
    }
}
