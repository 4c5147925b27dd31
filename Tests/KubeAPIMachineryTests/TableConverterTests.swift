import Foundation
import KubeAPIMachinery
import KubeJSON
import Testing

@Suite struct TableConverterTests {
    let now = RFC3339.parse("2024-05-01T12:00:00Z")!
    let repo = json(
        #"""
        {"apiVersion":"kubesnap.io/v1alpha1","kind":"Repository",
         "metadata":{"name":"app-repo","namespace":"demo","creationTimestamp":"2024-05-01T11:55:00Z","labels":{"kubesnap.io/repository":"r1"}},
         "spec":{"target":"Directory /data"},
         "status":{"phase":"Ready","storage":"local","snapshotCount":2,"sizeBytes":2961152.0,"verified":true,"list":["a","b"],"obj":{"b":1,"a":"x"}}}
        """#)

    func columns(_ text: String) throws -> [PrinterColumn] {
        var out: [PrinterColumn] = []
        for c in json(text).arrayValue ?? [] { out.append(try PrinterColumn(c)) }
        return out
    }

    @Test func crdColumnsRender() throws {
        let cols = try columns(
            #"""
            [{"name":"BackupStorage","type":"string","jsonPath":".status.storage"},
             {"name":"Snapshots","type":"integer","jsonPath":".status.snapshotCount"},
             {"name":"Size","type":"number","jsonPath":".status.sizeBytes","priority":1},
             {"name":"Verified","type":"boolean","jsonPath":".status.verified"},
             {"name":"Target","type":"string","jsonPath":".spec.target","description":"what"},
             {"name":"Missing","type":"string","jsonPath":".status.nothing"},
             {"name":"List","type":"string","jsonPath":".status.list"},
             {"name":"Obj","type":"string","jsonPath":".status.obj"},
             {"name":"Label","type":"string","jsonPath":".metadata.labels['kubesnap\\.io/repository']"},
             {"name":"First","type":"string","jsonPath":".status.list[0]"},
             {"name":"Count","type":"string","jsonPath":".status.snapshotCount"},
             {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}]
            """#)
        let table = TableConverter.table(
            objects: [repo], columns: cols, includeObject: "Metadata", resourceVersion: "42",
            continueToken: "c1", now: now)
        #expect(table["kind"] == "Table")
        #expect(table["apiVersion"] == "meta.k8s.io/v1")
        #expect(table["metadata"] == json(#"{"resourceVersion":"42","continue":"c1"}"#))
        let defs = table["columnDefinitions"].arrayValue ?? []
        #expect(
            defs.map { $0["name"] } == [
                "Name", "BackupStorage", "Snapshots", "Size", "Verified", "Target", "Missing", "List", "Obj",
                "Label", "First", "Count", "Age",
            ])
        #expect(defs[0]["format"] == "name")
        #expect(defs[3]["priority"] == 1)
        #expect(defs[5]["description"] == "what")
        let row = table["rows"][0]
        #expect(
            row["cells"]
                == json(
                    #"["app-repo","local",2,2961152.0,true,"Directory /data",null,"[\"a\",\"b\"]","{\"a\":\"x\",\"b\":1}","r1","a","2","5m"]"#
                ))
        #expect(
            row["object"]
                == json(
                    #"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"app-repo","namespace":"demo","creationTimestamp":"2024-05-01T11:55:00Z","labels":{"kubesnap.io/repository":"r1"}}}"#
                ))
    }

    @Test func defaultColumnsAreNameAndAge() {
        let table = TableConverter.table(
            objects: [repo], columns: [], includeObject: "None", resourceVersion: "1", continueToken: nil,
            now: now)
        #expect(table["columnDefinitions"].arrayValue?.map { $0["name"] } == ["Name", "Age"])
        #expect(table["columnDefinitions"][1]["type"] == "date")
        #expect(table["rows"][0]["cells"] == json(#"["app-repo","5m"]"#))
        #expect(table["rows"][0].objectValue?["object"] == nil)
        #expect(table["metadata"] == json(#"{"resourceVersion":"1"}"#))
        let full = TableConverter.table(
            objects: [repo], columns: [], includeObject: "Object", resourceVersion: "1", continueToken: nil,
            now: now)
        #expect(full["rows"][0]["object"] == repo)
        let empty = TableConverter.table(
            objects: [], columns: [], includeObject: "Metadata", resourceVersion: "1", continueToken: nil,
            now: now)
        #expect(empty["rows"] == json("[]"))
    }

    @Test func invalidDateCell() throws {
        var object = repo
        object["metadata"]["creationTimestamp"] = "yesterday"
        let table = TableConverter.table(
            objects: [object], columns: [], includeObject: "None", resourceVersion: "1", continueToken: nil,
            now: now)
        #expect(table["rows"][0]["cells"][1] == "<invalid>")
    }

    // Expected values from k8s.io/apimachinery/pkg/util/duration's tests.
    @Test(arguments: [
        (0.0, "0s"), (-1.5, "0s"), (-3.0, "<invalid>"), (59.0, "59s"), (119.0, "119s"), (120.0, "2m"),
        (150.0, "2m30s"),
        (599.0, "9m59s"), (600.0, "10m"), (10_799.0, "179m"), (10_800.0, "3h"), (11_100.0, "3h5m"),
        (28_800.0, "8h"),
        (172_799.0, "47h"), (172_800.0, "2d"), (180_000.0, "2d2h"), (691_200.0, "8d"), (63_071_999.0, "729d"),
        (63_072_000.0, "2y"), (64_800_000.0, "2y20d"), (252_288_000.0, "8y"),
    ])
    func humanDuration(seconds: Double, expected: String) {
        #expect(TableConverter.humanDuration(seconds) == expected)
    }

    @Test func badColumnsAreFieldErrors() {
        #expect(throws: FieldError.self) {
            try PrinterColumn(json(#"{"name":"X","type":"color","jsonPath":".a"}"#))
        }
        #expect(throws: FieldError.self) { try PrinterColumn(json(#"{"name":"X","type":"string"}"#)) }
        #expect(throws: FieldError.self) {
            try PrinterColumn(json(#"{"name":"X","type":"string","jsonPath":"a b["}"#))
        }
        do {
            _ = try PrinterColumn(json(#"{"type":"string","jsonPath":".a"}"#))
        } catch {
            #expect(error.message == "name: Required value")
        }
    }
}
