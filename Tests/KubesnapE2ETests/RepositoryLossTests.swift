import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// A repository that vanished is never silently made again, and a Snapshot whose data is gone
/// never stays "OK" (issue 27): against `kubesnap apiserver` plus `kubesnap operator`, real restic.
@Suite struct RepositoryLossTests {
    /// One cluster, one operator, one namespace with the password Secret and a local Repository
    /// `app-repo` at `<repository root>/<ns>/app`.
    struct Setup {
        let cluster: E2ECluster
        let operatorProcess: KubesnapProcess
        let ns: String
        var kubectl: Kubectl { cluster.kubectl }
        var repositoryPath: String { cluster.repositoryRoot + "/\(ns)/app" }
        var restic: ResticCLI {
            ResticCLI(
                repository: repositoryPath, password: DemoManifests.password,
                cacheDir: cluster.directory.appending("restic-cache"))
        }

        static func start(_ ns: String) async throws -> Setup {
            let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-loss")
            do {
                try cluster.writeSmallSource("app")
                let operatorProcess = try cluster.startOperator(name: "operator")
                let setup = Setup(cluster: cluster, operatorProcess: operatorProcess, ns: ns)
                try await setup.kubectl.apply(DemoManifests.namespaceSecretRepository(namespace: ns, path: "\(ns)/app"))
                try await setup.kubectl.waitForObject(
                    "repo", "app-repo", namespace: ns, "to be Ready", rejected: { $0.phase == "Failed" ? "Failed" : nil }
                ) { $0.phase == "Ready" }
                return setup
            } catch {
                cluster.kill()
                cluster.directory.remove()
                throw error
            }
        }

        func stop() {
            operatorProcess.kill9()
            cluster.kill()
            cluster.directory.remove()
        }

        /// A Snapshot of sources/app, waited for until Ready and verified OK; returns its restic id.
        func snapshot(_ name: String) async throws -> String {
            try await kubectl.apply(DemoManifests.snapshot(name: name, namespace: ns, source: "app"))
            let object = try await kubectl.waitForObject(
                "snap", name, namespace: ns, "to be Ready and verified", timeout: .seconds(180),
                rejected: { $0.phase == "Failed" ? "Failed" : nil }
            ) { $0.phase == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK" }
            return try #require(object["status"]["snapshotID"].stringValue)
        }

        /// A spec change: the Repository's backend is read at once.
        func touch(_ value: String) async throws {
            try await kubectl.succeed([
                "patch", "repo", "app-repo", "-n", ns, "--type", "merge", "-p", "{\"spec\":{\"target\":\"\(value)\"}}",
            ])
        }

        /// Waits for the Repository to be Failed with `reason`.
        @discardableResult
        func waitForFailure(_ reason: String, timeout: Duration = .seconds(120)) async throws -> JSONValue {
            try await kubectl.waitForObject(
                "repo", "app-repo", namespace: ns, "to be Failed with reason \(reason)", timeout: timeout
            ) { $0.phase == "Failed" && $0.conditionReason("Ready") == reason }
        }

        /// Waits for a Warning Event with `reason` about `name`.
        func waitForWarning(_ reason: String, about name: String) async throws {
            try await waitUntil("a Warning Event \(reason) about \(name)", timeout: .seconds(60)) {
                let events = try await kubectl.succeed(["get", "events", "-n", ns, "-o", "json"])
                let warnings = (try JSONValue.parse(events)["items"].arrayValue ?? []).filter {
                    $0["involvedObject"]["name"].stringValue == name && $0["type"].stringValue == "Warning"
                }
                return (
                    warnings.contains { $0["reason"].stringValue == reason },
                    "warnings about \(name): \(warnings.map { $0["reason"].stringValue ?? "" })"
                )
            }
        }

        /// Waits until the Snapshot says its data `id` is gone, with `reason`, and is still Ready.
        @discardableResult
        func waitForFlag(_ name: String, id: String, reason: String) async throws -> JSONValue {
            try await kubectl.waitForObject(
                "snap", name, namespace: ns, "to say its data is gone (\(reason))", timeout: .seconds(120),
                rejected: { $0.phase != "Ready" ? "left phase Ready" : nil }
            ) {
                $0["status"]["verificationStatus"].stringValue == "snapshot \(id) is no longer in the repository"
                    && $0.conditionReason("Verified") == reason
            }
        }
    }

    @Test func removedDirectoryIsLostNeverRecreatedAndOnlyTheRightIDStartsAfresh() async throws {
        let setup = try await Setup.start("lost")
        defer { setup.stop() }
        let kubectl = setup.kubectl
        let first = try await setup.snapshot("first")
        let second = try await setup.snapshot("second")
        let ready = try await kubectl.waitForObject("repo", "app-repo", namespace: setup.ns, "to record its repositoryID") {
            !$0["status"]["repositoryID"].isNull
        }
        let lostID = try #require(ready["status"]["repositoryID"].stringValue)
        let config = try await setup.restic.run(["cat", "config", "--no-lock"])
        #expect(
            (try? JSONValue.parse(config.stdout)["id"].stringValue) == lostID,
            "status.repositoryID \(lostID); restic cat config says \(config.stdout)")

        // The volume is gone (an emptyDir after a restart): the directory is removed.
        try FileManager.default.removeItem(atPath: setup.repositoryPath)
        try await setup.touch("after-loss")
        let failed = try await setup.waitForFailure("RepositoryLost")
        let message = failed["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }?["message"]
            .stringValue ?? ""
        #expect(
            message.contains("local:\(setup.repositoryPath)") && message.contains(lostID) && message.contains("2 Snapshot(s)"),
            "the message names the location, the id and the Snapshots: \(message)")
        try await setup.waitForWarning("RepositoryLost", about: "app-repo")
        #expect(
            !FileManager.default.fileExists(atPath: setup.repositoryPath),
            "the lost repository's directory was made again")
        try await setup.waitForFlag("first", id: first, reason: "RepositoryLost")
        try await setup.waitForFlag("second", id: second, reason: "RepositoryLost")
        try await setup.waitForWarning("RepositoryLost", about: "first")

        // A wrong id in the annotation is refused, with a message, and nothing is written.
        let wrong = String(repeating: "0", count: 64)
        try await kubectl.succeed(["annotate", "repo", "app-repo", "-n", setup.ns, "kubesnap.io/reinitialize=\(wrong)"])
        let refused = try await setup.waitForFailure("ReinitializeRefused")
        let refusal = refused["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }?["message"]
            .stringValue ?? ""
        #expect(refusal.contains(wrong) && refusal.contains(lostID), "\(refusal)")
        try await setup.waitForWarning("ReinitializeRefused", about: "app-repo")
        #expect(!FileManager.default.fileExists(atPath: setup.repositoryPath), "a refused reinitialisation wrote the location")

        // The right id: a new repository, its id recorded; the old Snapshots stay flagged.
        try await kubectl.succeed([
            "annotate", "--overwrite", "repo", "app-repo", "-n", setup.ns, "kubesnap.io/reinitialize=\(lostID)",
        ])
        let renewed = try await kubectl.waitForObject(
            "repo", "app-repo", namespace: setup.ns, "to be Ready with a new repositoryID"
        ) { $0.phase == "Ready" && ($0["status"]["repositoryID"].stringValue ?? lostID) != lostID }
        let newID = try #require(renewed["status"]["repositoryID"].stringValue)
        let newConfig = try await setup.restic.run(["cat", "config", "--no-lock"])
        #expect((try? JSONValue.parse(newConfig.stdout)["id"].stringValue) == newID, "\(newConfig)")
        try await setup.touch("after-reinitialize")
        try await kubectl.waitForObject("repo", "app-repo", namespace: setup.ns, "to be refreshed and Ready") {
            $0.phase == "Ready" && $0["status"]["observedGeneration"].intValue == $0["metadata"]["generation"].intValue
        }
        for (name, id) in [("first", first), ("second", second)] {
            let object = try #require(try await kubectl.get("snap", name, namespace: setup.ns))
            #expect(
                object.conditionReason("Verified") == "RepositoryLost"
                    && object["status"]["verificationStatus"].stringValue == "snapshot \(id) is no longer in the repository",
                "\(name) flipped back after the reinitialisation: \(object["status"].serialized())")
        }

        // A flagged Snapshot with policy Delete is released without error: its data is gone.
        try await kubectl.deleteAndWait("snap", "first", namespace: setup.ns, timeout: 60, log: setup.operatorProcess.log)
    }

    @Test func anotherRepositoryAtTheLocationIsReplacedAndUntouched() async throws {
        let setup = try await Setup.start("replaced")
        defer { setup.stop() }
        let id = try await setup.snapshot("only")
        try await setup.kubectl.waitForObject("repo", "app-repo", namespace: setup.ns, "to record its repositoryID") {
            !$0["status"]["repositoryID"].isNull
        }
        try FileManager.default.removeItem(atPath: setup.repositoryPath)
        let made = try await setup.restic.run(["init"])
        #expect(made.succeeded, "\(made)")
        let before = try await setup.restic.run(["cat", "config", "--no-lock"]).stdout
        try await setup.touch("after-replacement")
        let failed = try await setup.waitForFailure("RepositoryReplaced")
        let otherID = try JSONValue.parse(before)["id"].stringValue ?? "?"
        let message = failed["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }?["message"]
            .stringValue ?? ""
        #expect(message.contains(otherID), "\(message)")
        try await setup.waitForWarning("RepositoryReplaced", about: "app-repo")
        try await setup.waitForFlag("only", id: id, reason: "RepositoryLost")
        #expect(try await setup.restic.run(["cat", "config", "--no-lock"]).stdout == before)
        #expect(try await setup.restic.snapshots().isEmpty, "kubesnap wrote into the other repository")
    }

    @Test func snapshotForgottenByHandIsExactlyTheOneFlagged() async throws {
        let setup = try await Setup.start("forgotten")
        defer { setup.stop() }
        let ids = [try await setup.snapshot("one"), try await setup.snapshot("two"), try await setup.snapshot("three")]
        let forgot = try await setup.restic.run(["forget", ids[1]])
        #expect(forgot.succeeded, "\(forgot)")
        try await setup.touch("after-forget")
        try await setup.waitForFlag("two", id: ids[1], reason: "SnapshotMissing")
        try await setup.waitForWarning("SnapshotMissing", about: "two")
        let repository = try #require(try await setup.kubectl.get("repo", "app-repo", namespace: setup.ns))
        #expect(repository.phase == "Ready", "\(repository["status"].serialized())")
        for name in ["one", "three"] {
            let object = try #require(try await setup.kubectl.get("snap", name, namespace: setup.ns))
            #expect(
                object["status"]["verificationStatus"].stringValue == "OK" && object.conditionReason("Verified") != "SnapshotMissing",
                "\(name) was flagged too: \(object["status"].serialized())")
        }

        // The source is emptied (as an unmounted volume looks): backed up, with a Warning Event.
        let source = setup.cluster.sourceRoot + "/app"
        for entry in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.removeItem(atPath: source + "/" + entry)
        }
        try await setup.kubectl.apply(DemoManifests.snapshot(name: "emptied", namespace: setup.ns, source: "app"))
        try await setup.kubectl.waitForObject(
            "snap", "emptied", namespace: setup.ns, "to be Ready", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        try await setup.waitForWarning("SourceEmpty", about: "emptied")
    }

    @Test func missingRepositoryRootIsNeverCreated() async throws {
        let cluster = try await E2ECluster.start(prefix: "kubesnap-e2e-root")
        defer {
            cluster.kill()
            cluster.directory.remove()
        }
        let absent = cluster.directory.appending("unmounted/repositories")
        let operatorProcess = try KubesnapProcess.operatorProcess(
            kubeconfig: cluster.kubectl.kubeconfig, sourceRoot: cluster.sourceRoot, repositoryRoot: absent,
            cacheDir: cluster.directory.appending("cache"), logPath: cluster.directory.appending("logs/operator.log"))
        defer { operatorProcess.kill9() }
        try await cluster.kubectl.apply(DemoManifests.namespaceSecretRepository(namespace: "root", path: "root/app"))
        let failed = try await cluster.kubectl.waitForObject(
            "repo", "app-repo", namespace: "root", "to fail BackendUnreachable",
            rejected: { $0.phase == "Ready" ? "Ready" : nil }
        ) { $0.phase == "Failed" && $0.conditionReason("Ready") == "BackendUnreachable" }
        let message = failed["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }?["message"]
            .stringValue ?? ""
        #expect(message.contains("the repository root \(absent) does not exist (is its volume mounted?)"), "\(message)")
        #expect(
            !FileManager.default.fileExists(atPath: cluster.directory.appending("unmounted")),
            "the operator made the missing repository root")
    }

    @Test func emptiedS3PrefixIsLost() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-s3-loss")
        defer { directory.remove() }
        guard let s3 = try await MotoServer.start(in: directory, bucket: "kubesnap-loss") else { return }
        defer { s3.process.kill9() }
        let (endpoint, aws, awsEnvironment, bucket) = (s3.endpoint, s3.aws, s3.environment, "kubesnap-loss")
        try E2E.copyFromRepository("deploy/examples/data", to: directory.appending("data"))
        let dev = try await KubesnapProcess.dev(in: directory.path, extraArguments: ["--restic", E2E.resticPath])
        defer { dev.kill9() }
        let kubectl = Kubectl(kubeconfig: directory.appending(".kubesnap/kubeconfig"))
        let ns = "s3loss"
        try await kubectl.apply(
            S3Tests.namespaceAndS3Repository(namespace: ns, name: "app-repo", endpoint: endpoint, bucket: bucket, prefix: "loss/app"))
        try await kubectl.apply(DemoManifests.snapshot(name: "on-s3", namespace: ns, source: "data/app"))
        let snapshot = try await kubectl.waitForObject(
            "snap", "on-s3", namespace: ns, "to be Ready and verified", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK" }
        let id = try #require(snapshot["status"]["snapshotID"].stringValue)
        let ready = try await kubectl.waitForObject("repo", "app-repo", namespace: ns, "to record its repositoryID") {
            !$0["status"]["repositoryID"].isNull
        }
        let lostID = try #require(ready["status"]["repositoryID"].stringValue)

        func keys() async throws -> [String] {
            let listed = try await runCommand(
                aws, ["--endpoint-url", endpoint, "s3", "ls", "s3://\(bucket)/loss/app/", "--recursive"],
                environment: E2E.environment(awsEnvironment), timeout: .seconds(60))
            return listed.stdout.split(separator: "\n").map(String.init)
        }
        let emptied = try await runCommand(
            aws, ["--endpoint-url", endpoint, "s3", "rm", "s3://\(bucket)/loss/app/", "--recursive"],
            environment: E2E.environment(awsEnvironment), timeout: .seconds(60))
        #expect(emptied.succeeded, "\(emptied)")
        #expect(try await keys().isEmpty)
        try await kubectl.succeed(["patch", "repo", "app-repo", "-n", ns, "--type", "merge", "-p", "{\"spec\":{\"target\":\"emptied\"}}"])
        let failed = try await kubectl.waitForObject("repo", "app-repo", namespace: ns, "to be Failed with RepositoryLost") {
            $0.phase == "Failed" && $0.conditionReason("Ready") == "RepositoryLost"
        }
        let message = failed["status"]["conditions"].arrayValue?.first { $0["type"].stringValue == "Ready" }?["message"]
            .stringValue ?? ""
        #expect(message.contains(lostID), "\(message)")
        try await kubectl.waitForObject("snap", "on-s3", namespace: ns, "to be flagged RepositoryLost") {
            $0.phase == "Ready" && $0.conditionReason("Verified") == "RepositoryLost"
                && $0["status"]["verificationStatus"].stringValue == "snapshot \(id) is no longer in the repository"
        }
        let left = try await keys()
        #expect(left.isEmpty, "kubesnap wrote into the emptied prefix: \(left)")
    }
}
