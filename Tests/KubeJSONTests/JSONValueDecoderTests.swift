import Foundation
import Testing

@testable import KubeJSON

@Suite struct JSONValueDecoderTests {
    enum Color: String, Codable, Equatable { case red, green }

    struct Item: Codable, Equatable {
        var name: String
        var weight: Double?
        var count: UInt8
    }

    struct Thing: Codable, Equatable {
        var name: String
        var size: Int
        var ratio: Double
        var big: Int64
        var flag: Bool?
        var color: Color
        var tags: [String]
        var items: [Item]
        var labels: [String: String]?
        var extra: JSONValue?
        var nested: [[Int]]
    }

    static let text = #"""
        {"name":"a","size":3.0,"ratio":2,"big":9007199254740993,"flag":null,"color":"green","tags":["x","y"],
         "items":[{"name":"i","count":7},{"name":"j","weight":1.5,"count":0,"unknown":true}],
         "labels":{"k":"v","0":"zero"},"extra":{"any":[1,"two",null,{"n":3.5}]},"nested":[[1,2],[]],"ignored":{}}
        """#

    /// Reads what Foundation's JSONDecoder reads from the same text, without the text.
    @Test func decodesAsJSONDecoderDoes() throws {
        let value = try JSONValue.parse(Self.text)
        let direct = try value.decode(Thing.self)
        let viaText = try JSONDecoder().decode(Thing.self, from: Data(Self.text.utf8))
        #expect(direct == viaText)
        #expect(direct.big == 9_007_199_254_740_993, "integers keep every digit")
        #expect(direct.size == 3 && direct.flag == nil && direct.items[0].weight == nil)
        #expect(direct.extra == value["extra"], "a JSONValue field is handed over as it is")
        #expect(try value.decode(JSONValue.self) == value)
        #expect(try JSONValue.int(5).decode(Double.self) == 5)
        #expect(try JSONValue.array([.int(1), .null]).decode([Int?].self) == [1, nil])
    }

    /// A mismatch names the field, as a status condition shows it.
    @Test func errorsNameTheField() throws {
        func item(_ index: Int, _ edit: @escaping (inout JSONValue) -> Void) -> (inout JSONValue) -> Void {
            { value in
                var items = value["items"].arrayValue ?? []
                edit(&items[index])
                value["items"] = .array(items)
            }
        }
        func message(_ edit: (inout JSONValue) -> Void) throws -> String {
            var value = try JSONValue.parse(Self.text)
            edit(&value)
            do {
                _ = try value.decode(Thing.self)
                return "decoded"
            } catch {
                return "\(error)"
            }
        }
        #expect(try message(item(1) { $0["count"] = 300 }) == "items[1].count: 300 is not an integer that fits UInt8")
        #expect(try message(item(0) { $0["count"] = 1.5 }) == "items[0].count: 1.5 is not an integer that fits UInt8")
        #expect(try message { $0["size"] = "3" } == "size: expected an integer, found a string")
        #expect(try message { $0["tags"] = ["x", 1] } == "tags[1]: expected a string, found a number")
        #expect(try message { $0.removeValue(forKey: "name") } == "name: required, but missing")
        #expect(try message(item(0) { $0 = [] }) == "items[0]: expected an object, found a list")
        #expect(try message { $0["labels"]["k"] = false } == "labels.k: expected a string, found a boolean")
        #expect(try message { $0["color"] = "blue" } == "color: Cannot initialize Color from invalid String value blue")
    }
}

@Suite struct JSONValueEncoderTests {
    struct Status: Codable, Equatable {
        var phase: String?
        var count: Int64
        var small: UInt8
        var huge: UInt64
        var ratio: Double
        var whole: Double
        var ok: Bool
        var tags: [String]
        var nested: [[Int]]
        var map: [String: Int]
        var extra: JSONValue
        var empty: [String]?
        var color: JSONValueDecoderTests.Color
    }

    /// The tree JSONEncoder's text parses back to, made without the text.
    @Test func encodesAsJSONEncoderTextParsesBack() throws {
        let status = Status(
            phase: nil, count: -3, small: 200, huge: UInt64(Int64.max) + 1, ratio: 0.25, whole: 2, ok: true, tags: ["a", "<b>"],
            nested: [[1], []], map: ["k": 1], extra: ["any": [1, "x", .null]], empty: nil, color: .green)
        let direct = try JSONValue(encoding: status)
        let viaText = try JSONValue.parse(try JSONEncoder().encode(status))
        #expect(direct == viaText, "\(direct) vs \(viaText)")
        #expect(direct["phase"] == .null && direct.objectValue?["phase"] == nil, "nil is left out")
        #expect(direct["whole"] == .int(2) && direct["ratio"] == .double(0.25))
        #expect(try direct.decode(Status.self) == status)
        #expect(throws: EncodingError.self) { try JSONValue(encoding: Double.nan) }
    }
}
