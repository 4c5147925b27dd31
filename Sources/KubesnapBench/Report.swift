import Foundation

/// One value of a result's JSON line.
enum ReportValue: Sendable {
    case int(Int)
    case number(Double)
    case text(String)
    case bool(Bool)

    var json: String {
        switch self {
        case .int(let value): return String(value)
        case .number(let value):
            if value.isNaN || value.isInfinite { return "null" }
            return String(format: "%.3f", value)
        case .text(let value):
            var out = "\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if scalar.value < 0x20 {
                        out += String(format: "\\u%04x", scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out + "\""
        case .bool(let value): return value ? "true" : "false"
        }
    }
}

/// What a scenario measured: a readable table (figure, value, baseline, ratio, target) and a
/// JSON object with the scenario's named fields (in order), printed as the last line.
struct ScenarioReport: Sendable {
    struct Row: Sendable {
        var figure: String
        var value: String
        var baseline: String
        var note: String
    }

    var scenario: String
    var rows: [Row] = []
    var fields: [(String, ReportValue)] = []
    /// Targets: description and whether it was met.
    var targets: [(String, Bool)] = []
    /// Where the numbers came from and what to know about them.
    var notes: [String] = []

    init(_ scenario: String) { self.scenario = scenario }

    mutating func row(_ figure: String, _ value: String, baseline: String = "", note: String = "") {
        rows.append(Row(figure: figure, value: value, baseline: baseline, note: note))
    }

    /// A row with the first, median and last of `instants`, as offsets from `start`.
    mutating func spreadRow(_ figure: String, _ instants: [ContinuousClock.Instant], since start: ContinuousClock.Instant, after: String) {
        let offsets = instants.map { ($0 - start).seconds }.sorted()
        guard let first = offsets.first, let last = offsets.last else { return }
        let middle = offsets[offsets.count / 2]
        row(figure, "", note: "+\(format(first)), +\(format(middle)), +\(format(last)) s after \(after)")
    }

    mutating func field(_ name: String, _ value: ReportValue) { fields.append((name, value)) }
    mutating func field(_ name: String, _ value: Double) { fields.append((name, .number(value))) }
    mutating func field(_ name: String, _ value: Int) { fields.append((name, .int(value))) }

    mutating func target(_ text: String, _ met: Bool) { targets.append((text, met)) }

    var jsonLine: String {
        var parts = [("scenario", ReportValue.text(scenario))] + fields
        parts.append(("targets_met", .bool(targets.allSatisfy(\.1))))
        return "{" + parts.map { "\(ReportValue.text($0.0).json):\($0.1.json)" }.joined(separator: ",") + "}"
    }

    /// The table, targets and notes (everything but the JSON line).
    var table: String {
        var lines: [String] = ["== \(scenario) =="]
        let header = Row(figure: "figure", value: "kubesnap", baseline: "baseline", note: "")
        let all = [header] + rows
        let widths = [
            all.map(\.figure.count).max() ?? 0, all.map(\.value.count).max() ?? 0,
            all.map(\.baseline.count).max() ?? 0,
        ]
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        for (index, row) in all.enumerated() {
            lines.append(
                "  " + pad(row.figure, widths[0]) + "  " + pad(row.value, widths[1]) + "  "
                    + pad(row.baseline, widths[2])
                    + (row.note.isEmpty ? "" : "  " + row.note))
            if index == 0 { lines.append("  " + String(repeating: "-", count: widths.reduce(4, +))) }
        }
        if !targets.isEmpty {
            lines.append("  targets:")
            for (text, met) in targets { lines.append("    [\(met ? "met" : "MISSED")] \(text)") }
        }
        for note in notes { lines.append("  note: \(note)") }
        return lines.joined(separator: "\n")
    }

    func print() {
        Swift.print(table)
        Swift.print(jsonLine)
        fflush(nil)
    }
}

/// Progress lines go to stderr, so stdout holds only tables and JSON.
func progress(_ text: String) {
    let stamp = String(format: "%8.1f", seconds(since: benchStart))
    FileHandle.standardError.write(Data("[\(stamp)s] \(text)\n".utf8))
}

let benchStart = ContinuousClock.now
