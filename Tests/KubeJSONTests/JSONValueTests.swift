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
