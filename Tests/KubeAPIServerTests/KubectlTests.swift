import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// The server driven by the real kubectl 1.32 through the kubeconfig it writes.
@Suite("kubectl against the built-in API server")
struct KubectlTests {
    static let crd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.test.kubesnap.io
        spec:
          group: test.kubesnap.io
          scope: Namespaced
          names:
            plural: widgets
            singular: widget
            kind: Widget
            shortNames: [wdg]
            categories: [gadgets]
          versions:
          - name: v1
            served: true
            storage: true
            subresources:
              status: {}
            additionalPrinterColumns:
            - name: Color
              type: string
              jsonPath: .spec.color
            - name: Size
              type: integer
              jsonPath: .spec.size
              priority: 1
            - name: Phase
              type: string
              jsonPath: .status.phase
            - name: Age
              type: date
              jsonPath: .metadata.creationTimestamp
            schema:
              openAPIV3Schema:
                type: object
                description: A Widget is a thing made for tests.
                properties:
                  spec:
                    type: object
                    description: What the widget should be.
                    required: [color]
                    properties:
                      color:
                        type: string
                        description: The color the widget is painted.
                        enum: [red, green, blue]
                      size:
                        type: integer
                        description: How big the widget is.
                        default: 1
                        minimum: 1
                  status:
                    type: object
                    properties:
                      phase:
                        type: string
        """

    static func widget(_ name: String, namespace: String = "default", color: String = "red", labels: String = "tier: a", extra: String = "") -> String {
        """
        apiVersion: test.kubesnap.io/v1
        kind: Widget
        metadata:
          name: \(name)
          namespace: \(namespace)
          labels:
            \(labels)
        spec:
          color: \(color)
        \(extra)
        """
    }

    /// A server with the Widget CRD applied and established.
    static func serverWithCRD() async throws -> TestAPIServer {
        let server = try await TestAPIServer.start()
        do {
            let path = try server.directory.write("crd.yaml", crd)
            let applied = try await kubectl(server, ["apply", "-f", path])
            try #require(applied.succeeded, "\(applied)")
            #expect(applied.stdout.contains("customresourcedefinition.apiextensions.k8s.io/widgets.test.kubesnap.io created"), "\(applied)")
            let established = try await kubectl(server, ["wait", "--for", "condition=established", "--timeout=30s", "crd/widgets.test.kubesnap.io"])
            try #require(established.succeeded, "\(established)")
        } catch {
            await server.stop()
            throw error
        }
        return server
    }

    @Test func apiResourcesAndDiscovery() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let resources = try await kubectl(server, ["api-resources"])
        #expect(resources.succeeded, "\(resources)")
        for needle in ["widgets", "wdg", "test.kubesnap.io/v1", "configmaps", "leases", "customresourcedefinitions", "deployments"] {
            #expect(resources.stdout.contains(needle), "api-resources lacks \(needle): \(resources.stdout)")
        }
        let changed = try server.directory.write("crd2.yaml", Self.crd.replacingOccurrences(of: "shortNames: [wdg]", with: "shortNames: [wdg, wd]"))
        let reapplied = try await kubectl(server, ["apply", "-f", changed])
        #expect(reapplied.succeeded && reapplied.stdout.contains("configured"), "\(reapplied)")
        let byNewShortName = try await kubectl(server, ["get", "wd", "-A"])
        #expect(byNewShortName.succeeded, "\(byNewShortName)")
        let byCategory = try await kubectl(server, ["get", "gadgets", "-A"])
        #expect(byCategory.succeeded, "\(byCategory)")
        let raw = try await kubectl(server, ["get", "--raw", "/apis/test.kubesnap.io/v1"])
        let list = try JSONValue.parse(raw.stdout)
        let names = (list["resources"].arrayValue ?? []).compactMap { $0["name"].stringValue }
        #expect(names.contains("widgets") && names.contains("widgets/status"), "\(names)")
        let v2 = try await kubectl(server, ["get", "--raw", "/openapi/v2"])
        #expect(v2.succeeded && v2.stdout.contains("io.kubesnap.test.v1.Widget"), "openapi v2 has the CRD: \(v2.stdout.prefix(300))")
        let namespaces = try await kubectl(server, ["get", "namespaces"])
        #expect(namespaces.stdout.contains("STATUS") && namespaces.stdout.contains("Active"), "\(namespaces)")
    }

    @Test func applyGetAndOutputFormats() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let manifests = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: team
            ---
            \(Self.widget("alpha"))
            ---
            \(Self.widget("beta", namespace: "team", color: "blue", labels: "tier: b"))
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
              namespace: team
            data:
              mode: fast
            """
        let path = try server.directory.write("widgets.yaml", manifests)
        let first = try await kubectl(server, ["apply", "-f", path])
        #expect(first.succeeded, "\(first)")
        #expect(first.stdout.contains("widget.test.kubesnap.io/alpha created"), "\(first)")
        #expect(first.stdout.contains("configmap/settings created"), "\(first)")

        let again = try await kubectl(server, ["apply", "-f", path])
        #expect(again.succeeded && again.stdout.contains("widget.test.kubesnap.io/alpha unchanged"), "\(again)")
        let changed = try server.directory.write("widgets.yaml", manifests.replacingOccurrences(of: "mode: fast", with: "mode: slow").replacingOccurrences(of: "color: blue", with: "color: green"))
        let second = try await kubectl(server, ["apply", "-f", changed])
        #expect(second.succeeded && second.stdout.contains("configmap/settings configured") && second.stdout.contains("widget.test.kubesnap.io/beta configured"), "\(second)")
        let mode = try await kubectl(server, ["get", "configmap", "settings", "-n", "team", "-o", "jsonpath={.data.mode}"])
        #expect(mode.stdout == "slow", "\(mode)")

        let inTeam = try await kubectl(server, ["get", "widgets", "-n", "team"])
        #expect(inTeam.succeeded && inTeam.stdout.contains("beta") && !inTeam.stdout.contains("alpha"), "\(inTeam)")
        #expect(inTeam.stdout.contains("COLOR") && inTeam.stdout.contains("green"), "printer columns: \(inTeam)")
        let all = try await kubectl(server, ["get", "wdg", "-A"])
        #expect(all.stdout.contains("alpha") && all.stdout.contains("beta") && all.stdout.contains("NAMESPACE"), "\(all)")
        let wide = try await kubectl(server, ["get", "widgets", "-o", "wide"])
        #expect(wide.stdout.contains("SIZE"), "wide shows priority columns: \(wide)")
        let json = try await kubectl(server, ["get", "widget", "alpha", "-o", "json"])
        let object = try JSONValue.parse(json.stdout)
        #expect(object["spec"]["color"] == "red" && object["metadata"]["generation"] == 1, "\(json)")
        let yaml = try await kubectl(server, ["get", "widget", "alpha", "-o", "yaml"])
        #expect(yaml.stdout.contains("color: red"), "\(yaml)")
        let jsonpath = try await kubectl(server, ["get", "widgets", "-A", "-o", "jsonpath={.items[*].metadata.name}"])
        #expect(jsonpath.stdout == "alpha beta", "\(jsonpath)")
        let selected = try await kubectl(server, ["get", "widgets", "-A", "-l", "tier=b", "-o", "name"])
        #expect(selected.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "widget.test.kubesnap.io/beta", "\(selected)")

        let serverSide = try server.directory.write("ssa.yaml", Self.widget("gamma", color: "green"))
        let ssa = try await kubectl(server, ["apply", "--server-side", "-f", serverSide])
        #expect(ssa.succeeded && ssa.stdout.contains("serverside-applied"), "\(ssa)")
        let ssaAgain = try await kubectl(server, ["apply", "--server-side", "--force-conflicts", "-f", serverSide])
        #expect(ssaAgain.succeeded, "\(ssaAgain)")

        let describe = try await kubectl(server, ["describe", "widget", "alpha"])
        #expect(describe.succeeded && describe.stdout.contains("Name:") && describe.stdout.contains("alpha") && describe.stdout.contains("Color:"), "\(describe)")
    }

    @Test func patchReplaceConflictAndWait() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let path = try server.directory.write("w.yaml", Self.widget("alpha"))
        #expect(try await kubectl(server, ["apply", "-f", path]).succeeded)

        let merge = try await kubectl(server, ["patch", "widget", "alpha", "--type", "merge", "-p", #"{"spec":{"color":"blue"}}"#])
        #expect(merge.succeeded, "\(merge)")
        let json = try await kubectl(server, ["patch", "widget", "alpha", "--type", "json", "-p", #"[{"op":"replace","path":"/spec/size","value":5}]"#])
        #expect(json.succeeded, "\(json)")
        let got = try JSONValue.parse(try await kubectl(server, ["get", "widget", "alpha", "-o", "json"]).stdout)
        #expect(got["spec"]["color"] == "blue" && got["spec"]["size"] == 5 && got["metadata"]["generation"] == 3, "\(got)")

        var stale = got
        stale["metadata"]["resourceVersion"] = .string(String((Int(got.resourceVersion ?? "") ?? 2) - 1))
        stale["spec"]["color"] = "green"
        let replaced = try await kubectl(server, ["replace", "-f", "-"], input: stale.serialized())
        #expect(!replaced.succeeded && replaced.stderr.contains("the object has been modified"), "\(replaced)")

        async let waited = kubectl(server, ["wait", "--for=jsonpath={.status.phase}=Ready", "--timeout=60s", "widget/alpha"])
        let status = try await RawClient(server: server).patch("/apis/test.kubesnap.io/v1/namespaces/default/widgets/alpha/status", ["status": ["phase": "Ready"]])
        #expect(status.code == 200, "\(status)")
        let result = try await waited
        #expect(result.succeeded && result.stdout.contains("condition met"), "\(result)")
    }

    @Test func deleteWithFinalizerAndNamespace() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let manifests = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: doomed
            ---
            \(Self.widget("held", namespace: "doomed"))
            ---
            \(Self.widget("kept", extra: "").replacingOccurrences(of: "  labels:", with: "  finalizers: [test.kubesnap.io/hold]\n  labels:"))
            """
        let path = try server.directory.write("m.yaml", manifests)
        let applied = try await kubectl(server, ["apply", "-f", path])
        #expect(applied.succeeded, "\(applied)")

        let deleted = try await kubectl(server, ["delete", "widget", "kept", "--wait=false"])
        #expect(deleted.succeeded, "\(deleted)")
        let terminating = try JSONValue.parse(try await kubectl(server, ["get", "widget", "kept", "-o", "json"]).stdout)
        #expect(!terminating["metadata"]["deletionTimestamp"].isNull, "\(terminating)")
        let released = try await kubectl(server, ["patch", "widget", "kept", "--type", "merge", "-p", #"{"metadata":{"finalizers":null}}"#])
        #expect(released.succeeded, "\(released)")
        let gone = try await kubectl(server, ["get", "widget", "kept"])
        #expect(!gone.succeeded && gone.stderr.contains("NotFound"), "\(gone)")

        let deleteNamespace = try await kubectl(server, ["delete", "namespace", "doomed", "--timeout=60s"])
        #expect(deleteNamespace.succeeded, "\(deleteNamespace)")
        let nsGone = try await kubectl(server, ["get", "namespace", "doomed"])
        #expect(!nsGone.succeeded, "\(nsGone)")
        let widgetGone = try await kubectl(server, ["get", "widgets", "-n", "doomed", "-o", "name"])
        #expect(widgetGone.stdout.isEmpty, "\(widgetGone)")
    }

    /// CRD validation ratcheting: once the CRD's schema is tightened, an object stored under the
    /// old one can still lose its finalizer and have other fields changed; only a changed value
    /// is held to the new schema.
    @Test func tightenedSchemaRatchetsUnchangedValues() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let held = Self.widget("big", extra: "  size: 9").replacingOccurrences(of: "  labels:", with: "  finalizers: [test.kubesnap.io/hold]\n  labels:")
        let created = try await kubectl(server, ["apply", "-f", try server.directory.write("big.yaml", held)])
        #expect(created.succeeded, "\(created)")
        let minimumLine = try #require(Self.crd.split(separator: "\n").first { $0.hasSuffix("minimum: 1") })
        let tightened = Self.crd.replacingOccurrences(
            of: String(minimumLine), with: minimumLine + "\n" + minimumLine.replacingOccurrences(of: "minimum: 1", with: "maximum: 5"))
        #expect(tightened != Self.crd)
        let reapplied = try await kubectl(server, ["apply", "-f", try server.directory.write("crd-tight.yaml", tightened)])
        #expect(reapplied.succeeded, "\(reapplied)")

        let growing = try await kubectl(server, ["patch", "widget", "big", "--type", "merge", "-p", #"{"spec":{"size":10}}"#])
        #expect(!growing.succeeded && growing.stderr.contains("spec.size"), "a changed value meets the new schema: \(growing)")
        let recolored = try await kubectl(server, ["patch", "widget", "big", "--type", "merge", "-p", #"{"spec":{"color":"blue"}}"#])
        #expect(recolored.succeeded, "the unchanged size 9 is ratcheted: \(recolored)")
        #expect(try await kubectl(server, ["delete", "widget", "big", "--wait=false"]).succeeded)
        let released = try await kubectl(server, ["patch", "widget", "big", "--type", "json", "-p", #"[{"op":"remove","path":"/metadata/finalizers"}]"#])
        #expect(released.succeeded, "\(released)")
        let gone = try await kubectl(server, ["get", "widget", "big"])
        #expect(!gone.succeeded && gone.stderr.contains("NotFound"), "\(gone)")
    }

    @Test func getWatchShowsChanges() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let path = try server.directory.write("w.yaml", Self.widget("alpha"))
        #expect(try await kubectl(server, ["apply", "-f", path]).succeeded)
        let watcher = try ChildProcess(
            "/usr/bin/kubectl", ["--kubeconfig", server.kubeconfigPath, "get", "widgets", "-w"],
            environment: ["HOME": server.directory.path], logPath: server.directory.appending("watch.log"))
        defer { watcher.kill9() }
        try await waitUntil("kubectl get -w lists alpha") { (watcher.log.contains("alpha"), watcher.log) }
        let second = try server.directory.write("w2.yaml", Self.widget("omega", color: "blue"))
        #expect(try await kubectl(server, ["apply", "-f", second]).succeeded)
        try await waitUntil("kubectl get -w shows omega") { (watcher.log.contains("omega"), watcher.log) }
    }

    @Test func badManifestIsRejectedNamingTheField() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let bad = try server.directory.write(
            "bad.yaml", Self.widget("broken").replacingOccurrences(of: "  color: red", with: "  size: 0"))
        let result = try await kubectl(server, ["apply", "-f", bad])
        #expect(!result.succeeded, "\(result)")
        #expect(result.stderr.contains("spec.color: Required value"), "\(result)")
        #expect(result.stderr.contains("The Widget \"broken\" is invalid"), "\(result)")
        let badName = try server.directory.write("badname.yaml", Self.widget("Bad_Name"))
        let named = try await kubectl(server, ["apply", "-f", badName])
        #expect(!named.succeeded && named.stderr.contains("metadata.name"), "\(named)")
    }

    @Test func explainShowsCRDDescriptions() async throws {
        let server = try await Self.serverWithCRD()
        defer { Task { await server.stop() } }
        let explained = try await kubectl(server, ["explain", "widgets.spec"])
        #expect(explained.succeeded, "\(explained)")
        #expect(explained.stdout.contains("The color the widget is painted"), "\(explained)")
    }
}
