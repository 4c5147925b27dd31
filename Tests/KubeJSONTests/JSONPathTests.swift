import Foundation
import KubeJSON
import KubeTestSupport
import Testing

/// Templates run through our JSONPath and through `kubectl -o jsonpath` on the same object.
/// kubectl prints without a cluster through `kubectl patch --local -f F --type merge -p {}`.
@Suite struct JSONPathKubectlTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var template: String
        /// kubectl walks Go maps in random order; compare the space-separated words as a set.
        var unordered = false
        var testDescription: String { template }
    }

    static let cases: [Case] = [
        Case(template: "{.metadata.name}"),
        Case(template: "{$.metadata.name}"),
        Case(template: "{@.kind}"),
        Case(template: "{.metadata.labels.kubesnap\\.io/repository}"),
        Case(template: "{.metadata.labels['kubesnap\\.io/repository']}"),
        Case(template: "{['kind']}"),
        Case(template: "{.metadata.annotations.nothing}"),
        Case(template: "{.metadata.annotations.empty}|"),
        Case(template: "{.metadata.missing}"),
        Case(template: "{.metadata.name.deeper}"),
        Case(template: "{.spec.enabled} {.status.count} {.status.negative}"),
        Case(template: "{.status.ratio} {.status.big} {.status.medium} {.status.tiny}"),
        Case(template: "{.spec.containers[*].name}"),
        Case(template: "{.spec.containers[0].name}"),
        Case(template: "{.spec.containers[-1].name}"),
        Case(template: "{.spec.containers[0:1].name}"),
        Case(template: "{.spec.containers[1:].name}"),
        Case(template: "{.spec.containers[:1].image}"),
        Case(template: "{.status.conditions[0:3:2].type}"),
        Case(template: "{.status.conditions[1:1].type}"),
        Case(template: "{.spec.containers[5].name}"),
        Case(template: "{.spec.containers[-3].name}"),
        Case(template: "{.spec.volumes[*]}"),
        Case(template: "{.spec.volumes[0]}"),
        Case(template: "{.spec.volumes}"),
        Case(template: "{.spec.containers[0]}"),
        Case(template: "{.spec.containers[0].args}"),
        Case(template: "{.spec.containers[*].ports[*].containerPort}"),
        Case(template: "{.spec.containers[*]['name','image']}"),
        Case(template: "{.status.conditions[0,2].type}"),
        Case(template: "{..containerPort}"),
        Case(template: "{..ports[0].containerPort}"),
        Case(template: "{.spec.containers..name}"),
        Case(template: "{..name}", unordered: true),
        Case(template: "{.status.conditions[?(@.type==\"Ready\")].status}"),
        Case(template: "{.status.conditions[?(@.type=='Ready')].status}"),
        Case(template: "{.status.conditions[?(@.status!=\"True\")].type}"),
        Case(template: "{.status.conditions[?(@.priority>1)].type}"),
        Case(template: "{.status.conditions[?(@.priority<2)].type}"),
        Case(template: "{.status.conditions[?(@.priority>=2)].type}"),
        Case(template: "{.status.conditions[?(@.priority<=2)].type}"),
        Case(template: "{.status.conditions[?(@.type<\"Ready\")].type}"),
        Case(template: "{.status.conditions[?(@.weight)].type}"),
        Case(template: "{.status.conditions[?(@.weight > 0.1)].type}"),
        Case(template: "{.status.conditions[?(@.priority == 1.0)].type}"),
        Case(template: "{.status.conditions[?(@.priority == \"1\")].type}"),
        Case(template: "{.spec.containers[?(@.ports[0].containerPort==9090)].name}"),
        Case(template: "{.spec.containers[?(@.ports[*].containerPort==9090)].name}"),
        Case(template: "{range .spec.containers[*]}{.name}{\"\\t\"}{.image}{\"\\n\"}{end}"),
        Case(template: "{range .spec.containers[*]}{range .ports[*]}{.containerPort},{end};{end}"),
        Case(template: "{range .status.conditions[?(@.status==\"True\")]}[{.type}]{end}"),
        Case(template: "{range .spec.volumes[*]}x{end}done"),
        Case(template: "name={.metadata.name} ns={.metadata.namespace}\n"),
        Case(template: "{'single\\tquoted'}{\"\\u00e9\\x41\"}"),
        Case(template: "{.metadata.name[0]}"),
        Case(template: "{.metadata.labels.*}", unordered: true),
        Case(template: "{.status.conditions[*].weight}"),
        Case(template: "{.metadata.name"),
        Case(template: "{.spec.containers[}"),
        Case(template: "{.spec.containers[?(@.name=~\"a\")]}"),
        Case(template: "{end}"),
        Case(template: "{.spec.containers[?(@.name=>\"a\")]}"),
    ]

    @Test(arguments: cases)
    func matchesKubectl(_ testCase: Case) async throws {
        guard let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            Issue.record("no fixtures")
            return
        }
        let path = fixtures.appendingPathComponent("jsonpath/pod.yaml").path
        let object = try YAML.parse(try String(contentsOfFile: path, encoding: .utf8))
        let home = try TemporaryDirectory(prefix: "jsonpath")
        defer { home.remove() }
        let result = try await runCommand(
            "/usr/bin/kubectl",
            [
                "patch", "--local", "-f", path, "--type", "merge", "-p", "{}", "-o",
                "jsonpath=" + testCase.template,
            ],
            environment: ["PATH": "/usr/bin:/bin", "HOME": home.path, "KUBECONFIG": home.appending("none")])
        let ours: Result<String, JSONPathError>
        do throws(JSONPathError) {
            ours = .success(try JSONPath(testCase.template).render(object))
        } catch {
            ours = .failure(error)
        }
        switch ours {
        case .success(let text):
            #expect(
                result.succeeded, "kubectl failed where we printed \(text.debugDescription): \(result.stderr)"
            )
            if testCase.unordered {
                #expect(
                    Set(text.split(separator: " ")) == Set(result.stdout.split(separator: " ")),
                    "\(result.stdout)")
            } else {
                #expect(text == result.stdout)
            }
        case .failure(let error):
            #expect(
                !result.succeeded,
                "we failed (\(error)) where kubectl printed \(result.stdout.debugDescription)")
            let kubectlMessage = result.stderr
            #expect(
                kubectlMessage.contains(error.message), "ours: \(error.message)\nkubectl: \(kubectlMessage)")
        }
    }
}

/// The examples of https://kubernetes.io/docs/reference/kubectl/jsonpath/ (the doc prints maps
/// in Go's old `map[cpu:4]` form; kubectl prints JSON).
@Suite struct JSONPathDocumentationTests {
    static let input: JSONValue = {
        let text = """
            {"kind":"List","items":[
              {"kind":"None","metadata":{"name":"127.0.0.1","labels":{"kubernetes.io/hostname":"127.0.0.1"}},
               "status":{"capacity":{"cpu":"4"},"addresses":[{"type":"LegacyHostIP","address":"127.0.0.1"}]}},
              {"kind":"None","metadata":{"name":"127.0.0.2"},
               "status":{"capacity":{"cpu":"8"},"addresses":[{"type":"LegacyHostIP","address":"127.0.0.2"},{"type":"another","address":"127.0.0.3"}]}}],
             "users":[{"name":"myself","user":{}},{"name":"e2e","user":{"username":"admin","password":"secret"}}]}
            """
        return (try? JSONValue.parse(text)) ?? .null
    }()

    @Test(arguments: [
        ("{.kind}", "List"),
        ("{['kind']}", "List"),
        ("{.items[0].metadata.name}", "127.0.0.1"),
        ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
        ("{.users[0].name}", "myself"),
        ("{.items[*]['metadata.name', 'status.capacity']}", #"127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}"#),
        ("{.users[?(@.name==\"e2e\")].user.password}", "secret"),
        ("{.items[0].metadata.labels.kubernetes\\.io/hostname}", "127.0.0.1"),
        (
            "{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
            #"[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] "#
        ),
        ("{.items[-1:].metadata.name}", "127.0.0.2"),
        ("{..address}", "127.0.0.1 127.0.0.2 127.0.0.3"),
        ("{.items[*].status.addresses[?(@.type==\"another\")].address}", "127.0.0.3"),
        ("{.users[1].user}", #"{"password":"secret","username":"admin"}"#),
        ("{.users[0].user}", "{}"),
    ])
    func documentedExample(_ template: String, _ expected: String) throws {
        #expect(try JSONPath(template).render(Self.input) == expected)
    }

    @Test func recursiveDescentOrderIsDeterministic() throws {
        #expect(try JSONPath("{..name}").render(Self.input) == "127.0.0.1 127.0.0.2 myself e2e")
    }
}

@Suite struct JSONPathUnitTests {
    let object: JSONValue = [
        "metadata": [
            "name": "snap-1",
            "labels": ["kubesnap.io/repository": "repo-a", "key.with.dots": "dotted", "a": ["b": "nested"]],
        ],
        "status": [
            "phase": "Succeeded",
            "conditions": [
                ["type": "Ready", "status": "True"], ["type": "Progressing", "status": "False"],
            ],
        ],
        "spec": ["repositories": ["r1", "r2"]],
    ]

    /// Printer-column paths (no braces) as CRD additionalPrinterColumns use them.
    @Test func printerColumnPaths() throws {
        #expect(try JSONPath(".status.phase").evaluate(object) == ["Succeeded"])
        #expect(try JSONPath("status.phase").evaluate(object) == ["Succeeded"])
        #expect(try JSONPath(".spec.repositories").evaluate(object) == [["r1", "r2"]])
        #expect(try JSONPath(".spec.repositories[*]").evaluate(object) == ["r1", "r2"])
        #expect(try JSONPath(#".metadata.labels['kubesnap\.io/repository']"#).evaluate(object) == ["repo-a"])
        #expect(try JSONPath(#".status.conditions[?(@.type=="Ready")].status"#).evaluate(object) == ["True"])
        #expect(try JSONPath(".status.missing").evaluate(object) == [])
        #expect(try JSONPath(".spec.repositories[7]").evaluate(object) == [])  // an error selects nothing
    }

    /// `['a.b']` is the path `.a.b` in kubectl; we fall back on the literal key when that path
    /// selects nothing.
    @Test func bracketKeyWithDots() throws {
        #expect(try JSONPath("{.metadata.labels['key.with.dots']}").render(object) == "dotted")
        #expect(try JSONPath("{.metadata.labels['a.b']}").render(object) == "nested")
        #expect(try JSONPath("{.metadata['labels.a']}").render(object) == #"{"b":"nested"}"#)
        #expect(try JSONPath("{.metadata.labels['a b']}").render(object) == "")
    }

    @Test func renderingScalars() throws {
        let value: JSONValue = [
            "n": nil, "t": true, "i": -3, "d": 0.25, "s": "x y", "e": 1e-7, "m": 1234567.5,
        ]
        #expect(
            try JSONPath("{.n} {.t} {.i} {.d} {.s} {.e} {.m}").render(value)
                == "null true -3 0.25 x y 1e-07 1.2345675e+06")
        #expect(try JSONPath("{@}").render(["b": 1, "a": "<&>"]) == #"{"a":"\u003c\u0026\u003e","b":1}"#)
        #expect(try JSONPath("").render(value) == "")
    }

    @Test func resultsPerAction() throws {
        let results = try JSONPath("{.spec.repositories[*]}-{.metadata.name}").results(object)
        #expect(results == [["r1", "r2"], ["-"], ["snap-1"]])
    }

    @Test func parseErrors() {
        for bad in [
            "{.a", "{.a[}", "{.a[x]}", "{.a[?(@.x=~1)]}", "{end}", "{foo}", "{.a[1:2:3:4]}", "{'abc}",
            "{.a[?(@.b==\"x\")}", "{....a}", "{\"\\q\"}",
        ] {
            #expect(throws: JSONPathError.self, "\(bad)") { try JSONPath(bad) }
        }
    }

    @Test func evaluationErrors() throws {
        #expect(throws: JSONPathError.self) { try JSONPath("{.spec.repositories[5]}").render(object) }
        #expect(throws: JSONPathError.self) { try JSONPath("{.metadata.name[0]}").render(object) }
        #expect(throws: JSONPathError.self) { try JSONPath("{.metadata[?(@.x)]}").render(object) }
        #expect(throws: JSONPathError.self) { try JSONPath("{.spec.repositories[0:2:0]}").render(object) }
        #expect(throws: JSONPathError.self) {
            try JSONPath("{.items[?(@.n > \"a\")]}").render(["items": [["n": 1]]])
        }
        #expect(throws: JSONPathError.self) {
            try JSONPath("{.items[?(@.n > true)]}").render(["items": [["n": true]]])
        }
    }
}
