import Foundation
import KubeClient
import KubeJSON
import Testing

@testable import KubesnapAPI

/// Fully populated samples: every optional set, every array non-empty, so that the comparison
/// reaches every field. (Semantically they are nonsense: both backends, both source and id.)
enum Samples {
    static let condition = Condition(
        type: "Ready", status: "True", observedGeneration: 1, lastTransitionTime: "2026-11-22T10:00:00Z",
        reason: "Ready", message: "ok")

    static var repository: Repository {
        var status = RepositoryStatus()
        status.phase = .ready
        status.storage = .local
        status.backendURL = "local:/srv/repositories/demo/app"
        status.sizeBytes = 2_961_152
        status.size = "2.8 MiB"
        status.snapshotCount = 2
        status.repositoryID = "5b6b1f5e0e3c4a3c9d0f2a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f70819"
        status.verificationStatus = "OK"
        status.lastVerifiedTime = "2026-11-22T10:00:00Z"
        status.observedGeneration = 1
        status.conditions = [condition]
        return Repository(
            metadata: ObjectMeta(name: "app-repo", namespace: "demo"),
            spec: RepositorySpec(
                backend: RepositoryBackend(
                    local: LocalBackend(path: "demo/app"),
                    s3: S3Backend(
                        endpoint: "http://127.0.0.1:9000", bucket: "backups", prefix: "demo/app", region: "us-east-1",
                        credentialsSecret: "s3-credentials")),
                encryptionSecret: SecretKeySelector(name: "app-repo-password", key: "password"),
                target: "Directory /data/app", deletionPolicy: .retain),
            status: status)
    }

    static var snapshot: Snapshot {
        var status = SnapshotStatus()
        status.phase = .ready
        status.snapshotID = String(repeating: "4f", count: 32)
        status.backendRepository = "local:/srv/repositories/demo/app"
        status.snapshotTime = "2026-11-22T10:00:00Z"
        status.sizeBytes = 1_482_752
        status.fileCount = 42
        status.verificationStatus = "OK"
        status.lastVerifiedTime = "2026-11-22T10:00:00Z"
        status.lastVerifyRequest = "1"
        status.deletionPolicy = "Delete"
        status.observedGeneration = 1
        status.conditions = [condition]
        return Snapshot(
            metadata: ObjectMeta(name: "before-migration", namespace: "demo"),
            spec: SnapshotSpec(
                repository: "app-repo", source: SnapshotSource(path: "/data/app"), snapshotID: "4f1c2a9e",
                deletionPolicy: .delete, description: "Before schema migration",
                invoker: Invoker(kind: "BackupSession", name: "nightly")),
            status: status)
    }

    static var backupSession: BackupSession {
        var status = BackupSessionStatus()
        status.phase = .running
        status.snapshots = [BackupSessionSnapshot(name: "nightly-app-repo", repository: "app-repo", phase: .ready)]
        status.snapshotsSummary = "1/1"
        status.startTime = "2026-11-22T10:00:00Z"
        status.completionTime = "2026-11-22T10:01:32Z"
        status.duration = "1m32s"
        status.observedGeneration = 1
        status.conditions = [condition]
        return BackupSession(
            metadata: ObjectMeta(name: "nightly", namespace: "demo"),
            spec: BackupSessionSpec(
                source: SnapshotSource(path: "/data/app"), repositories: ["app-repo"], deletionPolicy: .delete),
            status: status)
    }

    static var restoreSession: RestoreSession {
        var status = RestoreSessionStatus()
        status.phase = .succeeded
        status.snapshotID = "ad85f6c3"
        status.target = "/data/app"
        status.preRestoreSnapshot = "undo-migration-pre-restore"
        status.restoredFiles = 42
        status.restoredBytes = 1_482_752
        status.verificationStatus = "OK"
        status.startTime = "2026-11-22T10:00:00Z"
        status.completionTime = "2026-11-22T10:01:32Z"
        status.duration = "1m32s"
        status.observedGeneration = 1
        status.conditions = [condition]
        return RestoreSession(
            metadata: ObjectMeta(name: "undo-migration", namespace: "demo"),
            spec: RestoreSessionSpec(
                snapshot: "before-migration", target: RestoreTarget(path: "data/app"), preRestoreSnapshot: true),
            status: status)
    }
}

extension Samples {
    static var backupSchedule: BackupSchedule {
        var status = BackupScheduleStatus()
        status.lastScheduleTime = "2026-12-06T01:00:00Z"
        status.nextScheduleTime = "2026-12-07T01:00:00Z"
        status.lastSuccessfulTime = "2026-12-06T01:01:32Z"
        status.lastSession = "nightly-20261206-010000"
        status.active = ["nightly-20261206-010000"]
        status.missedRuns = 1
        var retention = RetentionStatus()
        retention.lastAppliedTime = "2026-12-06T01:01:33Z"
        retention.kept = 12
        retention.deleted = 3
        retention.wouldDelete = ["nightly-20261101-010000-app-repo"]
        status.retention = retention
        status.observedGeneration = 1
        status.conditions = [condition]
        return BackupSchedule(
            metadata: ObjectMeta(name: "nightly", namespace: "demo"),
            spec: BackupScheduleSpec(
                schedule: "0 2 * * *", timeZone: "Europe/Berlin", source: SnapshotSource(path: "data/app"),
                repositories: ["app-repo", "offsite-repo"], deletionPolicy: .delete, suspend: false,
                startingDeadlineSeconds: 3600,
                retention: RetentionSpec(
                    keepLast: 7, keepHourly: 0, keepDaily: 7, keepWeekly: 4, keepMonthly: 6, keepYearly: 0, maxAge: "90d",
                    keepFailed: 1, dryRun: false)),
            status: status)
    }
}

@Suite struct CRDDriftTests {
    static let kinds: [(file: String, sample: any KubeResource, names: CRDNames)] = [
        ("repositories.yaml", Samples.repository, Repository.names),
        ("snapshots.yaml", Samples.snapshot, Snapshot.names),
        ("backupsessions.yaml", Samples.backupSession, BackupSession.names),
        ("restoresessions.yaml", Samples.restoreSession, RestoreSession.names),
        ("backupschedules.yaml", Samples.backupSchedule, BackupSchedule.names),
    ]

    @Test(arguments: [0, 1, 2, 3, 4])
    func swiftTypesAndSchemaCannotDrift(index: Int) throws {
        let (file, sample, _) = Self.kinds[index]
        let crdSchema = try schema(of: try loadCRD(file))
        var comparison = SchemaComparison()
        comparison.compare(swift: sample, schema: crdSchema, path: "")
        // What the Codable types actually write must fit the schema too (catches CodingKeys).
        let encoded = try JSONValue(encoding: sample)
        comparison.check(json: encoded, schema: crdSchema, path: "")
        #expect(comparison.problems.isEmpty, "\(file):\n\(comparison.problems.joined(separator: "\n"))")
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func crdNamesMatchTheSwiftTypes(index: Int) throws {
        let (file, sample, type) = Self.kinds[index]
        #expect(Swift.type(of: sample).apiResource == type.apiResource)
        let crd = try loadCRD(file)
        #expect(crd["apiVersion"] == "apiextensions.k8s.io/v1")
        #expect(crd["kind"] == "CustomResourceDefinition")
        #expect(crd.name == type.crdName)
        #expect(file == "\(type.plural).yaml")
        let spec = crd["spec"]
        #expect(spec["group"] == .string(Kubesnap.group))
        #expect(spec["scope"] == "Namespaced")
        #expect(spec["names"]["kind"] == .string(type.kind))
        #expect(spec["names"]["plural"] == .string(type.plural))
        #expect(spec["names"]["singular"] == .string(type.singular))
        #expect(spec["names"]["shortNames"] == .array(type.shortNames.map { .string($0) }))
        #expect(spec["names"]["categories"] == ["kubesnap"])
        let version = spec["versions"][0]
        #expect(version["name"] == .string(Kubesnap.version))
        #expect(version["served"] == true && version["storage"] == true)
        #expect(version["subresources"]["status"] == .emptyObject)
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func everySchemaFieldHasADescription(index: Int) throws {
        let file = Self.kinds[index].file
        var missing: [String] = []
        func walk(_ schema: JSONValue, _ path: String) {
            if (schema["description"].stringValue ?? "").isEmpty { missing.append(path.isEmpty ? "<root>" : path) }
            for (name, child) in (schema["properties"].objectValue ?? [:]) {
                walk(child, path.isEmpty ? name : "\(path).\(name)")
            }
            if !schema["items"].isNull { walk(schema["items"], path + "[]") }
        }
        walk(try schema(of: try loadCRD(file)), "")
        #expect(missing.isEmpty, "\(file): fields without a description: \(missing.sorted())")
    }

    /// The printer columns API.md lists (Name is automatic; kubectl adds Namespace with -A).
    @Test func printerColumnsAreThoseOfTheContract() throws {
        let expected: [String: [(String, String, String)]] = [
            "repositories.yaml": [
                ("BackupStorage", "string", ".status.storage"), ("Size", "string", ".status.size"),
                ("Target", "string", ".spec.target"), ("Snapshots", "integer", ".status.snapshotCount"),
                ("Status", "string", ".status.phase"), ("Age", "date", ".metadata.creationTimestamp"),
            ],
            "snapshots.yaml": [
                ("Repository", "string", ".spec.repository"), ("Invoker Kind", "string", ".spec.invoker.kind"),
                ("Invoker Name", "string", ".spec.invoker.name"),
                ("Backend Repository", "string", ".status.backendRepository"),
                ("Creation Timestamp", "string", ".metadata.creationTimestamp"),
                ("Deletion Policy", "string", ".status.deletionPolicy"), ("Phase", "string", ".status.phase"),
                ("Verification Status", "string", ".status.verificationStatus"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
            "backupsessions.yaml": [
                ("Repositories", "string", ".spec.repositories"), ("Phase", "string", ".status.phase"),
                ("Snapshots", "string", ".status.snapshotsSummary"), ("Duration", "string", ".status.duration"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
            "restoresessions.yaml": [
                ("Snapshot", "string", ".spec.snapshot"), ("Target", "string", ".status.target"),
                ("Pre-Restore Snapshot", "string", ".status.preRestoreSnapshot"), ("Phase", "string", ".status.phase"),
                ("Verification Status", "string", ".status.verificationStatus"), ("Duration", "string", ".status.duration"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
            "backupschedules.yaml": [
                ("Schedule", "string", ".spec.schedule"), ("Time Zone", "string", ".spec.timeZone"),
                ("Suspend", "boolean", ".spec.suspend"), ("Last Schedule", "date", ".status.lastScheduleTime"),
                ("Next Schedule", "string", ".status.nextScheduleTime"),
                ("Last Successful", "date", ".status.lastSuccessfulTime"), ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ]
        for (file, columns) in expected {
            let actual = (try loadCRD(file)["spec"]["versions"][0]["additionalPrinterColumns"].arrayValue ?? []).map {
                ($0["name"].stringValue ?? "", $0["type"].stringValue ?? "", $0["jsonPath"].stringValue ?? "")
            }
            #expect(actual.map(\.0) == columns.map(\.0), "\(file)")
            #expect(actual.map(\.1) == columns.map(\.1), "\(file)")
            #expect(actual.map(\.2) == columns.map(\.2), "\(file)")
        }
    }

    /// Validation rules stay inside the CEL subset the built-in API server implements:
    /// has(), !, &&, ||, ==, !=, <=, ? :, + on ints, size().
    @Test func validationRulesUseTheSupportedCELSubset() throws {
        var rules: [(String, String)] = []
        func walk(_ schema: JSONValue, _ path: String) {
            for rule in schema["x-kubernetes-validations"].arrayValue ?? [] {
                rules.append((path, rule["rule"].stringValue ?? ""))
                #expect(!(rule["message"].stringValue ?? "").isEmpty, "\(path): a rule without a message")
            }
            for (name, child) in schema["properties"].objectValue ?? [:] { walk(child, "\(path).\(name)") }
            if !schema["items"].isNull { walk(schema["items"], path + "[]") }
        }
        for file in [
            "repositories.yaml", "snapshots.yaml", "backupsessions.yaml", "restoresessions.yaml", "backupschedules.yaml",
        ] {
            walk(try schema(of: try loadCRD(file)), file)
        }
        #expect(rules.count == 11)
        let call = try Regex(#"([A-Za-z_][A-Za-z0-9_]*)\s*\("#)
        for (path, rule) in rules {
            for match in rule.matches(of: call) {
                let name = String(rule[match.range]).dropLast().trimmingCharacters(in: .whitespaces)
                #expect(["has", "size"].contains(name), "\(path): \(rule) calls \(name)()")
            }
            // One comparison only, the schedule's name length (`size(self.metadata.name) <= 47`).
            let comparisonAllowed = rule == "size(self.metadata.name) <= 47"
            for token in [" in ", "[", "matches", ".all", ".exists", "*", "/", "%", "<", ">"]
            where !(comparisonAllowed && token == "<") {
                #expect(!rule.contains(token), "\(path): \(rule) uses \(token)")
            }
        }
    }
}

@Suite struct SchemaComparisonCatchesDrift {
    @Test func aFieldMissingOnEitherSideIsReported() throws {
        var crdSchema = try schema(of: try loadCRD("snapshots.yaml"))
        // Drop a Swift field from the schema, and add a schema field Swift does not have.
        crdSchema[path: ["properties", "status", "properties", "fileCount"]] = .null
        if case .object(var properties) = crdSchema[path: ["properties", "status", "properties"]] {
            properties["fileCount"] = nil
            properties["extra"] = ["type": "string", "description": "x"]
            crdSchema[path: ["properties", "status", "properties"]] = .object(properties)
        }
        crdSchema[path: ["properties", "spec", "properties", "deletionPolicy", "enum"]] = ["Delete"]
        crdSchema[path: ["properties", "status", "properties", "sizeBytes", "type"]] = "string"
        var comparison = SchemaComparison()
        comparison.compare(swift: Samples.snapshot, schema: crdSchema, path: "")
        let problems = comparison.problems.joined(separator: "\n")
        #expect(problems.contains("status.fileCount: a Swift property missing from the schema"), "\(problems)")
        #expect(problems.contains("status.extra: in the schema but not a Swift property"), "\(problems)")
        #expect(problems.contains("spec.deletionPolicy: Swift knows"), "\(problems)")
        #expect(problems.contains("status.sizeBytes: schema type string"), "\(problems)")

        var incomplete = Samples.snapshot
        incomplete.status?.conditions = []
        var second = SchemaComparison()
        second.compare(swift: incomplete, schema: try schema(of: try loadCRD("snapshots.yaml")), path: "")
        #expect(second.problems.contains { $0.contains("status.conditions: the sample array is empty") })
    }
}
