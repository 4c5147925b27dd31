import Foundation
import KubeJSON

/// JSON reading and writing, the CPU every watch event and write costs each process: KubeJSON
/// against Foundation's JSONSerialization on the same bytes, in the same run.
func runJSON(objects count: Int) throws -> ScenarioReport {
    // A watch event line as the operator and the bench read them thousands of times: a Ready
    // Snapshot with its conditions and managedFields.
    let line = Array(sampleWatchEvent.utf8)
    let lines = Array(repeating: line, count: count)
    progress("json: parsing \(count) watch events of \(line.count) bytes")

    func best(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            try body()
            best = min(best, seconds(since: start))
        }
        return best
    }
    var parsed: [JSONValue] = []
    parsed.reserveCapacity(count)
    let parseSeconds = try best {
        parsed.removeAll(keepingCapacity: true)
        for bytes in lines { parsed.append(try JSONValue.parse(bytes)) }
    }
    var foundationParsed: [Any] = []
    foundationParsed.reserveCapacity(count)
    let datas = lines.map { Data($0) }
    let foundationParseSeconds = try best {
        foundationParsed.removeAll(keepingCapacity: true)
        for data in datas { foundationParsed.append(try JSONSerialization.jsonObject(with: data)) }
    }
    var written = 0
    let writeSeconds = best {
        written = 0
        for value in parsed { written += value.serializedBytes().count }
    }
    var foundationWritten = 0
    let foundationWriteSeconds = try best {
        foundationWritten = 0
        for value in foundationParsed { foundationWritten += try JSONSerialization.data(withJSONObject: value).count }
    }
    guard parsed.count == count, written >= count * line.count / 2, foundationWritten > 0,
        try JSONValue.parse(parsed[0].serializedBytes()) == parsed[0]
    else {
        throw BenchError("json: the round trip of the sample event did not hold")
    }

    let perParse = parseSeconds / Double(count) * 1e6
    let perFoundationParse = foundationParseSeconds / Double(count) * 1e6
    let perWrite = writeSeconds / Double(count) * 1e6
    let perFoundationWrite = foundationWriteSeconds / Double(count) * 1e6
    var report = ScenarioReport("json")
    report.row("events", "\(count)", note: "\(line.count) bytes each (a Ready Snapshot's watch event)")
    report.row(
        "µs per parse", format(perParse), baseline: format(perFoundationParse),
        note: "ratio \(format(perParse / perFoundationParse)); \(format(Double(line.count) / perParse)) MB/s")
    report.row(
        "µs per write", format(perWrite), baseline: format(perFoundationWrite),
        note: "ratio \(format(perWrite / perFoundationWrite))")
    report.field("events", count)
    report.field("parse_us", perParse)
    report.field("parse_baseline_us", perFoundationParse)
    report.field("parse_ratio", perParse / perFoundationParse)
    report.field("write_us", perWrite)
    report.field("write_baseline_us", perFoundationWrite)
    report.field("write_ratio", perWrite / perFoundationWrite)
    report.notes.append(
        "baseline: Foundation's JSONSerialization reading the same bytes into Foundation objects and writing them back (best of 3 runs each)")
    return report
}

private let sampleWatchEvent = #"""
{"type":"MODIFIED","object":{"apiVersion":"kubesnap.io/v1alpha1","kind":"Snapshot","metadata":{"name":"adopt-417","namespace":"adopt-7","uid":"6f1c2a9e-3b7d-4c1a-9e2f-8a4b5c6d7e8f","resourceVersion":"48213","generation":1,"creationTimestamp":"2026-11-23T15:40:02Z","finalizers":["kubesnap.io/finalizer"],"labels":{"app.kubernetes.io/part-of":"payments","team":"storage"},"managedFields":[{"manager":"kubesnap-bench","operation":"Update","apiVersion":"kubesnap.io/v1alpha1","time":"2026-11-23T15:40:02Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:repository":{},"f:snapshotID":{}}}},{"manager":"kubesnap","operation":"Update","apiVersion":"kubesnap.io/v1alpha1","time":"2026-11-23T15:40:03Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{".":{},"v:\"kubesnap.io/finalizer\"":{}}}}},{"manager":"kubesnap","operation":"Update","apiVersion":"kubesnap.io/v1alpha1","time":"2026-11-23T15:40:03Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{".":{},"f:backendRepository":{},"f:conditions":{},"f:observedGeneration":{},"f:phase":{},"f:snapshotID":{},"f:snapshotTime":{}}},"subresource":"status"}]},"spec":{"repository":"repo","snapshotID":"3f9a1c2b"},"status":{"phase":"Ready","snapshotID":"3f9a1c2b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8","snapshotTime":"2026-11-20T08:15:42Z","backendRepository":"local:/var/lib/kubesnap/repositories/adopt-7","observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"Adopted","message":"adopted restic snapshot 3f9a1c2b from local:/var/lib/kubesnap/repositories/adopt-7","lastTransitionTime":"2026-11-23T15:40:03Z","observedGeneration":1},{"type":"Verified","status":"Unknown","reason":"NotRequested","message":"an adopted snapshot is read back only on request: annotate it kubesnap.io/verify-requested=<any new value>","lastTransitionTime":"2026-11-23T15:40:03Z","observedGeneration":1}]}}}
"""#
