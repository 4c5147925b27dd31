import KubeAPIMachinery
import KubeJSON
import Testing

func json(_ text: String) -> JSONValue {
    do { return try JSONValue.parse(text) } catch { Issue.record("bad test JSON: \(error)"); return .null }
}

@Suite struct JSONPatchTests {
    func apply(_ doc: String, _ patch: String) throws -> JSONValue {
        try Patch.applyJSONPatch(json(patch), to: json(doc))
    }

    // RFC 6902 appendix A examples.
    @Test func rfcAddObjectMember() throws {
        #expect(
            try apply(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#)
                == json(#"{"baz":"qux","foo":"bar"}"#))
    }
    @Test func rfcAddArrayElement() throws {
        #expect(
            try apply(#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#)
                == json(#"{"foo":["bar","qux","baz"]}"#))
    }
    @Test func rfcRemoveObjectMember() throws {
        #expect(
            try apply(#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#)
                == json(#"{"foo":"bar"}"#))
    }
    @Test func rfcRemoveArrayElement() throws {
        #expect(
            try apply(#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#)
                == json(#"{"foo":["bar","baz"]}"#))
    }
    @Test func rfcReplace() throws {
        #expect(
            try apply(#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#)
                == json(#"{"baz":"boo","foo":"bar"}"#))
    }
    @Test func rfcMoveValue() throws {
        let doc = #"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#
        #expect(
            try apply(doc, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#)
                == json(#"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#))
    }
    @Test func rfcMoveArrayElement() throws {
        #expect(
            try apply(
                #"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#)
                == json(#"{"foo":["all","cows","eat","grass"]}"#))
    }
    @Test func rfcTestSuccess() throws {
        let doc = #"{"baz":"qux","foo":["a",2,"c"]}"#
        let patch = #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#
        #expect(try apply(doc, patch) == json(doc))
    }
    @Test func rfcTestFailureIsInvalid422() {
        #expect(throws: PatchError.testFailed(path: "/baz")) {
            try apply(#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#)
        }
        let error = PatchError.testFailed(path: "/baz")
        #expect(error.statusCode == 422)
        #expect(error.reason == "Invalid")
        #expect(error.statusMessage == "the server rejected our request due to an error in our request")
        #expect(error.detail == "testing value /baz failed: test failed")
    }
    @Test func rfcAddNestedMember() throws {
        #expect(
            try apply(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#)
                == json(#"{"foo":"bar","child":{"grandchild":{}}}"#))
    }
    @Test func rfcAddToNonexistentTargetFails() {
        #expect(throws: PatchError.self) {
            try apply(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#)
        }
    }
    @Test func rfcTildeEscapes() throws {
        #expect(
            try apply(#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#)
                == json(#"{"/":9,"~1":10}"#))
        #expect(
            try apply(
                #"{"metadata":{"labels":{}}}"#,
                #"[{"op":"add","path":"/metadata/labels/kubesnap.io~1repository","value":"r"}]"#)
                == json(#"{"metadata":{"labels":{"kubesnap.io/repository":"r"}}}"#))
    }
    @Test func rfcComparingStringsAndNumbers() {
        #expect(throws: PatchError.testFailed(path: "/~01")) {
            try apply(#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":"10"}]"#)
        }
    }
    @Test func rfcAddArrayValue() throws {
        #expect(
            try apply(#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#)
                == json(#"{"foo":["bar",["abc","def"]]}"#))
    }
    @Test func testOfMissingPathAgainstNullPassesAsInKube() throws {
        #expect(try apply(#"{"a":1}"#, #"[{"op":"test","path":"/b","value":null}]"#) == json(#"{"a":1}"#))
        #expect(throws: PatchError.testFailed(path: "/b")) {
            try apply(#"{"a":1}"#, #"[{"op":"test","path":"/b","value":1}]"#)
        }
    }
    @Test func copyAndIntegerFloatEquality() throws {
        #expect(
            try apply(
                #"{"a":{"b":1}}"#,
                #"[{"op":"copy","from":"/a","path":"/c"},{"op":"test","path":"/c/b","value":1.0}]"#)
                == json(#"{"a":{"b":1},"c":{"b":1}}"#))
    }
    @Test func failuresAreCleanErrors() {
        #expect(throws: PatchError.self) { try apply(#"{"a":1}"#, #"[{"op":"remove","path":"/b"}]"#) }
        #expect(throws: PatchError.self) {
            try apply(#"{"a":1}"#, #"[{"op":"replace","path":"/b","value":1}]"#)
        }
        #expect(throws: PatchError.self) {
            try apply(#"{"a":[1]}"#, #"[{"op":"add","path":"/a/5","value":1}]"#)
        }
        #expect(throws: PatchError.self) {
            try apply(#"{"a":[1]}"#, #"[{"op":"add","path":"/a/01","value":1}]"#)
        }
        do {
            _ = try apply(#"{"a":1}"#, #"{"op":"add"}"#)
            Issue.record("expected an error")
        } catch let error as PatchError {
            #expect(error.statusCode == 400)
        } catch { Issue.record("\(error)") }
        #expect(throws: PatchError.self) { try apply(#"{"a":1}"#, #"[{"op":"frobnicate","path":"/a"}]"#) }
    }
    @Test func finalizerRemovalWithTestGuard() throws {
        // The kube-rs finalizer pattern: test the list, then remove one entry.
        let doc = #"{"metadata":{"finalizers":["kubesnap.io/finalizer"],"resourceVersion":"5"}}"#
        let patch =
            #"[{"op":"test","path":"/metadata/finalizers","value":["kubesnap.io/finalizer"]},{"op":"remove","path":"/metadata/finalizers/0"}]"#
        #expect(try apply(doc, patch) == json(#"{"metadata":{"finalizers":[],"resourceVersion":"5"}}"#))
        #expect(throws: PatchError.self) { try apply(#"{"metadata":{"finalizers":[]}}"#, patch) }
    }
}

@Suite struct MergePatchTests {
    // RFC 7386 appendix A test cases.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func rfc7386(original: String, patch: String, expected: String) {
        #expect(Patch.applyMergePatch(json(patch), to: json(original)) == json(expected))
    }
}

@Suite struct StrategicMergePatchTests {
    func smp(_ doc: String, _ patch: String, kind: String = "Deployment") throws -> JSONValue {
        try Patch.applyStrategicMergePatch(json(patch), to: json(doc), apiVersion: "apps/v1", kind: kind)
    }

    let deployment = #"""
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","labels":{"app":"x"},"finalizers":["a"]},
         "spec":{"replicas":1,"template":{"spec":{
           "containers":[{"name":"app","image":"app:1","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                          "ports":[{"containerPort":80,"name":"http"}],"args":["x","y"]},
                         {"name":"side","image":"side:1"}],
           "volumes":[{"name":"data","emptyDir":{}}],
           "tolerations":[{"key":"k1"}]}}}}
        """#

    // Example from "Update API Objects in Place Using kubectl patch": containers merged by name.
    @Test func containersMergeByName() throws {
        let result = try smp(
            deployment,
            #"{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-2","image":"redis"}]}}}}"#)
        let names = result[path: ["spec", "template", "spec", "containers"]].arrayValue?.map { $0["name"] }
        #expect(names == ["app", "side", "patch-demo-ctr-2"])
    }
    @Test func containerFieldMergesAndEnvByName() throws {
        let result = try smp(
            deployment,
            #"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2","env":[{"name":"B","value":"3"},{"name":"C","value":"4"}]}]}}}}"#
        )
        let app = result[path: ["spec", "template", "spec", "containers"]][0]
        #expect(app["image"] == "app:2")
        #expect(
            app["env"]
                == json(#"[{"name":"A","value":"1"},{"name":"B","value":"3"},{"name":"C","value":"4"}]"#))
        #expect(app["ports"] == json(#"[{"containerPort":80,"name":"http"}]"#))
        #expect(app["args"] == json(#"["x","y"]"#))
    }
    @Test func listsWithoutMergeKeyAreReplaced() throws {
        // Tolerations have no patch strategy (the docs' example): the patch replaces the list.
        let result = try smp(
            deployment,
            #"{"spec":{"template":{"spec":{"tolerations":[{"key":"k2"}],"containers":[{"name":"app","args":["z"]}]}}}}"#
        )
        #expect(result[path: ["spec", "template", "spec", "tolerations"]] == json(#"[{"key":"k2"}]"#))
        #expect(result[path: ["spec", "template", "spec", "containers"]][0]["args"] == json(#"["z"]"#))
    }
    @Test func deleteDirectiveInList() throws {
        let result = try smp(
            deployment, #"{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}"#)
        #expect(result[path: ["spec", "template", "spec", "containers"]].arrayValue?.count == 1)
    }
    @Test func replaceDirectiveInList() throws {
        let result = try smp(
            deployment,
            #"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"o"},{"$patch":"replace"}]}}}}"#
        )
        #expect(
            result[path: ["spec", "template", "spec", "containers"]]
                == json(#"[{"name":"only","image":"o"}]"#))
    }
    @Test func replaceAndDeleteDirectivesOnMaps() throws {
        let replaced = try smp(deployment, #"{"metadata":{"labels":{"$patch":"replace","new":"y"}}}"#)
        #expect(replaced[path: ["metadata", "labels"]] == json(#"{"new":"y"}"#))
        let deleted = try smp(deployment, #"{"metadata":{"labels":{"$patch":"delete"}}}"#)
        #expect(deleted[path: ["metadata", "labels"]] == .null)
        #expect(deleted[path: ["metadata", "name"]] == "d")
    }
    @Test func nullDeletesAndMapsMerge() throws {
        let result = try smp(
            deployment, #"{"metadata":{"labels":{"app":null,"tier":"web"}},"spec":{"replicas":3}}"#)
        #expect(result[path: ["metadata", "labels"]] == json(#"{"tier":"web"}"#))
        #expect(result[path: ["spec", "replicas"]] == 3)
    }
    @Test func finalizersMergeAsSetAndDeleteFromPrimitiveList() throws {
        let added = try smp(deployment, #"{"metadata":{"finalizers":["b","a"]}}"#)
        #expect(added[path: ["metadata", "finalizers"]] == json(#"["a","b"]"#))
        let removed = try smp(deployment, #"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"#)
        #expect(removed[path: ["metadata", "finalizers"]] == json("[]"))
    }
    @Test func setElementOrder() throws {
        let patch =
            #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"app"}],"containers":[{"name":"side","image":"side:2"}]}}}}"#
        let result = try smp(deployment, patch)
        let containers = result[path: ["spec", "template", "spec", "containers"]]
        #expect(containers.arrayValue?.map { $0["name"] } == ["side", "app"])
        #expect(containers[0]["image"] == "side:2")
    }
    @Test func retainKeys() throws {
        // Volume sources use retainKeys: switching emptyDir -> hostPath drops emptyDir.
        let patch =
            #"{"spec":{"template":{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/x"},"$retainKeys":["hostPath","name"]}]}}}}"#
        let result = try smp(deployment, patch)
        #expect(
            result[path: ["spec", "template", "spec", "volumes"]]
                == json(#"[{"name":"data","hostPath":{"path":"/x"}}]"#))
    }
    @Test func servicePortsByPortAndPodContainers() throws {
        let svc = #"{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"name":"https"}]}}"#
        let result = try smp(svc, #"{"spec":{"ports":[{"port":443,"targetPort":8443}]}}"#, kind: "Service")
        #expect(
            result[path: ["spec", "ports"]]
                == json(#"[{"port":80,"name":"http"},{"port":443,"name":"https","targetPort":8443}]"#))
        let pod = #"{"spec":{"containers":[{"name":"a","volumeMounts":[{"mountPath":"/a","name":"v"}]}]}}"#
        let patched = try smp(
            pod, #"{"spec":{"containers":[{"name":"a","volumeMounts":[{"mountPath":"/b","name":"w"}]}]}}"#,
            kind: "Pod")
        #expect(patched[path: ["spec", "containers"]][0]["volumeMounts"].arrayValue?.count == 2)
    }
    @Test func statusConditionsByType() throws {
        let doc =
            #"{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Progressing","status":"True"}]}}"#
        let result = try smp(doc, #"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#)
        #expect(
            result[path: ["status", "conditions"]]
                == json(#"[{"type":"Ready","status":"True"},{"type":"Progressing","status":"True"}]"#))
    }
    @Test func badInputIsAnErrorNotACrash() {
        #expect(throws: PatchError.self) { try smp(deployment, #"["x"]"#) }
        #expect(throws: PatchError.self) { try smp(deployment, #"{"metadata":{"$patch":"explode"}}"#) }
        #expect(throws: PatchError.self) {
            try smp(deployment, #"{"spec":{"template":{"spec":{"containers":[{"image":"nokey"}]}}}}"#)
        }
    }
    @Test func unknownKindsMergeLikeMergePatchForMaps() throws {
        let result = try smp(
            #"{"data":{"a":"1"},"list":[1,2]}"#, #"{"data":{"b":"2"},"list":[3]}"#, kind: "ConfigMap")
        #expect(result == json(#"{"data":{"a":"1","b":"2"},"list":[3]}"#))
    }
}
