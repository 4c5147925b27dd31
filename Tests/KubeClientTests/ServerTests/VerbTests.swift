import Foundation
import KubeAPIServer
import KubeJSON
import KubeTestSupport
import Testing

@testable import KubeClient

@Suite struct VerbTests {
    @Test func createGetListUpdateConflictDelete() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            let ns = "verbs"
            _ = try await client.create(.namespaces, namespace: nil, ["metadata": ["name": .string(ns)]])
            var created = try await client.create(
                .configMaps, namespace: ns,
                ["metadata": ["name": "one", "labels": ["app": "x"]], "data": ["k": "v"]])
            #expect(created["kind"] == "ConfigMap" && created.namespace == ns && created.uid != nil)
            await #expect {
                _ = try await client.create(.configMaps, namespace: ns, ["metadata": ["name": "one"]])
            } throws: {
                ($0 as? KubeError)?.isAlreadyExists == true
            }
            // generateName is just a field.
            let generated = try await client.create(
                .configMaps, namespace: ns, ["metadata": ["generateName": "gen-"]])
            #expect(generated.name?.hasPrefix("gen-") == true && generated.name != "gen-")

            await #expect { _ = try await client.get(.configMaps, namespace: ns, name: "absent") } throws: {
                ($0 as? KubeError)?.isNotFound == true
            }
            let invalid = await #expect(throws: KubeError.self) {
                _ = try await client.create(
                    .configMaps, namespace: ns, ["metadata": ["name": "Not_A_Valid_Name"]])
            }
            #expect(invalid?.isInvalid == true)
            #expect(invalid?.status?.causes.isEmpty == false)

            // Update, then a stale update is a 409 Conflict.
            let stale = created
            created["data"]["k"] = "v2"
            let updated = try await client.update(.configMaps, namespace: ns, created)
            #expect(updated["data"]["k"] == "v2" && updated.resourceVersion != stale.resourceVersion)
            var conflicting = stale
            conflicting["data"]["k"] = "lost update"
            await #expect { _ = try await client.update(.configMaps, namespace: ns, conflicting) } throws: {
                ($0 as? KubeError)?.isConflict == true
            }

            // Selectors and all-namespace lists.
            _ = try await client.create(
                .configMaps, namespace: "default",
                ["metadata": ["name": "elsewhere", "labels": ["app": "x"]]])
            let labelled = try await client.list(
                .configMaps, namespace: ns, options: ListOptions(labelSelector: "app=x"))
            #expect(labelled.items.map(\.name) == ["one"])
            #expect(!labelled.resourceVersion.isEmpty)
            let everywhere = try await client.list(
                .configMaps, namespace: nil, options: ListOptions(labelSelector: "app=x"))
            #expect(Set(everywhere.items.compactMap(\.name)) == ["one", "elsewhere"])
            let byField = try await client.list(
                .configMaps, namespace: nil, options: ListOptions(fieldSelector: "metadata.name=elsewhere"))
            #expect(byField.items.map(\.namespace) == ["default"])

            // Delete with a wrong uid precondition is a conflict; then a real delete.
            await #expect {
                try await client.delete(
                    .configMaps, namespace: ns, name: "one",
                    options: DeleteOptions(preconditionUID: "not-the-uid"))
            } throws: { ($0 as? KubeError)?.isConflict == true }
            let deleted = try await client.delete(
                .configMaps, namespace: ns, name: "one",
                options: DeleteOptions(propagationPolicy: .background, preconditionUID: updated.uid))
            if let deleted { #expect(deleted.name == "one") }
            await #expect { _ = try await client.get(.configMaps, namespace: ns, name: "one") } throws: {
                ($0 as? KubeError)?.isNotFound == true
            }
        }
    }

    @Test func deleteReturnsTheObjectWhileFinalizersArePending() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            _ = try await client.create(
                .configMaps, namespace: nil,
                ["metadata": ["name": "held", "finalizers": ["kubesnap.io/test"]]])
            let pending = try await client.delete(.configMaps, namespace: nil, name: "held")
            #expect(pending?["metadata"]["deletionTimestamp"].stringValue != nil)
            // Removing the finalizer with a JSON patch guarded by a `test` op lets it go.
            let guardFailed = await #expect(throws: KubeError.self) {
                _ = try await client.patch(
                    .configMaps, namespace: nil, name: "held", type: .json,
                    [
                        ["op": "test", "path": "/metadata/finalizers/0", "value": "someone-else"],
                        ["op": "remove", "path": "/metadata/finalizers/0"],
                    ])
            }
            #expect(guardFailed?.status != nil)
            _ = try await client.patch(
                .configMaps, namespace: nil, name: "held", type: .json,
                [
                    ["op": "test", "path": "/metadata/finalizers/0", "value": "kubesnap.io/test"],
                    ["op": "remove", "path": "/metadata/finalizers/0"],
                ])
            try await waitUntil("the object to be gone") {
                do {
                    _ = try await client.get(.configMaps, namespace: nil, name: "held")
                    return (false, "still there")
                } catch let error as KubeError where error.isNotFound {
                    return (true, "")
                }
            }
        }
    }

    @Test func deleteCollectionTakesWhatTheSelectorMatches() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            for (name, team, held) in [("a", "x", false), ("b", "x", true), ("c", "y", false)] {
                var metadata: JSONValue = ["name": .string(name), "labels": ["team": .string(team)]]
                if held { metadata["finalizers"] = ["kubesnap.io/test"] }
                _ = try await client.create(.configMaps, namespace: "default", ["metadata": metadata])
            }
            let answered = try await client.deleteCollection(
                .configMaps, namespace: "default", listOptions: ListOptions(labelSelector: "team=x"))
            #expect(Set(answered.compactMap(\.name)) == ["a", "b"])
            let remaining = try await client.list(.configMaps, namespace: "default").items
            let names = Set(remaining.compactMap(\.name)).filter { $0 != "kube-root-ca.crt" }
            #expect(names == ["b", "c"], "b waits on its finalizer, c was not selected")
            let held = remaining.first { $0.name == "b" }
            #expect(held?["metadata"]["deletionTimestamp"].stringValue != nil)
        }
    }

    @Test func patchesAndServerSideApply() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            _ = try await client.create(
                .configMaps, namespace: nil, ["metadata": ["name": "p"], "data": ["a": "1", "b": "2"]])
            let merged = try await client.patch(
                .configMaps, namespace: nil, name: "p", type: .merge, ["data": ["a": nil, "c": "3"]])
            #expect(merged["data"] == ["b": "2", "c": "3"])
            let strategic = try await client.patch(
                .configMaps, namespace: nil, name: "p", type: .strategicMerge, ["data": ["d": "4"]])
            #expect(strategic["data"]["d"] == "4" && strategic["data"]["b"] == "2")

            await #expect {
                _ = try await client.patch(
                    .configMaps, namespace: nil, name: "p", type: .apply, ["data": ["x": "y"]])
            } throws: { error in
                if case KubeError.invalidRequest = error { return true }
                return false
            }
            let applied = try await client.patch(
                .configMaps, namespace: nil, name: "applied", type: .apply,
                [
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "applied"],
                    "data": ["owner": "first"],
                ],
                options: PatchOptions(fieldManager: "first"))
            #expect(applied["data"]["owner"] == "first")
            let conflict = await #expect(throws: KubeError.self) {
                _ = try await client.patch(
                    .configMaps, namespace: nil, name: "applied", type: .apply,
                    [
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "applied"],
                        "data": ["owner": "second"],
                    ],
                    options: PatchOptions(fieldManager: "second"))
            }
            #expect(conflict?.isConflict == true)
            let forced = try await client.patch(
                .configMaps, namespace: nil, name: "applied", type: .apply,
                [
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "applied"],
                    "data": ["owner": "second"],
                ],
                options: PatchOptions(fieldManager: "second", force: true))
            #expect(forced["data"]["owner"] == "second")
        }
    }

    @Test func statusSubresource() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            _ = try await client.create(.namespaces, namespace: nil, ["metadata": ["name": "status-ns"]])
            var status = try await client.get(
                .namespaces, namespace: nil, name: "status-ns", subresource: "status")
            #expect(status.name == "status-ns")
            status["status"]["conditions"] = [
                ["type": "Probe", "status": "True", "reason": "Test", "message": "set by update"]
            ]
            let updated = try await client.update(.namespaces, namespace: nil, status, subresource: "status")
            #expect(updated["status"]["conditions"][0]["type"] == "Probe")
            let patched = try await client.patch(
                .namespaces, namespace: nil, name: "status-ns", type: .merge,
                [
                    "status": [
                        "conditions": [
                            ["type": "Probe", "status": "False", "reason": "Test", "message": "patched"]
                        ]
                    ]
                ],
                subresource: "status")
            #expect(patched["status"]["conditions"][0]["status"] == "False")
        }
    }

    @Test func listAllFollowsContinueTokens() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            for i in 0..<7 {
                _ = try await client.create(
                    .configMaps, namespace: nil,
                    ["metadata": ["name": .string("page-\(i)"), "labels": ["set": "paged"]]])
            }
            let first = try await client.list(
                .configMaps, namespace: nil, options: ListOptions(labelSelector: "set=paged", limit: 3))
            #expect(first.items.count == 3)
            #expect(first.continueToken != nil)
            let all = try await client.listAll(
                .configMaps, namespace: nil, options: ListOptions(labelSelector: "set=paged", limit: 3))
            #expect(all.items.compactMap(\.name).sorted() == (0..<7).map { "page-\($0)" })
            #expect(!all.resourceVersion.isEmpty)
        }
    }

    @Test func typedVerbs() async throws {
        try await withAPIServer { server in
            let client = try KubeClient(configuration: try server.adminConfiguration())
            var map = TestConfigMap(
                metadata: ObjectMeta(name: "typed", namespace: "default", labels: ["t": "1"]),
                data: ["a": "b"])
            map.apiVersion = nil  // the client adds apiVersion/kind
            map.kind = nil
            var created = try await client.create(map)
            #expect(created.metadata.uid != nil && created.kind == "ConfigMap")
            created.data?["a"] = "c"
            let updated = try await client.update(created)
            #expect(updated.data == ["a": "c"])
            let fetched = try await client.get(TestConfigMap.self, namespace: "default", name: "typed")
            #expect(fetched == updated)
            let list = try await client.list(
                TestConfigMap.self, namespace: "default", options: ListOptions(labelSelector: "t=1"))
            #expect(list.items == [updated])
            let patched = try await client.patch(
                TestConfigMap.self, namespace: "default", name: "typed", patchType: .merge,
                ["data": ["z": "1"]])
            #expect(patched.data?["z"] == "1")
            try await client.delete(TestConfigMap.self, namespace: "default", name: "typed")
            await #expect { _ = try await client.get(TestConfigMap.self, name: "typed") } throws: {
                ($0 as? KubeError)?.isNotFound == true
            }
        }
    }
}
