import KubeAPIMachinery
import KubeJSON
import Testing

/// A schema in the shape of kubesnap's Snapshot CRD.
let snapshotSchema = json(
    #"""
    {"type":"object","required":["spec"],
     "properties":{
      "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":{"type":"object"},
      "spec":{"type":"object","required":["repository"],
       "x-kubernetes-validations":[
         {"rule":"has(self.source) != has(self.snapshotID)","message":"exactly one of source and snapshotID must be set","fieldPath":".source"},
         {"rule":"self.repository == oldSelf.repository","message":"repository is immutable"}],
       "properties":{
        "repository":{"type":"string","minLength":1,"maxLength":20,"pattern":"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "source":{"type":"object","properties":{"path":{"type":"string"},"tags":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set","maxItems":3}}},
        "snapshotID":{"type":"string"},
        "deletionPolicy":{"type":"string","enum":["Delete","Retain"],"default":"Delete"},
        "keep":{"type":"integer","minimum":1,"maximum":100,"default":7},
        "ratio":{"type":"number","minimum":0,"exclusiveMinimum":true},
        "schedule":{"type":"object","nullable":true,"properties":{"cron":{"type":"string"}}},
        "deadline":{"type":"string","format":"date-time"},
        "port":{"x-kubernetes-int-or-string":true},
        "env":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
               "items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"value":{"type":"string","default":"none"}}}},
        "params":{"type":"object","additionalProperties":{"type":"object","properties":{"level":{"type":"integer","default":3}}}},
        "extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"known":{"type":"object","properties":{"a":{"type":"string"}}}}}
       }},
      "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}
    """#)

func snapshot(_ spec: String) -> JSONValue {
    json(
        #"{"apiVersion":"kubesnap.io/v1alpha1","kind":"Snapshot","metadata":{"name":"s","namespace":"demo","labels":{"a":"b"}},"spec":"#
            + spec + "}")
}

@Suite struct CRDSchemaTests {
    let schema: CRDSchema
    init() throws { schema = try CRDSchema(openAPIV3Schema: snapshotSchema) }

    func messages(_ spec: String, old: String? = nil) -> [String] {
        schema.validate(snapshot(spec), old: old.map(snapshot)).map(\.message)
    }

    @Test func validObjectHasNoErrors() {
        #expect(
            messages(
                #"{"repository":"repo","source":{"path":"/data"},"deletionPolicy":"Retain","keep":3,"port":"http"}"#
            ) == [])
        #expect(messages(#"{"repository":"repo","snapshotID":"abc","port":8080,"ratio":0.5}"#) == [])
    }

    @Test func requiredAndEnumMessagesAsKube() {
        #expect(messages(#"{"snapshotID":"x"}"#) == ["spec.repository: Required value"])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","deletionPolicy":"Foo"}"#)
                == [#"spec.deletionPolicy: Unsupported value: "Foo": supported values: "Delete", "Retain""#])
        let missingSpec = schema.validate(
            json(#"{"apiVersion":"kubesnap.io/v1alpha1","kind":"Snapshot","metadata":{"name":"s"}}"#),
            old: nil)
        #expect(missingSpec == [FieldError(type: .required, field: "spec", message: "spec: Required value")])
    }

    @Test func typeErrors() {
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","keep":"many"}"#)
                == [
                    #"spec.keep: Invalid value: "string": spec.keep in body must be of type integer: "string""#
                ])
        let errors = schema.validate(snapshot(#"{"repository":"r","snapshotID":"x","keep":1.5}"#), old: nil)
        #expect(errors.first?.type == .typeInvalid)
        #expect(errors.first?.field == "spec.keep")
        #expect(messages(#"{"repository":"r","snapshotID":"x","keep":2.0,"ratio":3}"#) == [])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","port":true}"#)
                == [
                    #"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
                ])
    }

    @Test func stringRules() {
        #expect(
            messages(#"{"repository":"Bad_Name","snapshotID":"x"}"#)
                == [
                    #"spec.repository: Invalid value: "Bad_Name": spec.repository in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"#
                ])
        #expect(
            messages(#"{"repository":"","snapshotID":"x"}"#).contains(
                #"spec.repository: Invalid value: "": spec.repository in body should be at least 1 chars long"#
            ))
        #expect(
            messages(#"{"repository":"aaaaaaaaaaaaaaaaaaaaaaaaa","snapshotID":"x"}"#)
                == ["spec.repository: Too long: may not be more than 20 bytes"])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","deadline":"tomorrow"}"#)
                == [
                    #"spec.deadline: Invalid value: "tomorrow": spec.deadline in body must be of type date-time: "tomorrow""#
                ])
        #expect(messages(#"{"repository":"r","snapshotID":"x","deadline":"2024-05-01T10:00:00Z"}"#) == [])
    }

    @Test func numberBounds() {
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","keep":0}"#)
                == ["spec.keep: Invalid value: 0: spec.keep in body should be greater than or equal to 1"])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","keep":101}"#)
                == ["spec.keep: Invalid value: 101: spec.keep in body should be less than or equal to 100"])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","ratio":0}"#)
                == ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"])
    }

    @Test func listsAndSets() {
        #expect(
            messages(#"{"repository":"r","source":{"tags":["a","b","a"]}}"#) == [
                #"spec.source.tags[2]: Duplicate value: "a""#
            ])
        #expect(
            messages(#"{"repository":"r","source":{"tags":["a","b","c","d"]}}"#) == [
                "spec.source.tags: Too many: 4: must have at most 3 items"
            ])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","env":[{"name":"A"},{"name":"A"}]}"#)
                == [#"spec.env[1]: Duplicate value: map[string]interface {}{"name":"A"}"#])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","env":[{"value":"v"}]}"#) == [
                "spec.env[0].name: Required value"
            ])
    }

    @Test func nullable() {
        #expect(messages(#"{"repository":"r","snapshotID":"x","schedule":null}"#) == [])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x","source":null}"#).contains(
                #"spec.source: Invalid value: "null": spec.source in body must be of type object: "null""#))
        // Defaulting drops the null of a non-nullable field first, as kube-apiserver does.
        var object = snapshot(#"{"repository":"r","snapshotID":"x","deletionPolicy":null,"schedule":null}"#)
        schema.applyDefaults(&object)
        #expect(object["spec"]["deletionPolicy"] == "Delete")
        #expect(object["spec"].objectValue?["schedule"] == .null)
    }

    @Test func celExactlyOneOf() {
        #expect(
            messages(#"{"repository":"r"}"#)
                == [
                    #"spec.source: Invalid value: "object": exactly one of source and snapshotID must be set"#
                ])
        #expect(
            messages(#"{"repository":"r","source":{},"snapshotID":"x"}"#)
                == [
                    #"spec.source: Invalid value: "object": exactly one of source and snapshotID must be set"#
                ])
    }

    @Test func celTransitionRuleOnlyOnUpdate() {
        #expect(messages(#"{"repository":"other","snapshotID":"x"}"#) == [])
        #expect(
            messages(
                #"{"repository":"other","snapshotID":"x"}"#, old: #"{"repository":"r","snapshotID":"x"}"#)
                == [#"spec: Invalid value: "object": repository is immutable"#])
        #expect(
            messages(#"{"repository":"r","snapshotID":"x"}"#, old: #"{"repository":"r","snapshotID":"x"}"#)
                == [])
    }

    /// Kubernetes' CRD validation ratcheting (KEP-4008): values an update left unchanged are not
    /// validated again (an object stored under a looser schema keeps working), changed ones are,
    /// and transition rules run on unchanged values too.
    @Test func updatesRatchetUnchangedValuesButRunTransitionRules() throws {
        let s = try CRDSchema(
            openAPIV3Schema: json(
                #"""
                {"type":"object","properties":{"metadata":{"type":"object"},"spec":{"type":"object","required":["size"],"properties":{
                  "size":{"type":"integer","maximum":5},
                  "name":{"type":"string","pattern":"^[a-z]+$"},
                  "fixed":{"type":"object","x-kubernetes-validations":[{"rule":"self.v != 'frozen'","message":"v is frozen"},{"rule":"oldSelf.v != 'sealed'","message":"v was sealed"}],
                           "properties":{"v":{"type":"string"},"w":{"type":"integer","maximum":1}}},
                  "env":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
                         "items":{"type":"object","x-kubernetes-validations":[{"rule":"self.name == oldSelf.name || oldSelf.name != 'pinned'","message":"pinned"},{"rule":"oldSelf.name != 'sealed'","message":"env entry was sealed"}],
                                  "properties":{"name":{"type":"string"},"value":{"type":"string","maxLength":2}}}}}}}}
                """#))
        func object(_ spec: String, label: String = "a") -> JSONValue {
            json(#"{"metadata":{"labels":{"l":"\#(label)"}},"spec":"# + spec + "}")
        }
        let stored = object(#"{"size":10,"name":"Bad_Name","fixed":{"v":"frozen","w":2},"env":[{"name":"x","value":"long"}]}"#)
        // As a create, every error counts.
        #expect(s.validate(stored, old: nil).count == 5, "\(s.validate(stored, old: nil).map(\.message))")
        // A metadata change keeps every unchanged error out.
        #expect(s.validate(object(#"{"size":10,"name":"Bad_Name","fixed":{"v":"frozen","w":2},"env":[{"name":"x","value":"long"}]}"#, label: "b"), old: stored).map(\.message) == [])
        // A changed value is validated; its unchanged siblings are not.
        #expect(
            s.validate(object(#"{"size":11,"name":"Bad_Name","fixed":{"v":"frozen","w":2},"env":[{"name":"x","value":"long"}]}"#), old: stored).map(\.message)
                == ["spec.size: Invalid value: 11: spec.size in body should be less than or equal to 5"])
        // Transition rules run on unchanged values (here: objects and map-list entries whose
        // old value was sealed), non-transition rules do not.
        let sealed = object(#"{"size":1,"fixed":{"v":"sealed"},"env":[{"name":"sealed"}]}"#)
        #expect(
            s.validate(object(#"{"size":2,"fixed":{"v":"sealed"},"env":[{"name":"sealed"}]}"#), old: sealed).map(\.message)
                == [
                    #"spec.env[0]: Invalid value: "object": env entry was sealed"#,
                    #"spec.fixed: Invalid value: "object": v was sealed"#,
                ])
    }

    @Test func pruning() {
        var object = snapshot(
            #"{"repository":"r","unknown":1,"source":{"path":"/p","bogus":true},"extra":{"anything":{"x":1},"known":{"a":"1","b":"2"}},"params":{"p1":{"level":1,"junk":2}}}"#
        )
        object["status"] = json(#"{"phase":"Ready","other":"x"}"#)
        object["topLevelJunk"] = "x"
        schema.prune(&object)
        #expect(
            object["spec"]
                == json(
                    #"{"repository":"r","source":{"path":"/p"},"extra":{"anything":{"x":1},"known":{"a":"1"}},"params":{"p1":{"level":1}}}"#
                ))
        #expect(object["status"] == json(#"{"phase":"Ready"}"#))
        #expect(object["topLevelJunk"] == .null)
        #expect(object["metadata"]["labels"]["a"] == "b")
        #expect(object["apiVersion"] == "kubesnap.io/v1alpha1")
        let unknown = schema.unknownFieldPaths(
            snapshot(#"{"repository":"r","unknown":1,"source":{"bogus":true},"env":[{"name":"a","x":1}]}"#))
        #expect(unknown == ["spec.env[0].x", "spec.source.bogus", "spec.unknown"])
    }

    @Test func defaultsAtAnyDepth() {
        var object = snapshot(
            #"{"repository":"r","deletionPolicy":"Retain","env":[{"name":"A"},{"name":"B","value":"b"}],"params":{"x":{},"y":{"level":9}}}"#
        )
        schema.applyDefaults(&object)
        #expect(object["spec"]["deletionPolicy"] == "Retain")
        #expect(object["spec"]["keep"] == 7)
        #expect(object["spec"]["env"] == json(#"[{"name":"A","value":"none"},{"name":"B","value":"b"}]"#))
        #expect(object["spec"]["params"] == json(#"{"x":{"level":3},"y":{"level":9}}"#))
        #expect(object["metadata"]["name"] == "s")
    }

    @Test func admitPrunesDefaultsThenValidates() {
        var object = snapshot(#"{"repository":"r","snapshotID":"x","junk":1,"deletionPolicy":null}"#)
        #expect(schema.admit(&object, old: nil) == [])
        #expect(
            object["spec"] == json(#"{"repository":"r","snapshotID":"x","deletionPolicy":"Delete","keep":7}"#)
        )
        var bad = snapshot(#"{"snapshotID":"x"}"#)
        #expect(schema.admit(&bad, old: nil).map(\.message) == ["spec.repository: Required value"])
    }

    @Test func unsupportedRuleFailsAtCRDCreation() {
        let bad = json(
            #"{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-validations":[{"rule":"self.foo.bar(1)"}]}}}"#
        )
        do {
            _ = try CRDSchema(openAPIV3Schema: bad, path: "spec.versions[0].schema.openAPIV3Schema")
            Issue.record("expected a FieldError")
        } catch {
            #expect(
                error.field
                    == "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
            )
            #expect(error.type == .invalid)
            #expect(error.message.contains("compilation failed"))
        }
        #expect(throws: FieldError.self) {
            try CRDSchema(
                openAPIV3Schema: json(
                    #"{"type":"object","x-kubernetes-validations":[{"rule":"self.a ==="}]}"#))
        }
        #expect(throws: FieldError.self) {
            try CRDSchema(
                openAPIV3Schema: json(
                    #"{"type":"object","x-kubernetes-validations":[{"rule":"unknownVar > 1"}]}"#))
        }
        do {
            _ = try CRDSchema(
                openAPIV3Schema: json(
                    #"{"type":"object","properties":{"spec":{"type":"object","properties":{"repository":{"type":"string"}},"x-kubernetes-validations":[{"rule":"has(self.repositry)"}]}}}"#
                ))
            Issue.record("expected undefined field")
        } catch {
            #expect(
                error.message
                    == #"openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: "has(self.repositry)": compilation failed: ERROR: undefined field 'repositry'"#
            )
        }
        #expect(throws: FieldError.self) { try CRDSchema(openAPIV3Schema: json(#"{"type":"thing"}"#)) }
        #expect(throws: FieldError.self) {
            try CRDSchema(openAPIV3Schema: json(#"{"type":"string","pattern":"(["}"#))
        }
    }

    @Test func additionalPropertiesFalseAndMinMaxProperties() throws {
        let s = try CRDSchema(
            openAPIV3Schema: json(
                #"{"type":"object","properties":{"m":{"type":"object","minProperties":1,"maxProperties":2,"additionalProperties":{"type":"string"}}}}"#
            ))
        #expect(
            s.validate(json(#"{"m":{}}"#), old: nil).map(\.message) == [
                "m: Invalid value: 0: m in body should have at least 1 properties"
            ])
        #expect(
            s.validate(json(#"{"m":{"a":"1","b":"2","c":"3"}}"#), old: nil).map(\.message) == [
                "m: Too many: 3: must have at most 2 items"
            ])
        #expect(
            s.validate(json(#"{"m":{"a":1}}"#), old: nil).map(\.message) == [
                #"m[a]: Invalid value: "integer": m[a] in body must be of type string: "integer""#
            ])
    }

    @Test func ruleReasonsAndDefaultMessage() throws {
        let s = try CRDSchema(
            openAPIV3Schema: json(
                #"""
                {"type":"object","properties":{"spec":{"type":"object","properties":{"n":{"type":"integer"},"name":{"type":"string"}},
                  "x-kubernetes-validations":[
                    {"rule":"!has(self.n) || self.n % 2 == 0"},
                    {"rule":"!has(self.name) || self.name.startsWith('ks-')","reason":"FieldValueForbidden","message":"name must start with ks-","fieldPath":".name"},
                    {"rule":"(has(self.n) ? 1 : 0) + (has(self.name) ? 1 : 0) == 1","message":"exactly one"}]}}}
                """#))
        #expect(
            s.validate(json(#"{"spec":{"n":3}}"#), old: nil).map(\.message) == [
                #"spec: Invalid value: "object": failed rule: !has(self.n) || self.n % 2 == 0"#
            ])
        #expect(
            s.validate(json(#"{"spec":{"name":"x"}}"#), old: nil).map(\.message) == [
                "spec.name: Forbidden: name must start with ks-"
            ])
        #expect(
            s.validate(json(#"{"spec":{"name":"ks-a","n":2}}"#), old: nil).map(\.message) == [
                #"spec: Invalid value: "object": exactly one"#
            ])
        #expect(s.validate(json(#"{"spec":{"name":"ks-a"}}"#), old: nil).isEmpty)
    }
}

@Suite struct CELTests {
    func eval(_ rule: String, _ value: String, old: String? = nil) throws -> [FieldError] {
        let s = try CRDSchema(
            openAPIV3Schema: json(
                #"{"type":"object","x-kubernetes-preserve-unknown-fields":true,"x-kubernetes-validations":[{"rule":"#
                    + "\"\(rule.replacingOccurrences(of: "\"", with: "\\\""))\"" + "}]}"))
        return s.validate(json(value), old: old.map { json($0) })
    }
    func holds(_ rule: String, _ value: String = #"{"a":1,"s":"hello","l":[1,2,3],"m":{"k":"v"},"b":true}"#)
        throws -> Bool
    {
        try eval(rule, value).isEmpty
    }

    @Test func operatorsAndLiterals() throws {
        #expect(
            try holds("self.a == 1 && self.a != 2 && self.a < 2 && self.a <= 1 && self.a > 0 && self.a >= 1"))
        #expect(
            try holds(
                "self.a + 2 == 3 && self.s + ' world' == 'hello world' && 7 / 2 == 3 && 7 % 2 == 1 && 2 * 3 - 1 == 5"
            ))
        #expect(try holds("!(self.a == 2) && (false || self.b) && !false"))
        #expect(
            try holds("size(self.s) == 5 && self.s.size() == 5 && self.l.size() == 3 && size(self.m) == 1"))
        #expect(
            try holds(
                "self.s.startsWith('he') && self.s.endsWith(\"lo\") && self.s.contains('ll') && self.s.matches('^h.*o$')"
            ))
        #expect(try holds("self.a == 1 ? true : false"))
        #expect(
            try holds(
                "self.l.all(x, x > 0) && self.l.exists(x, x == 2) && 2 in self.l && 'k' in self.m && self.m.k == 'v' && self.m['k'] == 'v'"
            ))
        #expect(try holds("self.l[0] == 1 && [1, 2] == [1, 2] && 1.5 < 2 && self.a == 1.0 && -1 < 0"))
        #expect(try !holds("self.a == 2"))
        #expect(try !holds("has(self.zzz)"))
    }

    @Test func errorsAreAbsorbedByShortCircuitAndReportedOtherwise() throws {
        #expect(try holds("!has(self.x) || self.x > 0"))
        #expect(try holds("self.x > 0 || true"))
        let errors = try eval("self.x > 0", #"{"a":1}"#)
        #expect(errors.count == 1)
        #expect(errors.first?.message.contains("no such key: x") == true)
        #expect(try !holds("1 / 0 == 1"))
    }

    @Test func matchesCompilesEachPatternOnceAndStillReportsABadOne() throws {
        for _ in 0..<3 {  // the second and third evaluations take the cached regex
            #expect(try holds("self.s.matches('^h.*o$') && !self.s.matches('^x')"))
        }
        let errors = try eval("self.s.matches('([')", #"{"s":"hello"}"#)
        #expect(errors.first?.message.contains("invalid regular expression") == true, "\(errors)")
    }
}
