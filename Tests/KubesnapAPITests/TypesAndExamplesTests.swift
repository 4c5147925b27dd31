import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubesnapAPI

@Suite struct OpenEnumTests {
    @Test func unknownStringsDecodeAndRoundTrip() throws {
        let spec = try JSONValue.parse(#"{"repository":"r","source":{"path":"/x"},"deletionPolicy":"Shred"}"#)
            .decode(SnapshotSpec.self)
        #expect(spec.deletionPolicy == .unknown("Shred"))
        #expect(spec.deletionPolicy?.deletesData == false)
        #expect(spec.validationErrors().contains { $0.hasPrefix("spec.deletionPolicy: Unsupported value") })
        #expect(try JSONValue(encoding: spec)["deletionPolicy"] == "Shred")
        let status = try JSONValue.parse(#"{"phase":"Hibernating"}"#).decode(SnapshotStatus.self)
        #expect(status.phase == .unknown("Hibernating"))
        #expect(DeletionPolicy(rawValue: "Delete") == .delete && DeletionPolicy.delete.deletesData)
        #expect(RepositoryPhase(rawValue: "Deleting") == .deleting)
        #expect(BackupSessionPhase(rawValue: "Ready").isKnown)
    }

    @Test func everyKnownValueParsesToItselfAndCaseMatters() {
        func check<E: OpenStringEnum>(_: E.Type) {
            for value in E.knownValues {
                #expect(E(rawValue: value.rawValue) == value && value.isKnown, "\(E.self).\(value)")
                let shouted = value.rawValue.uppercased()
                #expect(!E(rawValue: shouted).isKnown, "\(E.self): \(shouted) is not \(value)")
                #expect(E(rawValue: shouted).rawValue == shouted)
            }
            #expect(Set(E.knownValues.map(\.rawValue)).count == E.knownValues.count, "\(E.self) spells two cases alike")
        }
        check(DeletionPolicy.self)
        check(RepositoryPhase.self)
        check(SnapshotPhase.self)
        check(BackupSessionPhase.self)
        check(StorageType.self)
    }

    @Test func effectiveDeletionPolicies() {
        #expect(SnapshotSpec(repository: "r", source: SnapshotSource(path: "/x")).effectiveDeletionPolicy == .delete)
        #expect(SnapshotSpec(repository: "r", snapshotID: "4f1c2a9e").effectiveDeletionPolicy == .retain)
        #expect(SnapshotSpec(repository: "r", snapshotID: "4f1c2a9e", deletionPolicy: .delete).effectiveDeletionPolicy == .delete)
        let repositorySpec = RepositorySpec(
            backend: RepositoryBackend(local: LocalBackend(path: "x")), encryptionSecret: SecretKeySelector(name: "s"))
        #expect(repositorySpec.effectiveDeletionPolicy == .retain)
        #expect(repositorySpec.encryptionSecret.effectiveKey == "password")
    }

    @Test func sessionSummaries() {
        let snapshots = [
            BackupSessionSnapshot(name: "a", repository: "a", phase: .ready),
            BackupSessionSnapshot(name: "b", repository: "b", phase: .running),
        ]
        #expect(BackupSessionStatus.summary(of: snapshots) == "1/2")
        #expect(BackupSessionStatus.formatDuration(seconds: 92) == "1m32s")
        #expect(BackupSessionStatus.formatDuration(seconds: 45) == "45s")
        #expect(BackupSessionStatus.formatDuration(seconds: 7380) == "2h3m")
        #expect(BackupSession.snapshotName(session: "nightly", repository: "app-repo") == "nightly-app-repo")
    }

    @Test func constantsOfTheContract() {
        #expect(Kubesnap.finalizer == "kubesnap.io/finalizer")
        #expect(Kubesnap.Label.repository == "kubesnap.io/repository")
        #expect(Kubesnap.Label.invokerKind == "kubesnap.io/invoker-kind")
        #expect(Kubesnap.Label.invokerName == "kubesnap.io/invoker-name")
        #expect(Kubesnap.Annotation.verifyRequested == "kubesnap.io/verify-requested")
        #expect(Kubesnap.Annotation.skipDataDeletion == "kubesnap.io/skip-data-deletion")
        #expect(Repository.apiResource.apiVersion == "kubesnap.io/v1alpha1")
        #expect(
            Snapshot.names.shortNames == ["snap"] && BackupSession.names.shortNames == ["bs"]
                && Repository.names.shortNames == ["repo"])
    }
}

@Suite struct ExampleManifestTests {
    private func documents(_ file: String) throws -> [JSONValue] {
        try YAML.parseAll(try String(contentsOfFile: repositoryRoot + "/deploy/examples/" + file, encoding: .utf8))
    }

    @Test func examplesDecodeAndFitTheSchemas() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/deploy/examples")
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("05-static-snapshot.yaml") && files.contains("bad-snapshot.yaml"))
        let schemas = [
            "Repository": try schema(of: try loadCRD("repositories.yaml")),
            "Snapshot": try schema(of: try loadCRD("snapshots.yaml")),
            "BackupSession": try schema(of: try loadCRD("backupsessions.yaml")),
            "BackupSchedule": try schema(of: try loadCRD("backupschedules.yaml")),
        ]
        var kinds: [String: Int] = [:]
        for file in files {
            for document in try documents(file) {
                let kind = document["kind"].stringValue ?? ""
                kinds[kind, default: 0] += 1
                guard let crdSchema = schemas[kind] else { continue }
                #expect(document["apiVersion"] == "kubesnap.io/v1alpha1", "\(file)")
                #expect(document.namespace == "demo", "\(file)")
                var comparison = SchemaComparison()
                comparison.check(json: document, schema: crdSchema, path: "")
                #expect(comparison.problems.isEmpty, "\(file): \(comparison.problems)")
                let errors: [String]
                switch kind {
                case "Repository": errors = try document.decode(Repository.self).spec.validationErrors()
                case "Snapshot": errors = try document.decode(Snapshot.self).spec.validationErrors()
                case "BackupSchedule": errors = try document.decode(BackupSchedule.self).spec.validationErrors()
                default: errors = try document.decode(BackupSession.self).spec.validationErrors()
                }
                if file == "bad-snapshot.yaml" {
                    #expect(errors == ["spec: exactly one of spec.source and spec.snapshotID must be set"])
                } else {
                    #expect(errors.isEmpty, "\(file): \(errors)")
                }
            }
        }
        #expect(kinds["Namespace"] == 1 && kinds["Secret"] == 1)
        #expect(kinds["Repository"] == 2 && kinds["BackupSession"] == 1 && kinds["Snapshot"] == 3)
        #expect(kinds["BackupSchedule"] == 1)
    }

    @Test func examplePathsWorkFromTheRepositoryRoot() throws {
        let snapshot = try #require(try documents("03-snapshot.yaml").first).decode(Snapshot.self)
        let sourceRoot = try PathConfinement(root: repositoryRoot, rootName: "source root")
        let source = try sourceRoot.confine(try #require(snapshot.spec.source?.path), field: "spec.source.path")
        #expect(source.exists)
        let files = try FileManager.default.subpathsOfDirectory(atPath: source.resolvedPath)
        #expect(files.count >= 3)

        let session = try #require(try documents("04-backupsession.yaml").first).decode(BackupSession.self)
        #expect(session.spec.source.path == snapshot.spec.source?.path)
        #expect(session.spec.repositories == ["app-repo", "offsite-repo"])

        let repository = try #require(try documents("02-repository.yaml").first).decode(Repository.self)
        #expect(repository.spec.backend.local?.path == "demo/app")
        let secret = try #require(try documents("01-secret.yaml").first)
        #expect(secret["stringData"][repository.spec.encryptionSecret.effectiveKey].stringValue?.isEmpty == false)
    }
}

@Suite struct PathConfinementTests {
    @Test func relativeAbsoluteAndSymlinkedPaths() throws {
        let directory = try TemporaryDirectory(prefix: "confine")
        defer { directory.remove() }
        let root = directory.appending("data")
        try directory.write("data/app/file.txt", "x")
        try directory.write("outside/secret.txt", "x")
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: directory.appending("outside"))
        try FileManager.default.createSymbolicLink(atPath: root + "/inner", withDestinationPath: root + "/app")
        try FileManager.default.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: directory.appending("outside/new"))
        let confinement = try PathConfinement(root: root, rootName: "source root")

        #expect(try confinement.confine("app", field: "spec.source.path") == ConfinedPath(resolvedPath: root + "/app", exists: true))
        #expect(try confinement.confine(root + "/app/", field: "f").resolvedPath == root + "/app")
        #expect(try confinement.confine("inner", field: "f").resolvedPath == root + "/app")
        #expect(try confinement.confine(".", field: "f").resolvedPath == root)
        // A repository path that does not exist yet resolves through its deepest existing ancestor.
        #expect(
            try confinement.confine("app/new/deeper", field: "f")
                == ConfinedPath(resolvedPath: root + "/app/new/deeper", exists: false))
        #expect(try confinement.confine("inner/new", field: "f").resolvedPath == root + "/app/new")

        #expect {
            try confinement.confine("/etc", field: "spec.source.path")
        } throws: { error in
            (error as? PathConfinementError)?.message
                == "spec.source.path \"/etc\" resolves outside the source root \"\(root)\""
        }
        for escaping in ["escape", "escape/secret.txt", "../outside", "app/../../outside", "escape/not-yet", "dangling", "dangling/x", "app/nope/../../.."] {
            #expect(throws: PathConfinementError.self, "\(escaping)") {
                try confinement.confine(escaping, field: "spec.backend.local.path")
            }
        }
        #expect(throws: PathConfinementError.self) { try confinement.confine("", field: "spec.source.path") }
        #expect(throws: PathConfinementError.self) { try PathConfinement(root: "relative", rootName: "source root") }
        // A root given through a symlink still confines by its real path.
        try FileManager.default.createSymbolicLink(atPath: directory.appending("link-to-data"), withDestinationPath: root)
        let viaLink = try PathConfinement(root: directory.appending("link-to-data"), rootName: "repository root")
        #expect(try viaLink.confine("app", field: "f").resolvedPath == root + "/app")
        #expect(throws: PathConfinementError.self) { try viaLink.confine("escape", field: "f") }
    }
}
