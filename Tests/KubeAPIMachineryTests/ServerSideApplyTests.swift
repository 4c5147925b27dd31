import KubeAPIMachinery
import KubeJSON
import Testing

@Suite struct ServerSideApplyTests {
    let config = json(
        #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d","labels":{"app":"x"}},"data":{"a":"1","b":"2"}}"#
    )

    func fields(_ object: JSONValue, manager: String) -> JSONValue {
        (object["metadata"]["managedFields"].arrayValue ?? []).first {
            $0["manager"].stringValue == manager
        }?["fieldsV1"] ?? .null
    }

    @Test func createFromApplyRecordsManagedFields() throws {
        let created = try ServerSideApply.apply(
            config, to: nil, manager: "kubectl", force: false, now: "2024-05-01T12:00:00Z")
        #expect(created["data"] == json(#"{"a":"1","b":"2"}"#))
        let entry = created["metadata"]["managedFields"][0]
        #expect(entry["manager"] == "kubectl")
        #expect(entry["operation"] == "Apply")
        #expect(entry["apiVersion"] == "v1")
        #expect(entry["fieldsType"] == "FieldsV1")
        #expect(entry["time"] == "2024-05-01T12:00:00Z")
        #expect(
            entry["fieldsV1"]
                == json(#"{"f:data":{"f:a":{},"f:b":{}},"f:metadata":{"f:labels":{"f:app":{}}}}"#))
    }

    @Test func conflictWithAnotherApplierAndForce() throws {
        let live = try ServerSideApply.apply(config, to: nil, manager: "alice", force: false, now: "t1")
        var bobs = config
        bobs["data"] = json(#"{"a":"changed"}"#)
        bobs["metadata"].removeValue(forKey: "labels")
        do {
            _ = try ServerSideApply.apply(bobs, to: live, manager: "bob", force: false, now: "t2")
            Issue.record("expected a conflict")
        } catch {
            #expect(error.message == #"Apply failed with 1 conflict: conflict with "alice": .data.a"#)
            #expect(error.statusCode == 409)
            #expect(
                error.causes == [
                    json(
                        #"{"reason":"FieldManagerConflict","message":"conflict with \"alice\"","field":".data.a"}"#
                    )
                ])
        }
        let forced = try ServerSideApply.apply(bobs, to: live, manager: "bob", force: true, now: "t2")
        #expect(forced["data"]["a"] == "changed")
        #expect(fields(forced, manager: "bob") == json(#"{"f:data":{"f:a":{}}}"#))
        #expect(
            fields(forced, manager: "alice")
                == json(#"{"f:data":{"f:b":{}},"f:metadata":{"f:labels":{"f:app":{}}}}"#))
    }

    @Test func sameValueIsSharedOwnershipNotConflict() throws {
        let live = try ServerSideApply.apply(config, to: nil, manager: "alice", force: false, now: "t1")
        let shared = try ServerSideApply.apply(
            json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}"#),
            to: live, manager: "bob", force: false, now: "t2")
        #expect(fields(shared, manager: "bob") == json(#"{"f:data":{"f:a":{}}}"#))
        #expect(fields(shared, manager: "alice") == fields(live, manager: "alice"))
    }

    @Test func removedFieldsAreDeletedUnlessOwnedElsewhere() throws {
        let live = try ServerSideApply.apply(config, to: nil, manager: "alice", force: false, now: "t1")
        let bob = try ServerSideApply.apply(
            json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"b":"2"}}"#),
            to: live, manager: "bob", force: false, now: "t2")
        // alice drops data.a (only hers: removed) and data.b (bob also owns it: kept) and the label.
        let after = try ServerSideApply.apply(
            json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{}}"#), to: bob,
            manager: "alice", force: false, now: "t3")
        #expect(after["data"] == json(#"{"b":"2"}"#))
        #expect(after["metadata"]["labels"] == .null)
        #expect(after["metadata"]["name"] == "c")
    }

    @Test func conflictWithUpdateManagerIsWordedLikeKube() throws {
        let live = try ServerSideApply.apply(config, to: nil, manager: "kubectl", force: false, now: "t1")
        var edited = live
        edited["data"]["a"] = "edited"
        let updated = ServerSideApply.recordUpdate(
            old: live, new: edited, manager: "kubectl-edit", now: "2024-05-01T12:00:00Z")
        #expect(fields(updated, manager: "kubectl-edit") == json(#"{"f:data":{"f:a":{}}}"#))
        #expect(
            fields(updated, manager: "kubectl")
                == json(#"{"f:data":{"f:b":{}},"f:metadata":{"f:labels":{"f:app":{}}}}"#))
        var again = config
        again["data"]["a"] = "mine"
        do {
            _ = try ServerSideApply.apply(again, to: updated, manager: "kubectl", force: false, now: "t3")
            Issue.record("expected a conflict")
        } catch {
            #expect(
                error.message
                    == #"Apply failed with 1 conflict: conflict with "kubectl-edit" using v1 at 2024-05-01T12:00:00Z: .data.a"#
            )
        }
    }

    @Test func severalConflictsListedByManager() throws {
        var live = try ServerSideApply.apply(config, to: nil, manager: "alice", force: false, now: "t1")
        live = try ServerSideApply.apply(
            json(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"z":"9"}}"#),
            to: live, manager: "carol", force: false, now: "t1")
        let bob = json(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"x","b":"y","z":"0"}}"#
        )
        do {
            _ = try ServerSideApply.apply(bob, to: live, manager: "bob", force: false, now: "t2")
            Issue.record("expected a conflict")
        } catch {
            #expect(
                error.message
                    == "Apply failed with 3 conflicts: conflicts with \"alice\":\n- .data.a\n- .data.b\nconflicts with \"carol\":\n- .data.z"
            )
        }
    }

    @Test func listsAreAtomic() throws {
        let a = json(#"{"apiVersion":"v1","kind":"X","metadata":{"name":"c"},"spec":{"items":[1,2]}}"#)
        let live = try ServerSideApply.apply(a, to: nil, manager: "alice", force: false, now: "t")
        #expect(fields(live, manager: "alice") == json(#"{"f:spec":{"f:items":{}}}"#))
        let b = json(#"{"apiVersion":"v1","kind":"X","metadata":{"name":"c"},"spec":{"items":[3]}}"#)
        #expect(throws: ApplyConflict.self) {
            try ServerSideApply.apply(b, to: live, manager: "bob", force: false, now: "t")
        }
        let reapplied = try ServerSideApply.apply(b, to: live, manager: "alice", force: false, now: "t")
        #expect(reapplied["spec"]["items"] == json("[3]"))
    }

    @Test func recordUpdateOnCreate() {
        let created = ServerSideApply.recordUpdate(old: nil, new: config, manager: "kubesnap", now: "t")
        #expect(created["metadata"]["managedFields"][0]["operation"] == "Update")
        #expect(
            fields(created, manager: "kubesnap")
                == json(#"{"f:data":{"f:a":{},"f:b":{}},"f:metadata":{"f:labels":{"f:app":{}}}}"#))
    }
}

@Suite struct ServerSideApplyListMapTests {
    let deployment = json(
        #"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},
         "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"app","image":"app:1"}]}}}}
        """#)

    @Test func builtinContainersAreTrackedByName() throws {
        let live = try ServerSideApply.apply(deployment, to: nil, manager: "alice", force: false, now: "t")
        let fields = live["metadata"]["managedFields"][0]["fieldsV1"]
        #expect(
            fields
                == json(
                    #"{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
                ))
        // bob adds a sidecar: no conflict, both containers kept.
        let bob = json(
            #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"side","image":"side:1"}]}}}}"#
        )
        let both = try ServerSideApply.apply(bob, to: live, manager: "bob", force: false, now: "t")
        #expect(
            both[path: ["spec", "template", "spec", "containers"]].arrayValue?.map { $0["name"] } == [
                "app", "side",
            ])
        // bob changing alice's image conflicts, naming the element by key.
        let steal = json(
            #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}"#
        )
        do {
            _ = try ServerSideApply.apply(steal, to: both, manager: "bob", force: false, now: "t")
            Issue.record("expected a conflict")
        } catch {
            #expect(
                error.message
                    == #"Apply failed with 1 conflict: conflict with "alice": .spec.template.spec.containers[name="app"].image"#
            )
        }
        // alice drops her container: it is removed, bob's stays.
        var aliceAgain = deployment
        aliceAgain["spec"]["template"]["spec"]["containers"] = []
        let after = try ServerSideApply.apply(aliceAgain, to: both, manager: "alice", force: false, now: "t")
        #expect(
            after[path: ["spec", "template", "spec", "containers"]].arrayValue?.map { $0["name"] } == ["side"]
        )
    }

    @Test func crdListMapKeysFromSchema() throws {
        let schema = try CRDSchema(
            openAPIV3Schema: json(
                #"""
                {"type":"object","properties":{"spec":{"type":"object","properties":{"targets":{"type":"array","x-kubernetes-list-type":"map",
                  "x-kubernetes-list-map-keys":["name"],"items":{"type":"object","properties":{"name":{"type":"string"},"path":{"type":"string"}}}}}}}}
                """#))
        #expect(schema.listMapKeys == ["spec.targets": ["name"]])
        let a = json(
            #"{"apiVersion":"kubesnap.io/v1alpha1","kind":"X","metadata":{"name":"x"},"spec":{"targets":[{"name":"a","path":"/a"}]}}"#
        )
        let b = json(
            #"{"apiVersion":"kubesnap.io/v1alpha1","kind":"X","metadata":{"name":"x"},"spec":{"targets":[{"name":"b","path":"/b"}]}}"#
        )
        let live = try ServerSideApply.apply(
            a, to: nil, manager: "alice", force: false, now: "t", listMapKeys: schema.listMapKeys)
        let merged = try ServerSideApply.apply(
            b, to: live, manager: "bob", force: false, now: "t", listMapKeys: schema.listMapKeys)
        #expect(merged["spec"]["targets"] == json(#"[{"name":"a","path":"/a"},{"name":"b","path":"/b"}]"#))
        // Without the keys the list is atomic and bob conflicts.
        #expect(throws: ApplyConflict.self) {
            try ServerSideApply.apply(b, to: live, manager: "bob", force: false, now: "t", listMapKeys: [:])
        }
    }

    @Test func updateTakesOwnershipOfChangedElementFields() throws {
        let live = try ServerSideApply.apply(deployment, to: nil, manager: "alice", force: false, now: "t")
        var edited = live
        edited["spec"]["template"]["spec"]["containers"] = json(#"[{"name":"app","image":"app:9"}]"#)
        let updated = ServerSideApply.recordUpdate(old: live, new: edited, manager: "kubectl-edit", now: "t2")
        let editor = updated["metadata"]["managedFields"].arrayValue?.first {
            $0["manager"] == "kubectl-edit"
        }
        #expect(
            editor?["fieldsV1"]
                == json(
                    #"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}"#
                ))
    }
}
