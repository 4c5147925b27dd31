import Foundation
import KubeJSON
import KubeTestSupport
import Testing

@Suite("Object semantics over raw HTTP")
struct ObjectSemanticsTests {
    static let cms = "/api/v1/namespaces/default/configmaps"

    @Test func createConflictAndValidation() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let created = try await client.post(Self.cms, configMap("a", data: ["k": "v"]))
        #expect(created.code == 201, "\(created)")
        #expect(created.body["metadata"]["uid"].stringValue?.isEmpty == false)
        #expect(created.body["metadata"]["creationTimestamp"].stringValue != nil)
        let again = try await client.post(Self.cms, configMap("a"))
        #expect(again.code == 409 && again.body["reason"] == "AlreadyExists", "\(again)")
        #expect(again.body["message"] == #"configmaps "a" already exists"#)

        var updated = created.body
        updated["data"]["k"] = "w"
        let ok = try await client.put(Self.cms + "/a", updated)
        #expect(ok.code == 200, "\(ok)")
        #expect(Int(ok.body.resourceVersion ?? "") ?? 0 > Int(created.body.resourceVersion ?? "") ?? 0)
        let stale = try await client.put(Self.cms + "/a", updated)
        #expect(stale.code == 409 && stale.body["reason"] == "Conflict", "\(stale)")
        #expect(stale.body["message"].stringValue?.contains("the object has been modified") == true)

        let bad = try await client.post(Self.cms, configMap("Not_Valid"))
        #expect(bad.code == 422 && bad.body["reason"] == "Invalid", "\(bad)")
        #expect(bad.body["details"]["causes"][0]["field"] == "metadata.name", "\(bad)")
        var badLabel = configMap("l")
        badLabel["metadata"]["labels"] = ["ok": "bad value!"]
        let labelled = try await client.post(Self.cms, badLabel)
        #expect(labelled.code == 422 && labelled.body["details"]["causes"][0]["field"] == "metadata.labels", "\(labelled)")
        badLabel["metadata"]["labels"] = ["n": 3]
        let typed = try await client.post(Self.cms, badLabel)
        #expect(typed.code == 400 && typed.body["message"].stringValue?.contains("metadata.labels") == true, "\(typed)")
        let missingNS = try await client.post("/api/v1/namespaces/nowhere/configmaps", configMap("x", namespace: "nowhere"))
        #expect(missingNS.code == 404 && missingNS.body["message"] == #"namespaces "nowhere" not found"#, "\(missingNS)")
        let generated = try await client.post(Self.cms, ["metadata": ["generateName": "gen-"]])
        #expect(generated.code == 201 && (generated.body.name ?? "").hasPrefix("gen-") && generated.body.name?.count == 9, "\(generated)")
        let notFound = try await client.get(Self.cms + "/missing")
        #expect(notFound.code == 404 && notFound.body["details"]["kind"] == "configmaps", "\(notFound)")
    }

    @Test func listPagingSelectorsAndResourceVersions() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        for i in 0..<7 {
            let r = try await client.post(Self.cms, configMap("cm-\(i)", labels: ["parity": i % 2 == 0 ? "even" : "odd"]))
            #expect(r.code == 201)
        }
        var names: [String] = []
        var token = ""
        var pages = 0
        repeat {
            let page = try await client.get(Self.cms + "?limit=3" + (token.isEmpty ? "" : "&continue=\(token)"))
            #expect(page.code == 200, "\(page)")
            names += (page.body["items"].arrayValue ?? []).compactMap(\.name)
            token = page.body["metadata"]["continue"].stringValue?.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            pages += 1
        } while !token.isEmpty && pages < 10
        #expect(names == (0..<7).map { "cm-\($0)" } && pages == 3, "\(names)")
        let odd = try await client.get(Self.cms + "?labelSelector=parity%3Dodd")
        #expect((odd.body["items"].arrayValue ?? []).compactMap(\.name) == ["cm-1", "cm-3", "cm-5"], "\(odd)")
        let byField = try await client.get(Self.cms + "?fieldSelector=metadata.name%3Dcm-4")
        #expect((byField.body["items"].arrayValue ?? []).compactMap(\.name) == ["cm-4"], "\(byField)")
        let rv = Int(odd.body["metadata"]["resourceVersion"].stringValue ?? "") ?? 0
        let future = try await client.get(Self.cms + "?resourceVersion=\(rv + 1000)&resourceVersionMatch=NotOlderThan")
        #expect(future.code == 504, "\(future)")
        let any = try await client.get(Self.cms + "?resourceVersion=0")
        #expect(any.code == 200 && (any.body["items"].arrayValue ?? []).count == 7)
    }

    @Test func finalizersAndDeletion() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        var cm = configMap("held")
        cm["metadata"]["finalizers"] = ["test/hold"]
        let created = try await client.post(Self.cms, cm)
        #expect(created.code == 201)
        let watch = try client.stream(Self.cms + "?watch=1&resourceVersion=\(created.body.resourceVersion ?? "")", in: server.directory, name: "fin")
        defer { watch.kill9() }

        let wrongUID = try await client.delete(Self.cms + "/held", ["preconditions": ["uid": "nope"]])
        #expect(wrongUID.code == 409, "\(wrongUID)")
        let deleted = try await client.delete(Self.cms + "/held")
        #expect(deleted.code == 200 && !deleted.body["metadata"]["deletionTimestamp"].isNull, "\(deleted)")
        let still = try await client.get(Self.cms + "/held")
        #expect(still.code == 200)
        var more = still.body
        more["metadata"]["finalizers"] = ["test/hold", "test/another"]
        let refused = try await client.put(Self.cms + "/held", more)
        #expect(refused.code == 422 && refused.body["details"]["causes"][0]["field"] == "metadata.finalizers", "\(refused)")
        let released = try await client.patch(Self.cms + "/held", ["metadata": ["finalizers": nil]])
        #expect(released.code == 200, "\(released)")
        #expect(try await client.get(Self.cms + "/held").code == 404)
        try await waitUntil("MODIFIED then DELETED on the watch") {
            let types = watchEvents(watch.log).compactMap { $0["type"].stringValue }
            return (types == ["MODIFIED", "DELETED"], "\(types)")
        }

        // New content in a terminating namespace is refused.
        let ns = try await client.post("/api/v1/namespaces", ["metadata": ["name": "closing"]])
        #expect(ns.code == 201 && ns.body["status"]["phase"] == "Active")
        var blocker = configMap("blocker", namespace: "closing")
        blocker["metadata"]["finalizers"] = ["test/hold"]
        #expect(try await client.post("/api/v1/namespaces/closing/configmaps", blocker).code == 201)
        let nsDelete = try await client.delete("/api/v1/namespaces/closing")
        #expect(nsDelete.code == 200 && nsDelete.body["status"]["phase"] == "Terminating", "\(nsDelete)")
        let refusedCreate = try await client.post("/api/v1/namespaces/closing/configmaps", configMap("late", namespace: "closing"))
        #expect(refusedCreate.code == 403 && refusedCreate.body["reason"] == "Forbidden", "\(refusedCreate)")
        #expect(try await client.get("/api/v1/namespaces/closing").code == 200)
        let unblock = try await client.patch("/api/v1/namespaces/closing/configmaps/blocker", ["metadata": ["finalizers": nil]])
        #expect(unblock.code == 200, "\(unblock)")
        let nsGone = try await client.get("/api/v1/namespaces/closing")
        #expect(nsGone.code == 404, "\(nsGone)")
    }

    static let widgetCRD: JSONValue = [
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": ["name": "gizmos.test.kubesnap.io"],
        "spec": [
            "group": "test.kubesnap.io", "scope": "Namespaced",
            "names": ["plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"],
            "versions": [[
                "name": "v1", "served": true, "storage": true, "subresources": ["status": .emptyObject],
                "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]],
            ]],
        ],
    ]

    @Test func generationAndStatusSubresource() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        let crd = try await client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Self.widgetCRD)
        #expect(crd.code == 201, "\(crd)")
        let conditions = (crd.body["status"]["conditions"].arrayValue ?? []).compactMap { $0["type"].stringValue }
        #expect(conditions.contains("Established") && conditions.contains("NamesAccepted"), "\(crd)")
        let path = "/apis/test.kubesnap.io/v1/namespaces/default/gizmos"
        let created = try await client.post(path, ["apiVersion": "test.kubesnap.io/v1", "kind": "Gizmo", "metadata": ["name": "g"], "spec": ["n": 1], "status": ["phase": "Ignored"]])
        #expect(created.code == 201 && created.body["metadata"]["generation"] == 1 && created.body["status"].isNull, "\(created)")
        let labelled = try await client.patch(path + "/g", ["metadata": ["labels": ["a": "b"]]])
        #expect(labelled.body["metadata"]["generation"] == 1, "\(labelled)")
        let status = try await client.patch(path + "/g/status", ["status": ["phase": "Ready"], "spec": ["n": 99]])
        #expect(status.code == 200 && status.body["status"]["phase"] == "Ready" && status.body["spec"]["n"] == 1, "\(status)")
        #expect(status.body["metadata"]["generation"] == 1)
        let spec = try await client.patch(path + "/g", ["spec": ["n": 2], "status": ["phase": "Hacked"]])
        #expect(spec.body["metadata"]["generation"] == 2 && spec.body["status"]["phase"] == "Ready", "\(spec)")

        // Deleting the CRD removes its objects and stops serving it.
        let removed = try await client.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.test.kubesnap.io")
        #expect(removed.code == 200, "\(removed)")
        try await waitUntil("gizmos no longer served") {
            let r = try await client.get(path)
            return (r.code == 404, "\(r)")
        }
    }

    @Test func garbageCollection() async throws {
        let server = try await TestAPIServer.start()
        defer { Task { await server.stop() } }
        let client = RawClient(server: server)
        func family(_ owner: String) async throws -> String {
            let o = try await client.post(Self.cms, configMap(owner))
            var d = configMap(owner + "-child")
            d["metadata"]["ownerReferences"] = [["apiVersion": "v1", "kind": "ConfigMap", "name": .string(owner), "uid": o.body["metadata"]["uid"], "blockOwnerDeletion": true]]
            #expect(try await client.post(Self.cms, d).code == 201)
            return o.body.uid ?? ""
        }
        _ = try await family("background")
        #expect(try await client.delete(Self.cms + "/background").code == 200)
        #expect(try await client.get(Self.cms + "/background-child").code == 404)

        _ = try await family("orphan")
        #expect(try await client.delete(Self.cms + "/orphan", ["propagationPolicy": "Orphan"]).code == 200)
        let orphan = try await client.get(Self.cms + "/orphan-child")
        #expect(orphan.code == 200 && orphan.body["metadata"]["ownerReferences"].isNull, "\(orphan)")
        #expect(try await client.get(Self.cms + "/orphan").code == 404)

        _ = try await family("fg")
        var childHold = try await client.get(Self.cms + "/fg-child").body
        childHold["metadata"]["finalizers"] = ["test/hold"]
        #expect(try await client.put(Self.cms + "/fg-child", childHold).code == 200)
        let fg = try await client.delete(Self.cms + "/fg", ["propagationPolicy": "Foreground"])
        #expect(fg.code == 200 && (fg.body["metadata"]["finalizers"].arrayValue ?? []).contains("foregroundDeletion"), "\(fg)")
        #expect(try await client.get(Self.cms + "/fg").code == 200, "owner waits for its dependents")
        #expect(try await client.patch(Self.cms + "/fg-child", ["metadata": ["finalizers": nil]]).code == 200)
        #expect(try await client.get(Self.cms + "/fg-child").code == 404)
        #expect(try await client.get(Self.cms + "/fg").code == 404)
    }
}
