import Testing

@testable import KubeJSON

@Suite struct YAMLScalarTests {
    /// `v: <text>` read as a document; the value of `v`.
    func value(_ text: String) throws -> JSONValue {
        try YAML.parse("v: \(text)")["v"]
    }

    @Test(arguments: ["~", "null", "Null", "NULL", ""])
    func nulls(_ text: String) throws {
        #expect(try value(text) == .null)
    }

    @Test(arguments: [
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    ])
    func trues(_ text: String) throws {
        #expect(try value(text) == .bool(true))
    }

    @Test(arguments: ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"])
    func falses(_ text: String) throws {
        #expect(try value(text) == .bool(false))
    }

    @Test(arguments: ["yEs", "t", "T", "f", "nO", "oN", "nil", "None", "nULL", "tRUE"])
    func wordsThatStayStrings(_ text: String) throws {
        #expect(try value(text) == .string(text))
    }

    @Test(
        arguments: [
            ("0", 0), ("-0", 0), ("12", 12), ("+5", 5), ("-17", -17), ("0x1F", 31), ("0X1f", 31),
            ("-0x1F", -31), ("0o17", 15), ("0O17", 15), ("017", 15), ("-017", -15), ("0b101", 5),
            ("1_000", 1000), ("1__0", 10), ("0x_1F", 31), ("9223372036854775807", Int64.max),
            ("-9223372036854775808", Int64.min),
        ] as [(String, Int64)])
    func integers(_ text: String, _ expected: Int64) throws {
        #expect(try value(text) == .int(expected))
    }

    @Test(
        arguments: [
            ("1.5", 1.5), ("-1.5", -1.5), (".5", 0.5), ("-.5", -0.5), ("+.5", 0.5), ("1e-7", 1e-7),
            ("6.02e23", 6.02e23), ("1e21", 1e21), ("1_000.5", 1000.5), ("0.1", 0.1), (".5e1x", .nan),
        ] as [(String, Double)])
    func floats(_ text: String, _ expected: Double) throws {
        if expected.isNaN {
            #expect(try value(text) == .string(text))
        } else {
            #expect(try value(text) == .double(expected))
        }
    }

    /// Integral floats come out as integers, as after kubectl's trip through JSON.
    @Test(
        arguments: [
            ("1e3", 1000), ("1E3", 1000), ("3.0", 3), ("5.", 5), ("08", 8), ("09.5e1", 95), ("1e-400", 0),
        ] as [(String, Int64)])
    func integralFloats(_ text: String, _ expected: Int64) throws {
        #expect(try value(text) == .int(expected))
    }

    @Test func bigNumbers() throws {
        #expect(try value("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try value("18446744073709551615") == .double(Double(UInt64.max)))
        #expect(try value("1e19") == .double(1e19))
        #expect(try value("1e400") == .string("1e400"))
        #expect(try value("+9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test func specialFloats() throws {
        for text in [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"] {
            #expect(try value(text) == .double(.infinity), "\(text)")
        }
        for text in ["-.inf", "-.Inf", "-.INF"] {
            #expect(try value(text) == .double(-.infinity), "\(text)")
        }
        for text in [".nan", ".NaN", ".NAN"] {
            #expect(try value(text).doubleValue?.isNaN == true, "\(text)")
        }
        #expect(try value(".infinity") == .string(".infinity"))
        #expect(try value(".iNf") == .string(".iNf"))
    }

    @Test(arguments: [
        "0x", "0xG", "1-2", "1.2.3", "2001-12-14", "2001-12-14T21:59:43.10-05:00", "10Gi", "1e", "_1",
        "100m", "1.5Gi", "v1", "+", ".", "..", "0b2", "0o8", "1 2", "<<", "=", "1e+",
    ])
    func stringsThatLookNumeric(_ text: String) throws {
        #expect(try value(text) == .string(text))
    }

    @Test func quotedAndBlockScalarsStayStrings() throws {
        let doc = try YAML.parse(
            """
            a: "123"
            b: 'yes'
            c: "null"
            d: ''
            e: |
              true
            f: >-
              12
            g: |-
              ~
            h: "0x1F"
            """)
        #expect(doc["a"] == "123")
        #expect(doc["b"] == "yes")
        #expect(doc["c"] == "null")
        #expect(doc["d"] == "")
        #expect(doc["e"] == "true\n")
        #expect(doc["f"] == "12")
        #expect(doc["g"] == "~")
        #expect(doc["h"] == "0x1F")
    }

    @Test func blockScalarStyles() throws {
        let doc = try YAML.parse(
            """
            literal: |
              a
               b

              c
            keep: |+
              x

            strip: |-
              x
            folded: >
              one
              two

              three
            foldedStrip: >-
              one
              two
            indented: |2
                two spaces
              none
            end: 1
            """)
        #expect(doc["literal"] == "a\n b\n\nc\n")
        #expect(doc["keep"] == "x\n\n")
        #expect(doc["strip"] == "x")
        #expect(doc["folded"] == "one two\nthree\n")
        #expect(doc["foldedStrip"] == "one two")
        #expect(doc["indented"] == "  two spaces\nnone\n")
    }

    @Test func explicitTags() throws {
        let doc = try YAML.parse(
            """
            str: !!str 123
            strBool: !!str yes
            int: !!int "42"
            float: !!float 3
            floatFraction: !!float "2.5"
            bool: !!bool "on"
            nullTagged: !!null ""
            binary: !!binary aGVsbG8=
            custom: !custom 12
            nonSpecific: ! 12
            verbatim: !<tag:yaml.org,2002:int> "7"
            """)
        #expect(doc["str"] == "123")
        #expect(doc["strBool"] == "yes")
        #expect(doc["int"] == 42)
        #expect(doc["float"] == 3)
        #expect(doc["floatFraction"] == 2.5)
        #expect(doc["bool"] == true)
        #expect(doc.objectValue?["nullTagged"] == .some(.null))
        #expect(doc["binary"] == "hello")
        #expect(doc["custom"] == "12")
        #expect(doc["nonSpecific"] == "12")
        #expect(doc["verbatim"] == 7)
    }

    @Test func tagMismatchIsAnError() {
        for text in ["v: !!int abc", "v: !!bool 1", "v: !!int 1.5", "v: !!null x", "v: !!binary '%%%'"] {
            #expect(throws: YAMLError.self, "\(text)") { try YAML.parse(text) }
        }
        do {
            _ = try YAML.parse("a: 1\nv: !!int abc")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "cannot decode !!str `abc` as a !!int")
            #expect(error.line == 2)
            #expect(error.column == 4)
        }
    }

    /// Non-string keys become strings as sigs.k8s.io/yaml makes them.
    @Test func mapKeys() throws {
        let doc = try YAML.parse(
            """
            yes: a
            no: b
            12: c
            0x10: d
            1.5: e
            1e6: f
            1e3: g
            0.0001: h
            0.00001: i
            .inf: j
            -.inf: k
            .nan: l
            123456: m
            1234567.0: nn
            ? explicit
            : o
            """)
        #expect(
            doc
                == [
                    "true": "a", "false": "b", "12": "c", "16": "d", "1.5": "e", "1e+06": "f", "1000": "g",
                    "0.0001": "h", "1e-05": "i", ".inf": "j", "-.inf": "k", ".nan": "l", "123456": "m",
                    "1.234567e+06": "nn", "explicit": "o",
                ])
    }

    @Test func refusedKeys() {
        for text in ["~: 1", "null: 1", "? [a]\n: 1", "{a: 1}: 2", "18446744073709551615: x"] {
            #expect(throws: YAMLError.self, "\(text)") { try YAML.parse(text) }
        }
    }

    @Test func duplicateKeysLastWins() throws {
        #expect(try YAML.parse("a: 1\na: 2") == ["a": 2])
    }
}

@Suite struct YAMLStructureTests {
    @Test func multiDocumentStream() throws {
        let docs = try YAML.parseAll(
            """
            # leading comment
            ---
            a: 1
            ---
            # only a comment
            ---
            ~
            ---
            [1, 2]
            ...
            --- plain
            ---
            """)
        #expect(docs == [["a": 1], [1, 2], "plain"])
        #expect(try YAML.parseAll("") == [])
        #expect(try YAML.parseAll("---\n---\n") == [])
        #expect(try YAML.parse("") == .null)
        #expect(try YAML.parse("# nothing\n") == .null)
    }

    @Test func parseRefusesSeveralDocuments() {
        do {
            _ = try YAML.parse("a: 1\n---\nb: 2\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.message.contains("found 2"))
        }
    }

    @Test func flowAndBlockStyles() throws {
        let doc = try YAML.parse(
            """
            flow: {a: [1, 2, {b: c}], "d": null, e: }
            block:
              - x
              - - nested
                - list
              - key: value
                other: [ ]
            compact:
            - a: 1
              b: 2
            json: {"k": [true, false, 1.5, "s"]}
            """)
        #expect(doc["flow"] == ["a": [1, 2, ["b": "c"]], "d": nil, "e": nil])
        #expect(doc["block"] == ["x", ["nested", "list"], ["key": "value", "other": []]])
        #expect(doc["compact"] == [["a": 1, "b": 2]])
        #expect(doc["json"] == ["k": [true, false, 1.5, "s"]])
    }

    @Test func anchorsAliasesAndMerges() throws {
        let doc = try YAML.parse(
            """
            base: &base {cpu: 1, mem: 2}
            scalar: &s hello
            again: *s
            list: [*s, *base]
            merged:
              <<: *base
              mem: 3
            overridden:
              mem: 9
              <<: *base
            mergeList:
              <<: [{cpu: 5, gpu: 1}, *base]
            aliasKey:
              *s : world
            notMerge:
              "<<": text
            taggedMerge:
              !!merge <<: {z: 1}
            """)
        #expect(doc["again"] == "hello")
        #expect(doc["list"] == ["hello", ["cpu": 1, "mem": 2]])
        #expect(doc["merged"] == ["cpu": 1, "mem": 3])
        // go-yaml v2 (and so kubectl) applies members in order: the merge overwrites `mem: 9`.
        #expect(doc["overridden"] == ["cpu": 1, "mem": 2])
        #expect(doc["mergeList"] == ["cpu": 5, "gpu": 1, "mem": 2])
        #expect(doc["aliasKey"] == ["hello": "world"])
        #expect(doc["notMerge"] == ["<<": "text"])
        #expect(doc["taggedMerge"] == ["z": 1])
    }

    @Test func badMergesAndAliases() {
        let cases = [
            ("a:\n  <<: 1\n", 2),
            ("a:\n  <<: [1]\n", 2),
            ("a: *nope\n", 1),
            ("a: &x [*x]\n", 1),
        ]
        for (text, line) in cases {
            do {
                _ = try YAML.parse(text)
                Issue.record("expected an error for \(text)")
            } catch {
                #expect(error.line == line, "\(text): \(error)")
            }
        }
    }

    /// "Billion laughs": nine levels of ten aliases would expand to 10^9 nodes.
    @Test func excessiveAliasingIsRefused() {
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        let letters = Array("abcdefghij")
        for i in 1..<letters.count {
            let previous = letters[i - 1]
            let refs = Array(repeating: "*\(previous)", count: 10).joined(separator: ",")
            text += "\(letters[i]): &\(letters[i]) [\(refs)]\n"
        }
        do {
            _ = try YAML.parse(text)
            Issue.record("expected excessive aliasing to be refused")
        } catch {
            #expect(error.message == "document contains excessive aliasing")
            #expect(error.line > 1)
        }
        // Modest reuse is fine.
        #expect(throws: Never.self) {
            try YAML.parse("a: &a [1, 2, 3]\nb: [*a, *a, *a, *a]\n")
        }
    }

    @Test func depthLimit() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: YAMLError.self) { try YAML.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try YAML.parse(ok) }
    }

    @Test func syntaxErrorsCarryPositions() {
        let cases: [(String, Int, Int)] = [
            ("a: b: c\n", 1, 5),
            ("a: 1\nb: [1, 2\n", 3, 1),
            ("a:\n  b: 1\n c: 2\n", 3, 2),
            ("key: \"unterminated\n", 2, 1),
            ("a: 1\n\tb: 2\n", 2, 1),
            ("list: [a, , b]\n", 1, 11),
            ("a: 1\n- b\n", 2, 1),
            ("a: @x\n", 1, 4),
        ]
        for (text, line, column) in cases {
            do {
                _ = try YAML.parseAll(text)
                Issue.record("expected an error for \(text.debugDescription)")
            } catch {
                #expect(error.line == line && error.column == column, "\(text.debugDescription): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test func controlCharactersAreAnError() {
        do {
            _ = try YAML.parse("a: 1\nb: x\u{01}y\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 2, "\(error)")
        }
    }

    /// Random and truncated inputs never crash or hang.
    @Test func garbageNeverCrashes() {
        let samples = [
            "{", "[", "}", "]", "&", "*", "!", "|", ">", "%YAML 1.1\n", "%FOO\n---\n", "? ", ": ", "- - -",
            "a: |\n b\nc", "\"\\", "'", "!<", "&a *a", "--- !!map\n", "a: !!seq\n", "[a: b]", "{a, b: c}",
            "\u{FEFF}a: 1", "a:\n- b\n  - c", "a: &x\n  &y b: 1",
        ]
        for sample in samples {
            _ = try? YAML.parseAll(sample)
        }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab:- \n[]{},&*!|>'\"#?%@`\t0.~<")
        for _ in 0..<500 {
            let length = Int.random(in: 0..<40, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator) ?? "a" })
            _ = try? YAML.parseAll(text)
        }
    }
}

@Suite struct YAMLSerializeTests {
    @Test func layout() {
        let value: JSONValue = [
            "apiVersion": "v1", "kind": "Config",
            "clusters": [["name": "a", "cluster": ["server": "https://x:6443"]]],
            "list": [[1, 2], [], [:]], "empty": [:], "script": "line1\nline2\n",
        ]
        #expect(
            YAML.serialize(value) == """
                apiVersion: v1
                clusters:
                - cluster:
                    server: https://x:6443
                  name: a
                empty: {}
                kind: Config
                list:
                - - 1
                  - 2
                - []
                - {}
                script: |
                  line1
                  line2

                """)
    }

    @Test func stringsThatWouldResolveAreQuoted() throws {
        let tricky = [
            "yes", "no", "on", "off", "y", "n", "true", "null", "~", "", "123", "0x1F", "017", "1e3", ".5",
            ".inf",
            "1_000", "<<", "- a", "a: b", "a #b", "#c", "key:", " lead", "trail ", "@x", "`x", "%x", "!x",
            "&x",
            "*x", "|", ">", "'", "\"", "{", "[", "2001-12-14", "tab\there", "new\nline", "\n", "a\r\nb",
            "back\\slash", "é ✓", "\u{01}", "\u{85}", "\u{2028}", "a\n\n", "  indented\nblock", "x\n ", "---",
            "...", "? x", "-", "=", "10Gi", "100m", "0.1", "+5", "text with 'quotes'",
        ]
        for string in tricky {
            var value: JSONValue = ["k": .string(string), "list": [.string(string)]]
            value[string] = "v"
            let text = YAML.serialize(value)
            #expect((try? YAML.parse(text)) == value, "\(string.debugDescription) ->\n\(text)")
            #expect(
                (try? YAML.parse(YAML.serialize(.string(string)))) == .string(string),
                "\(string.debugDescription)")
        }
    }

    @Test func plainWhereSafe() {
        #expect(
            YAML.serialize(["image": "nginx:1.25", "path": "/var/lib", "name": "web-1"])
                == "image: nginx:1.25\nname: web-1\npath: /var/lib\n")
        #expect(YAML.serialize(["v": "yes"]) == "v: \"yes\"\n")
    }

    @Test func numbersAndSpecials() throws {
        let value: JSONValue = [
            "i": 3, "d": 1.5, "big": .double(1e21), "small": .double(1e-7), "n": nil, "b": false,
            "inf": .double(.infinity), "ninf": .double(-.infinity),
        ]
        #expect(try YAML.parse(YAML.serialize(value)) == value)
    }
}
