import KubeJSON
import Testing

/// Cases follow k8s.io/apimachinery/pkg/labels/selector_test.go and fields/selector_test.go.
@Suite struct LabelSelectorTests {
    @Test(arguments: [
        "x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5", "x in (a,b)",
        "x notin (a)", "x in ()", "x in (,a)", "x in (a,)", "x==y", "example.com/app=web",
        "kubesnap.io/repository",
        "a in (in,notin)", "in=notin", " x = y , z ",
    ])
    func goodSelectors(_ text: String) {
        #expect(throws: Never.self) { try LabelSelector(parsing: text) }
    }

    @Test(arguments: [
        "x=a||y=b", "x==a==b", "!x=a", "x<a", "x>1.5", "x in a", "x in (a", "x in (a b)", ",x", "x,", "x=a,",
        "a/b/c=x", "-x=1", "x-=1", "Example.com/x=1", "/x=1", "example.com/=1", "x=-a", "x=a b",
        String(repeating: "k", count: 64) + "=v", "k=" + String(repeating: "v", count: 64), "x in (a,-b)",
        "(x)", "=x",
        "x notin ()x",
    ])
    func badSelectors(_ text: String) {
        #expect(throws: SelectorError.self) { try LabelSelector(parsing: text) }
    }

    @Test func errorMessages() {
        do {
            _ = try LabelSelector(parsing: "x=a,b/c/d=e")
            Issue.record("expected an error")
        } catch {
            #expect(
                error.message.hasPrefix("unable to parse requirement: key: Invalid value: \"b/c/d\""),
                "\(error)")
        }
        do {
            _ = try LabelSelector(parsing: "x==a==b")
            Issue.record("expected an error")
        } catch {
            #expect(
                error.message == "unable to parse requirement: found '==', expected: ',' or 'end of string'")
        }
    }

    @Test(
        arguments: [
            ("", ["x": "y"], true),
            ("x=y", ["x": "y"], true),
            ("x=y,z=w", ["x": "y", "z": "w"], true),
            ("x!=y,z!=w", ["x": "z", "z": "a"], true),
            ("notin=in", ["notin": "in"], true),
            ("x", ["x": "z"], true),
            ("!x", ["y": "z"], true),
            ("x>1", ["x": "2"], true),
            ("x<1", ["x": "0"], true),
            ("x=z", [:], false),
            ("x=y", ["x": "z"], false),
            ("x=y,z=w", ["x": "w", "z": "w"], false),
            ("x!=y,z!=w", ["x": "z", "z": "w"], false),
            ("x", ["y": "z"], false),
            ("!x", ["x": "z"], false),
            ("x>1", ["x": "0"], false),
            ("x<1", ["x": "2"], false),
            ("x>1", ["x": "abc"], false),
            ("x>1", [:], false),
            ("x!=y", [:], true),
            ("x in (a,b)", ["x": "b"], true),
            ("x in (a,b)", ["x": "c"], false),
            ("x in (a,b)", [:], false),
            ("x notin (a,b)", ["x": "c"], true),
            ("x notin (a,b)", ["x": "a"], false),
            ("x notin (a,b)", [:], true),
            ("x in ()", ["x": ""], true),
            ("x=", ["x": ""], true),
            ("x=", [:], false),
            ("foo=bar,foobar=bar,baz=blah", ["foo": "bar", "baz": "blah"], false),
            ("kubesnap.io/repository=repo-1,!kubesnap.io/paused", ["kubesnap.io/repository": "repo-1"], true),
        ] as [(String, [String: String], Bool)])
    func matching(_ text: String, _ labels: [String: String], _ expected: Bool) throws {
        #expect(try LabelSelector(parsing: text).matches(labels) == expected)
    }

    @Test func canonicalStringSortsByKey() throws {
        let selector = try LabelSelector(parsing: "z=1, a in (c,b,c),!m,k,n notin (x),g>3,h==2")
        #expect(selector.description == "a in (b,c),g>3,h==2,k,!m,n notin (x),z=1")
        #expect(try LabelSelector(parsing: selector.description) == selector)
        #expect(try LabelSelector(parsing: "b=1,a=2") == LabelSelector(parsing: "a=2,b=1"))
        #expect(try LabelSelector(parsing: "").isEverything)
    }

    @Test func metaV1LabelSelector() throws {
        let selector = try LabelSelector(
            [
                "matchLabels": ["app": "web"],
                "matchExpressions": [
                    ["key": "tier", "operator": "In", "values": ["frontend", "edge"]],
                    ["key": "env", "operator": "NotIn", "values": ["dev"]],
                    ["key": "kubesnap.io/repository", "operator": "Exists"],
                    ["key": "paused", "operator": "DoesNotExist"],
                ],
            ])
        #expect(selector.matches(["app": "web", "tier": "edge", "kubesnap.io/repository": ""]))
        #expect(
            !selector.matches(["app": "web", "tier": "edge", "kubesnap.io/repository": "", "paused": "x"]))
        #expect(
            !selector.matches(["app": "web", "tier": "edge", "env": "dev", "kubesnap.io/repository": ""]))
        #expect(!selector.matches(["app": "web", "tier": "back", "kubesnap.io/repository": ""]))
        #expect(!selector.matches(["app": "api", "tier": "edge", "kubesnap.io/repository": ""]))
        #expect(
            selector.description
                == "app=web,env notin (dev),kubesnap.io/repository,!paused,tier in (edge,frontend)")
        #expect(
            selector.matches(object: [
                "metadata": ["labels": ["app": "web", "tier": "edge", "kubesnap.io/repository": "r"]]
            ]))

        // Empty selects everything, null nothing.
        #expect(try LabelSelector(JSONValue.emptyObject).matches([:]))
        #expect(try LabelSelector(["matchLabels": [:]]).matches(["a": "b"]))
        #expect(try !LabelSelector(JSONValue.null).matches([:]))
        #expect(try LabelSelector(JSONValue.null) == .nothing)
    }

    @Test func badMetaV1LabelSelectors() {
        let bad: [JSONValue] = [
            ["matchExpressions": [["key": "a", "operator": "Equals", "values": ["x"]]]],
            ["matchExpressions": [["key": "a", "operator": "In", "values": []]]],
            ["matchExpressions": [["key": "a", "operator": "In"]]],
            ["matchExpressions": [["key": "a", "operator": "Exists", "values": ["x"]]]],
            ["matchExpressions": [["operator": "Exists"]]],
            ["matchLabels": ["a": 1]],
            ["matchLabels": ["bad key": "x"]],
            ["matchLabels": ["a": "bad value"]],
            "app=web",
        ]
        for selector in bad {
            #expect(throws: SelectorError.self, "\(selector)") { try LabelSelector(selector) }
        }
    }

    @Test func labelSyntax() {
        #expect(LabelSelector.labelKeyErrors("app.kubernetes.io/name").isEmpty)
        #expect(LabelSelector.labelKeyErrors(String(repeating: "a", count: 63)).isEmpty)
        #expect(!LabelSelector.labelKeyErrors(String(repeating: "a", count: 64)).isEmpty)
        #expect(!LabelSelector.labelKeyErrors("Upper.Example.com/x").isEmpty)
        #expect(!LabelSelector.labelKeyErrors(String(repeating: "a", count: 254) + "/x").isEmpty)
        #expect(LabelSelector.labelKeyErrors("My_Name.1").isEmpty)
        #expect(!LabelSelector.labelKeyErrors("_x").isEmpty)
        #expect(!LabelSelector.labelKeyErrors("").isEmpty)
        #expect(LabelSelector.labelValueErrors("").isEmpty)
        #expect(LabelSelector.labelValueErrors("v1.2_3-x").isEmpty)
        #expect(!LabelSelector.labelValueErrors("x.").isEmpty)
        #expect(!LabelSelector.labelValueErrors("a/b").isEmpty)
        #expect(!LabelSelector.labelValueErrors(String(repeating: "v", count: 64)).isEmpty)
    }
}

@Suite struct FieldSelectorTests {
    let object: JSONValue = [
        "metadata": ["name": "web-0", "namespace": "shop"],
        "spec": ["nodeName": "node-1", "replicas": 3, "paused": false],
        "status": ["phase": "Running"],
    ]

    @Test(
        arguments: [
            ("", true),
            ("metadata.name=web-0", true),
            ("metadata.name==web-0", true),
            ("metadata.name!=web-0", false),
            ("metadata.namespace=shop,metadata.name=web-0", true),
            ("metadata.namespace!=shop", false),
            ("metadata.namespace!=other,status.phase=Running", true),
            ("status.phase=Pending", false),
            ("spec.replicas=3", true),
            ("spec.paused=false", true),
            ("spec.missing=", true),
            ("spec.missing!=", false),
            ("metadata.name=web-1", false),
            ("metadata.name= web-0", false),
        ] as [(String, Bool)])
    func matching(_ text: String, _ expected: Bool) throws {
        #expect(try FieldSelector(parsing: text).matches(object) == expected)
    }

    @Test func escapes() throws {
        let selector = try FieldSelector(parsing: #"metadata.name=a\,b\=c\\d"#)
        #expect(
            selector.terms == [
                FieldSelector.Term(field: "metadata.name", operator: .equals, value: #"a,b=c\d"#)
            ])
        #expect(selector.matches(["metadata": ["name": #"a,b=c\d"#]]))
        #expect(try FieldSelector(parsing: selector.description) == selector)
    }

    @Test(arguments: ["metadata.name", "a=b=c", #"a=b\x"#, #"a=b\"#, "a!b", "a=b,c"])
    func bad(_ text: String) {
        #expect(throws: SelectorError.self) { try FieldSelector(parsing: text) }
    }

    @Test func termsAreSortedAndEmptyTermsIgnored() throws {
        let selector = try FieldSelector(parsing: "metadata.namespace=b,,metadata.name=a")
        #expect(selector.terms.map(\.field) == ["metadata.name", "metadata.namespace"])
        #expect(selector.description == "metadata.name=a,metadata.namespace=b")
        #expect(try FieldSelector(parsing: "").isEverything)
    }
}
