import Synchronization

/// The daemon's own Prometheus registry: counters, gauges and histograms keyed by family name and label values,
/// rendered in the text exposition format with every family's HELP, families sorted by name and series by their
/// labels (`promtool check metrics` is clean on it).
///
/// Every operation is one lock and one dictionary lookup: with 1,000 targets recording a probe a second each, and
/// tens of series per target registered at start, nothing here grows with the number of series.
final class MetricsRegistry: Sendable {
    enum Kind: Sendable, Equatable {
        case counter
        case gauge
        /// Upper bounds of the buckets, ascending (`+Inf` is implied).
        case histogram(buckets: [Double])

        var name: String {
            switch self {
            case .counter: "counter"
            case .gauge: "gauge"
            case .histogram: "histogram"
            }
        }
    }

    struct Family: Sendable {
        let name: String
        let kind: Kind
        let help: String
    }

    private struct Series {
        /// Counter (a whole number) or gauge value; a histogram's sum.
        var value: Double = 0
        /// A histogram's observations per bucket (not cumulative), the last one `+Inf`.
        var buckets: [UInt64] = []
        var count: UInt64 = 0
    }

    private struct Store {
        /// Family name → rendered label set (`target="a",kind="socket"`) → series.
        var series: [String: [String: Series]] = [:]
    }

    private let families: [String: Family]
    private let store = Mutex(Store())

    init(families: [Family]) {
        self.families = Dictionary(families.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Adds `amount` to a counter, creating the series at 0 first (`amount: 0` only creates it).
    func increment(_ name: String, _ labels: KeyValuePairs<String, String>, by amount: UInt64 = 1) {
        self.update(name, labels) { $0.value += Double(amount) }
    }

    /// Sets a gauge.
    func set(_ name: String, _ labels: KeyValuePairs<String, String>, to value: Double) {
        self.update(name, labels) { $0.value = value }
    }

    /// Records one observation of a histogram.
    func observe(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        guard case .histogram(let bounds) = self.families[name]?.kind else { return }
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        self.update(name, labels) { series in
            if series.buckets.isEmpty { series.buckets = Array(repeating: 0, count: bounds.count + 1) }
            series.buckets[bucket] += 1
            series.count += 1
            series.value += value
        }
    }

    /// Removes a series (a node that left, an expiry that no longer applies).
    func remove(_ name: String, _ labels: KeyValuePairs<String, String>) {
        let key = Self.render(labels)
        self.store.withLock { _ = $0.series[name]?.removeValue(forKey: key) }
    }

    private func update(_ name: String, _ labels: KeyValuePairs<String, String>, _ change: (inout Series) -> Void) {
        precondition(self.families[name] != nil, "metric family \(name) is not declared")
        let key = Self.render(labels)
        self.store.withLock { store in
            change(&store.series[name, default: [:]][key, default: Series()])
        }
    }

    /// The text exposition format (version 0.0.4).
    func exposition() -> String {
        let snapshot = self.store.withLock { $0.series }
        var output = ""
        output.reserveCapacity(snapshot.values.reduce(0) { $0 + $1.count } * 96)
        for name in snapshot.keys.sorted() {
            guard let family = self.families[name], let series = snapshot[name], !series.isEmpty else { continue }
            output += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.name)\n"
            for labels in series.keys.sorted() {
                let sample = series[labels]!
                switch family.kind {
                case .counter:
                    output += "\(name)\(Self.braced(labels)) \(UInt64(sample.value))\n"
                case .gauge:
                    output += "\(name)\(Self.braced(labels)) \(sample.value)\n"
                case .histogram(let bounds):
                    var cumulative: UInt64 = 0
                    let separator = labels.isEmpty ? "" : ","
                    for (index, bound) in bounds.enumerated() {
                        cumulative += sample.buckets.isEmpty ? 0 : sample.buckets[index]
                        output += "\(name)_bucket{\(labels)\(separator)le=\"\(bound)\"} \(cumulative)\n"
                    }
                    output += "\(name)_bucket{\(labels)\(separator)le=\"+Inf\"} \(sample.count)\n"
                    output += "\(name)_sum\(Self.braced(labels)) \(sample.value)\n"
                    output += "\(name)_count\(Self.braced(labels)) \(sample.count)\n"
                }
            }
        }
        return output
    }

    private static func braced(_ labels: String) -> String { labels.isEmpty ? "" : "{\(labels)}" }

    /// `target="a",kind="socket"`, label values escaped as the exposition format requires (`\`, `"`, line feed).
    static func render(_ labels: KeyValuePairs<String, String>) -> String {
        // Nearly always nothing to escape: plain interpolation then.
        if labels.allSatisfy({ !$0.value.utf8.contains { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") } }) {
            return labels.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
        }
        var text = ""
        for (index, (name, value)) in labels.enumerated() {
            if index > 0 { text += "," }
            text += name
            text += "=\""
            for character in value.unicodeScalars {
                switch character {
                case "\\": text += "\\\\"
                case "\"": text += "\\\""
                case "\n": text += "\\n"
                default: text.unicodeScalars.append(character)
                }
            }
            text += "\""
        }
        return text
    }
}
