import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// Every shipped manifest is accepted by `kubesnap dev` through kubectl; the bad example is
/// rejected with the field named.
@Suite struct ManifestTests {
    @Test func everyShippedManifestIsAcceptedAndTheBadOneRejected() async throws {
        let directory = try TemporaryDirectory(prefix: "kubesnap-e2e-manifests")
        defer { directory.remove() }
        try E2E.copyFromRepository("deploy", to: directory.appending("deploy"))
        try E2E.copyFromRepository("crds", to: directory.appending("crds"))
        let dev = try await KubesnapProcess.dev(
            in: directory.path, extraArguments: ["--restic", E2E.resticPath])
        defer { dev.kill9() }
        let kubectl = Kubectl(
            kubeconfig: directory.appending(".kubesnap/kubeconfig"), directory: directory.path)

        let fileManager = FileManager.default
        func yamlFiles(_ relative: String) throws -> [String] {
            try fileManager.contentsOfDirectory(atPath: directory.appending(relative))
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(relative)/\($0)" }
        }
        // The namespaces first (the Deployment and examples live in them), then everything else.
        let deployFiles = try yamlFiles("deploy").filter { !$0.hasSuffix("/kustomization.yaml") }
        let exampleFiles = try yamlFiles("deploy/examples").filter { !$0.hasSuffix("/bad-snapshot.yaml") }
        #expect(
            deployFiles.contains("deploy/clusterrole.yaml")
                && exampleFiles.contains("deploy/examples/03-snapshot.yaml"))
        let ordered =
            deployFiles.filter { $0.hasSuffix("namespace.yaml") }
            + exampleFiles.filter { $0.hasSuffix("namespace.yaml") }
            + deployFiles.filter { !$0.hasSuffix("namespace.yaml") }
            + exampleFiles.filter { !$0.hasSuffix("namespace.yaml") }
        var rejected: [String] = []
        for file in ordered {
            let result = try await kubectl.run(["apply", "-f", file])
            if !result.succeeded {
                rejected.append("\(file): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        #expect(rejected.isEmpty, "manifests rejected:\n\(rejected.joined(separator: "\n"))")

        // The kustomization (CRDs from ../crds included), applied over what is there.
        let kustomized = try await kubectl.run(["apply", "-k", "deploy/"])
        #expect(kustomized.succeeded, "kubectl apply -k deploy/: \(kustomized)")
        for object in [
            "customresourcedefinition.apiextensions.k8s.io/snapshots.kubesnap.io",
            "customresourcedefinition.apiextensions.k8s.io/repositories.kubesnap.io",
            "customresourcedefinition.apiextensions.k8s.io/backupsessions.kubesnap.io",
            "customresourcedefinition.apiextensions.k8s.io/backupschedules.kubesnap.io",
            "customresourcedefinition.apiextensions.k8s.io/restoresessions.kubesnap.io",
            "clusterrole.rbac.authorization.k8s.io/kubesnap-operator", "namespace/kubesnap-system",
            "deployment.apps/kubesnap-operator",
        ] {
            #expect(
                kustomized.stdout.contains(object),
                "kubectl apply -k deploy/ did not apply \(object): \(kustomized.stdout)")
        }
        let deployment = try await kubectl.run(["get", "deployment", "-n", "kubesnap-system", "-o", "name"])
        #expect(
            deployment.succeeded && !deployment.stdout.isEmpty,
            "no Deployment in kubesnap-system: \(deployment)")

        // The examples the operator can act on do what they say.
        try await kubectl.waitForObject("repo", "app-repo", namespace: "demo", "to be Ready") {
            $0.phase == "Ready"
        }
        try await kubectl.waitForObject(
            "snap", "before-migration", namespace: "demo", "to be Ready", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed" : nil }
        ) { $0.phase == "Ready" }
        // 06-restoresession.yaml restores before-migration over its source (once it is Ready).
        try await kubectl.waitForObject(
            "rst", "undo-migration", namespace: "demo", "to be Succeeded", timeout: .seconds(180),
            rejected: { $0.phase == "Failed" ? "Failed (\($0.conditionReason("Completed")))" : nil }
        ) { $0.phase == "Succeeded" }
        // The placeholder id of 05-static-snapshot.yaml is not in the repository.
        try await kubectl.waitForObject("snap", "adopted", namespace: "demo", "to fail with SnapshotNotFound")
        {
            $0.phase == "Failed" && $0.conditionReason("Ready") == "SnapshotNotFound"
        }

        let bad = try await kubectl.run(["apply", "-f", "deploy/examples/bad-snapshot.yaml"])
        #expect(!bad.succeeded, "bad-snapshot.yaml was accepted: \(bad)")
        #expect(bad.stderr.contains("spec"), "the rejection does not name the field: \(bad.stderr)")
        #expect(
            bad.stderr.contains("source") && bad.stderr.contains("snapshotID"),
            "the rejection does not say which fields conflict: \(bad.stderr)")
        #expect(try await kubectl.get("snap", "bad", namespace: "demo") == nil)
    }
}
