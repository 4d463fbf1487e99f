import Synchronization

/// The daemon's own Prometheus registry: counters, gauges and histograms keyed by family name and label values,
/// rendered in the text exposition format with every family's HELP, families sorted by name and series by their
/// labels (`promtool check metrics` is clean on it).
///
/// Every operation is one lock and one dictionary lookup: with 1,000 targets recording a probe a second each, and
/// tens of series per target registered at start, nothing here grows with the number of series.
///
/// The series every target has from its start (``TargetSeries``: a fixed set of families and label values) are
/// kept per target in one flat array of values, not as a dictionary entry and a label string each: with 1,000
/// targets that was about 5 MB, most of the daemon's memory after its tasks. Other series (label values known
/// only when they come: a topology change's kind, a node) are kept by their rendered labels.
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

    /// The series each target has from its start: a family and the labels after `target` (none for a family
    /// labelled by target alone). Each takes one value, a histogram its buckets, `+Inf`, count and sum.
    struct TargetSeries: Sendable {
        let family: String
        let labels: [(key: String, value: String)]

        init(_ family: String, _ labels: [(key: String, value: String)] = []) {
            self.family = family
            self.labels = labels
        }
    }

    /// Where each ``TargetSeries`` is in a target's values.
    private struct TargetLayout: Sendable {
        struct Entry: Sendable {
            let family: String
            /// The labels after `target`, rendered (`kind="socket"`), empty for none.
            let labels: String
            let slot: Int
            /// A histogram's bucket bounds (nil: one value).
            let buckets: [Double]?
        }

        let entries: [Entry]
        /// Family → rendered labels after `target` → slot.
        let slots: [String: [String: Int]]
        let width: Int

        init(_ series: [TargetSeries], families: [String: Family]) {
            var entries: [Entry] = []
            var slots: [String: [String: Int]] = [:]
            var width = 0
            for item in series {
                guard let family = families[item.family] else { preconditionFailure("metric family \(item.family) is not declared") }
                let labels = MetricsRegistry.render(item.labels)
                guard slots[item.family]?[labels] == nil else { continue }
                var buckets: [Double]?
                if case .histogram(let bounds) = family.kind { buckets = bounds }
                entries.append(Entry(family: item.family, labels: labels, slot: width, buckets: buckets))
                slots[item.family, default: [:]][labels] = width
                width += buckets.map { $0.count + 3 } ?? 1
            }
            self.entries = entries
            self.slots = slots
            self.width = width
        }
    }

    private struct Store {
        /// Family name → rendered label set (`target="a",kind="socket"`) → series.
        var series: [String: [String: Series]] = [:]
        /// Target → the values of its ``TargetSeries``, in layout order.
        var targets: [String: [Double]] = [:]
        /// Targets ``removeTarget(_:)`` took out: what is still recorded for them (their supervisor on its way out)
        /// is dropped, not kept as series nobody updates again.
        var removedTargets: Set<String> = []
    }

    private let families: [String: Family]
    private let layout: TargetLayout
    private let store = Mutex(Store())

    /// `targetSeries`: the series ``addTarget(_:)`` gives every target.
    init(families: [Family], targetSeries: [TargetSeries] = []) {
        self.families = Dictionary(families.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.layout = TargetLayout(targetSeries, families: self.families)
    }

    /// Gives `target` its ``TargetSeries`` at zero (those it has keep their values). A histogram's series shows once
    /// it has an observation, as any histogram's.
    func addTarget(_ target: String) {
        let width = self.layout.width
        self.store.withLock { store in
            store.removedTargets.remove(target)
            if store.targets[target] == nil { store.targets[target] = Array(repeating: 0, count: width) }
        }
    }

    /// Takes out every series of `target` (labelled `target="…"` first, as every target's series is), and keeps
    /// out what is still recorded for it until ``addTarget(_:)`` gives it series again: a target a reload removed
    /// must not leave its last state behind (an alert on a stale `target_up 0` would fire for ever).
    func removeTarget(_ target: String) {
        let label = Self.render(CollectionOfOne((key: "target", value: target)))
        self.store.withLock { store in
            store.targets[target] = nil
            store.removedTargets.insert(target)
            store.series = store.series.mapValues { $0.filter { key, _ in key != label && !key.hasPrefix(label + ",") } }
        }
    }

    /// Changes one of a target's own values in place: false when `name` and `labels` are not one of its
    /// ``TargetSeries`` (or the target has none), for the general store to take.
    private func updateTarget(_ name: String, _ labels: KeyValuePairs<String, String>, _ change: (inout [Double], Int) -> Void) -> Bool {
        guard let first = labels.first, first.key == "target", let byLabels = self.layout.slots[name] else { return false }
        let rest = labels.count == 1 ? "" : Self.render(labels.dropFirst())
        guard let slot = byLabels[rest] else { return false }
        return self.store.withLock { store in
            guard let index = store.targets.index(forKey: first.value) else { return false }
            change(&store.targets.values[index], slot)
            return true
        }
    }

    /// Adds `amount` to a counter, creating the series at 0 first (`amount: 0` only creates it).
    func increment(_ name: String, _ labels: KeyValuePairs<String, String>, by amount: UInt64 = 1) {
        if self.updateTarget(name, labels, { $0[$1] += Double(amount) }) { return }
        self.update(name, labels) { $0.value += Double(amount) }
    }

    /// Sets a gauge.
    func set(_ name: String, _ labels: KeyValuePairs<String, String>, to value: Double) {
        if self.updateTarget(name, labels, { $0[$1] = value }) { return }
        self.update(name, labels) { $0.value = value }
    }

    /// Records one observation of a histogram.
    func observe(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        guard case .histogram(let bounds) = self.families[name]?.kind else { return }
        let bucket = bounds.firstIndex { value <= $0 } ?? bounds.count
        let recorded = self.updateTarget(name, labels) { values, slot in
            // Buckets (the last one +Inf), then count and sum.
            values[slot + bucket] += 1
            values[slot + bounds.count + 1] += 1
            values[slot + bounds.count + 2] += value
        }
        if recorded { return }
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
            if !store.removedTargets.isEmpty, let first = labels.first, first.key == "target", store.removedTargets.contains(first.value) {
                return
            }
            change(&store.series[name, default: [:]][key, default: Series()])
        }
    }

    /// The text exposition format (version 0.0.4).
    func exposition() -> String {
        let (general, targets) = self.store.withLock { ($0.series, $0.targets) }
        var snapshot = general
        for (target, values) in targets {
            let prefix = Self.render(["target": target])
            for entry in self.layout.entries {
                let labels = entry.labels.isEmpty ? prefix : prefix + "," + entry.labels
                if let bounds = entry.buckets {
                    let count = values[entry.slot + bounds.count + 1]
                    guard count > 0 else { continue }
                    let buckets = values[entry.slot...(entry.slot + bounds.count)].map { UInt64($0) }
                    snapshot[entry.family, default: [:]][labels] = Series(
                        value: values[entry.slot + bounds.count + 2], buckets: buckets, count: UInt64(count))
                } else {
                    snapshot[entry.family, default: [:]][labels] = Series(value: values[entry.slot])
                }
            }
        }
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
    static func render<Labels: Sequence<(key: String, value: String)>>(_ labels: Labels) -> String {
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
