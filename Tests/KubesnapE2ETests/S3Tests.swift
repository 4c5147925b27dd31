import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// A Repository on S3 (moto_server), end to end: snapshot, verify, read with the restic CLI,
/// delete; a Repository with policy Delete wiping its prefix only; and an unreachable backend
/// keeping a deleted Snapshot Terminating until the skip-data-deletion escape hatch.
@Suite struct S3Tests {
    static let accessKey = "e2e-access-key"
    static let secretKey = "e2e-secret-key"

    /// The namespace, its S3 credentials and password Secrets, and a Repository on the bucket.
    static func namespaceAndS3Repository(namespace: String, name: String, endpoint: String, bucket: String, prefix: String) -> String {
        """
        \(DemoManifests.namespaceAndSecret(namespace))
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: s3-credentials, namespace: \(namespace)}
        stringData: {AWS_ACCESS_KEY_ID: \(accessKey), AWS_SECRET_ACCESS_KEY: \(secretKey)}
        ---
        apiVersion: kubesnap.io/v1alpha1
        kind: Repository
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          backend:
            s3: {endpoint: "\(endpoint)", bucket: \(bucket), prefix: \(prefix), region: us-east-1, credentialsSecret: s3-credentials}
          encryptionSecret: {name: app-repo-password}
        """
    }

    @Test func snapshotOnS3IsReadableByResticAndDeletedWithItsObject() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-s3")
        defer { directory.remove() }
        guard let s3 = try await MotoServer.start(in: directory, bucket: "kubesnap-e2e") else { return }
        defer { s3.process.kill9() }
        let (moto, endpoint, aws, awsEnvironment, bucket) = (s3.process, s3.endpoint, s3.aws, s3.environment, "kubesnap-e2e")

        try E2E.copyFromRepository("deploy/examples/data", to: directory.appending("data"))
        let dev = try await KubesnapProcess.dev(
            in: directory.path, extraArguments: ["--restic", E2E.resticPath])
        defer { dev.kill9() }
        let kubectl = Kubectl(kubeconfig: directory.appending(".kubesnap/kubeconfig"))
        let ns = "s3"
        try await kubectl.apply(
            Self.namespaceAndS3Repository(namespace: ns, name: "s3-repo", endpoint: endpoint, bucket: bucket, prefix: "e2e/app"))
        let repository = try await kubectl.waitForObject(
            "repo", "s3-repo", namespace: ns, "to be Ready", timeout: .seconds(120),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        #expect(repository["status"]["storage"].stringValue == "s3", "\(repository["status"])")

        try await kubectl.apply(
            DemoManifests.snapshot(name: "on-s3", namespace: ns, repository: "s3-repo", source: "data/app"))
        let snapshot = try await kubectl.waitForObject(
            "snap", "on-s3", namespace: ns, "to be Ready and verified", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" && $0["status"]["verificationStatus"].stringValue == "OK" }
        let id = try #require(snapshot["status"]["snapshotID"].stringValue)

        let restic = ResticCLI(
            repository: "s3:\(endpoint)/\(bucket)/e2e/app", password: DemoManifests.password,
            extraEnvironment: awsEnvironment, cacheDir: directory.appending("restic-cache"))
        let listed = try await restic.snapshots().compactMap { $0["id"].stringValue }
        #expect(listed == [id], "restic lists \(listed) in the S3 repository; the Snapshot says \(id)")

        try await kubectl.succeed(
            ["delete", "snap", "on-s3", "-n", ns, "--timeout=120s"], timeout: .seconds(150))
        let after = try await restic.snapshots().compactMap { $0["id"].stringValue }
        #expect(
            after.isEmpty,
            "the restic snapshot is still in S3 after its Snapshot (policy Delete) was deleted: \(after)")

        // A Repository with policy Delete wipes its prefix of the bucket, and only that prefix.
        try await kubectl.apply(
            """
            apiVersion: kubesnap.io/v1alpha1
            kind: Repository
            metadata: {name: s3-wiped, namespace: \(ns)}
            spec:
              backend:
                s3: {endpoint: "\(endpoint)", bucket: \(bucket), prefix: e2e/wiped, region: us-east-1, credentialsSecret: s3-credentials}
              encryptionSecret: {name: app-repo-password}
              deletionPolicy: Delete
            """)
        try await kubectl.apply(
            DemoManifests.snapshot(name: "in-wiped", namespace: ns, repository: "s3-wiped", source: "data/app"))
        _ = try await kubectl.waitForObject(
            "snap", "in-wiped", namespace: ns, "to be Ready", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        func keys(_ prefix: String) async throws -> [String] {
            let listed = try await runCommand(
                aws, ["--endpoint-url", endpoint, "s3", "ls", "s3://\(bucket)/\(prefix)/", "--recursive"],
                environment: E2E.environment(awsEnvironment), timeout: .seconds(60))
            return listed.stdout.split(separator: "\n").map(String.init)
        }
        #expect(try await !keys("e2e/wiped").isEmpty, "the repository on e2e/wiped holds nothing")
        try await kubectl.succeed(
            ["delete", "repo", "s3-wiped", "-n", ns, "--timeout=120s"], timeout: .seconds(150))
        #expect(try await keys("e2e/wiped").isEmpty, "deleting s3-wiped (policy Delete) left objects in S3")
        #expect(
            try await keys("e2e/app").contains { $0.hasSuffix("e2e/app/config") },
            "wiping e2e/wiped touched the neighbour repository e2e/app")

        // The backend goes away: a deleted Snapshot (policy Delete) stays Terminating with phase
        // Deleting, a condition and a Warning Event that say why; data is never dropped silently.
        try await kubectl.apply(
            DemoManifests.snapshot(name: "stranded", namespace: ns, repository: "s3-repo", source: "data/app"))
        _ = try await kubectl.waitForObject(
            "snap", "stranded", namespace: ns, "to be Ready", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        moto.kill9()
        try await kubectl.succeed(["delete", "snap", "stranded", "-n", ns, "--wait=false"])
        let blocked = try await kubectl.waitForObject(
            "snap", "stranded", namespace: ns, "to stay Terminating with phase Deleting and a reason",
            timeout: .seconds(180)
        ) {
            !$0["metadata"]["deletionTimestamp"].isNull && $0.phase == "Deleting"
                && ($0["status"]["conditions"].arrayValue ?? []).contains {
                    $0["type"].stringValue == "Ready" && $0["status"].stringValue == "False"
                }
        }
        let reason = blocked.conditionReason("Ready")
        try await waitUntil("a Warning Event about the blocked deletion", timeout: .seconds(60)) {
            let events = try await kubectl.succeed(["get", "events", "-n", ns, "-o", "json"])
            let warnings = (try JSONValue.parse(events)["items"].arrayValue ?? []).filter {
                $0["involvedObject"]["name"].stringValue == "stranded" && $0["type"].stringValue == "Warning"
            }
            return (
                warnings.contains { $0["reason"].stringValue == reason },
                "warnings: \(warnings.map { $0["reason"].stringValue ?? "" }), condition reason \(reason)"
            )
        }
        #expect(
            (blocked["metadata"]["finalizers"].arrayValue ?? []).contains("kubesnap.io/finalizer"),
            "\(blocked["metadata"])")

        // The documented way out: release it without touching data.
        try await kubectl.succeed([
            "annotate", "snap", "stranded", "-n", ns, "kubesnap.io/skip-data-deletion=true",
        ])
        try await waitUntil("the stranded Snapshot to be released", timeout: .seconds(120)) {
            let object = try await kubectl.get("snap", "stranded", namespace: ns)
            return (object == nil, "still there: phase \(object?.phase ?? "-")")
        }
    }
}

/// A private moto_server (S3) on a free loopback port, with one bucket made.
struct MotoServer {
    let process: ChildProcess
    let endpoint: String
    /// The aws CLI, and the environment it and restic use against this server.
    let aws: String
    let environment: [String: String]

    /// nil, with an Issue recorded, when moto_server or aws is not on PATH.
    static func start(in directory: TemporaryDirectory, bucket: String) async throws -> MotoServer? {
        guard let motoServer = E2E.which("moto_server"), let aws = E2E.which("aws") else {
            Issue.record("moto_server and aws must be on PATH (make test-deps installs them)")
            return nil
        }
        let environment = [
            "AWS_ACCESS_KEY_ID": S3Tests.accessKey, "AWS_SECRET_ACCESS_KEY": S3Tests.secretKey,
            "AWS_DEFAULT_REGION": "us-east-1",
        ]
        let port = try freeTCPPort()
        let endpoint = "http://127.0.0.1:\(port)"
        let moto = try ChildProcess(
            motoServer, ["-H", "127.0.0.1", "-p", String(port)], environment: E2E.environment(environment),
            directory: directory.path, logPath: directory.appending("moto.log"))
        do {
            try await waitUntil(
                "moto_server to answer and the bucket to be made", timeout: .seconds(60), poll: .milliseconds(300)
            ) {
                if !moto.isRunning { throw E2EError("moto_server exited: \(moto.log)") }
                let made = try await runCommand(
                    aws, ["--endpoint-url", endpoint, "s3", "mb", "s3://\(bucket)"],
                    environment: E2E.environment(environment), timeout: .seconds(30))
                return (made.succeeded || made.stderr.contains("BucketAlreadyOwnedByYou"), made.stderr)
            }
        } catch {
            moto.kill9()
            throw error
        }
        return MotoServer(process: moto, endpoint: endpoint, aws: aws, environment: environment)
    }
}
