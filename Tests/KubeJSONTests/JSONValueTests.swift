import Testing
@testable import KubeJSON

@Suite struct JSONValueTests {
    @Test func roundTripKeepsIntegersAndFloats() throws {
        let v = try JSONValue.parse(#"{"a":3,"b":3.5,"c":[true,null,"x\n\u00e9"],"d":{"e":-1e3}}"#)
        #expect(v["a"] == .int(3))
        #expect(v["b"] == .double(3.5))
        #expect(v["c"][2] == .string("x\né"))
        #expect(v["d"]["e"] == .double(-1000))
        #expect(v.serialized() == #"{"a":3,"b":3.5,"c":[true,null,"x\né"],"d":{"e":-1000}}"#)
    }

    @Test func writesEscapesIntegersAndSortedKeysAsGo() throws {
        // Go's encoding/json: \" \\ \n \r \t as short escapes; other control bytes and < > &
        // as \u00XX; everything else (UTF-8 included) as is.
        let text = "a\"b\\c\nd\re\tf\u{01}g\u{1f}h<i>j&k é😀"
        #expect(JSONValue.string(text).serialized() == #""a\"b\\c\nd\re\tf\u0001g\u001fh\u003ci\u003ej\u0026k é😀""#)
        #expect(try JSONValue.parse(JSONValue.string(text).serialized()) == .string(text))
        for (value, digits): (Int64, String) in [(0, "0"), (7, "7"), (-7, "-7"), (1_000_000, "1000000"), (Int64.max, "9223372036854775807"), (Int64.min, "-9223372036854775808")] {
            #expect(JSONValue.int(value).serialized() == digits)
        }
        #expect(JSONValue.bool(true).serialized() == "true")
        #expect(JSONValue.null.serialized() == "null")
        let object: JSONValue = ["b": 1, "a": ["z": [], "y": [:], "x": false], "B": "s", "": 0]
        #expect(object.serialized() == #"{"":0,"B":"s","a":{"x":false,"y":{},"z":[]},"b":1}"#)
        #expect(object.serialized(options: .pretty) == "{\n  \"\": 0,\n  \"B\": \"s\",\n  \"a\": {\n    \"x\": false,\n    \"y\": {},\n    \"z\": []\n  },\n  \"b\": 1\n}")
    }

    @Test func rejectsBadJSON() {
        for bad in ["{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "nul", "1 2"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
    }

    @Test func surrogatePairs() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func pathSubscriptCreatesObjects() {
        var v: JSONValue = .null
        v[path: ["metadata", "labels", "app"]] = "x"
        #expect(v.serialized() == #"{"metadata":{"labels":{"app":"x"}}}"#)
    }
}
