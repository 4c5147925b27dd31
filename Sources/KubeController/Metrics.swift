import KubeJSON

/// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
/// text exposition format (version 0.0.4) by `exposition()`. Families are identified by name;
/// asking for a family that exists returns it, so several controllers share one family and
/// tell themselves apart by labels.
public final class MetricsRegistry: Sendable {
    private let families = Locked<[String: MetricFamily]>([:])

    public init() {}

    /// A counter family (a value that only goes up).
    public func counter(_ name: String, help: String, labels: [String] = []) -> MetricFamily {
        family(name, help: help, kind: .counter, labels: labels, buckets: [])
    }

    /// A gauge family (a value that goes up and down).
    public func gauge(_ name: String, help: String, labels: [String] = []) -> MetricFamily {
        family(name, help: help, kind: .gauge, labels: labels, buckets: [])
    }

    /// A histogram family with upper bounds `buckets` (the `+Inf` bucket is implied).
    public func histogram(
        _ name: String, help: String, labels: [String] = [], buckets: [Double] = MetricFamily.defaultBuckets
    ) -> MetricFamily {
        family(name, help: help, kind: .histogram, labels: labels, buckets: buckets.sorted())
    }

    private func family(
        _ name: String, help: String, kind: MetricFamily.Kind, labels: [String], buckets: [Double]
    ) -> MetricFamily {
        families.withLock { families in
            if let existing = families[name] { return existing }
            let family = MetricFamily(
                name: name, help: help, kind: kind, labelNames: labels, buckets: buckets)
            families[name] = family
            return family
        }
    }

    /// The current value of a counter or gauge series (tests and diagnostics); nil if never set.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.withLock { $0[name] }?.value(labels)
    }

    /// Every family in Prometheus text format, sorted by name.
    public func exposition() -> String {
        let all = families.withLock { $0.values.sorted { $0.name < $1.name } }
        var out = ""
        for family in all { family.render(into: &out) }
        return out
    }
}

/// One metric name with its series (one per combination of label values).
public final class MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// Prometheus client_golang's default buckets (seconds).
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Buckets from 1 ms to 1000 s, for queue waits and reconcile times that may be long.
    public static let longBuckets: [Double] = [
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1000,
    ]

    public let name: String
    public let help: String
    public let kind: Kind
    public let labelNames: [String]
    public let buckets: [Double]

    private struct Series {
        var value: Double = 0
        var bucketCounts: [UInt64] = []
        var count: UInt64 = 0
    }

    private let series = Locked<[[String]: Series]>([:])

    init(name: String, help: String, kind: Kind, labelNames: [String], buckets: [Double]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.labelNames = labelNames
        self.buckets = buckets
    }

    /// Adds `amount` to a counter or gauge series; label values in `labelNames` order.
    public func increment(_ labelValues: String..., by amount: Double = 1) {
        update(labelValues) { $0.value += amount }
    }

    /// Sets a gauge series.
    public func set(_ value: Double, _ labelValues: String...) {
        update(labelValues) { $0.value = value }
    }

    /// Records one observation in a histogram series.
    public func observe(_ value: Double, _ labelValues: String...) {
        let buckets = self.buckets
        update(labelValues) { series in
            if series.bucketCounts.isEmpty { series.bucketCounts = Array(repeating: 0, count: buckets.count) }
            for (index, bound) in buckets.enumerated() where value <= bound {
                series.bucketCounts[index] += 1
            }
            series.value += value
            series.count += 1
        }
    }

    /// Creates a series at zero so it shows in the exposition before anything happened.
    public func touch(_ labelValues: String...) {
        update(labelValues) { _ in }
    }

    private func update(_ labelValues: [String], _ body: (inout Series) -> Void) {
        var values = labelValues
        if values.count != labelNames.count {  // a programming error; keep the output well-formed
            values = Array((values + Array(repeating: "", count: labelNames.count)).prefix(labelNames.count))
        }
        series.withLock { body(&$0[values, default: Series()]) }
    }

    func value(_ labels: [String: String]) -> Double? {
        let values = labelNames.map { labels[$0] ?? "" }
        return series.withLock { series in
            guard let s = series[values] else { return nil }
            return kind == .histogram ? Double(s.count) : s.value
        }
    }

    func render(into out: inout String) {
        let snapshot = series.withLock { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
        for (values, s) in snapshot {
            let labels = zip(labelNames, values).map { "\($0)=\"\(Self.escape($1))\"" }
            switch kind {
            case .counter, .gauge:
                out += "\(name)\(Self.braced(labels)) \(Self.format(s.value))\n"
            case .histogram:
                for (index, bound) in buckets.enumerated() {
                    let count = index < s.bucketCounts.count ? s.bucketCounts[index] : 0
                    out +=
                        "\(name)_bucket\(Self.braced(labels + ["le=\"\(Self.format(bound))\""])) \(count)\n"
                }
                out += "\(name)_bucket\(Self.braced(labels + ["le=\"+Inf\""])) \(s.count)\n"
                out += "\(name)_sum\(Self.braced(labels)) \(Self.format(s.value))\n"
                out += "\(name)_count\(Self.braced(labels)) \(s.count)\n"
            }
        }
    }

    private static func braced(_ labels: [String]) -> String {
        labels.isEmpty ? "" : "{" + labels.joined(separator: ",") + "}"
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
