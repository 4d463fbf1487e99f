import Testing

@testable import HealthDaemon

/// The daemon's own Prometheus registry: what it prints, and that it stays fast with many series.
@Suite("Metrics registry")
struct MetricsRegistryTests {
    let registry = MetricsRegistry(families: [
        .init(name: "c_total", kind: .counter, help: "A counter."),
        .init(name: "g", kind: .gauge, help: "A gauge."),
        .init(name: "h_seconds", kind: .histogram(buckets: [0.001, 0.01, 1]), help: "A histogram."),
    ])

    @Test("counters, gauges and histograms in the text format: HELP, TYPE, series sorted, buckets cumulative")
    func exposition() {
        registry.increment("c_total", ["target": "b", "kind": "x"])
        registry.increment("c_total", ["target": "a", "kind": "y"], by: 0)
        registry.increment("c_total", ["target": "b", "kind": "x"], by: 2)
        registry.set("g", ["target": "a"], to: 1)
        registry.observe("h_seconds", ["target": "a"], 0.0004)
        registry.observe("h_seconds", ["target": "a"], 0.5)
        registry.observe("h_seconds", ["target": "a"], 3)
        #expect(
            registry.exposition() == """
                # HELP c_total A counter.
                # TYPE c_total counter
                c_total{target="a",kind="y"} 0
                c_total{target="b",kind="x"} 3
                # HELP g A gauge.
                # TYPE g gauge
                g{target="a"} 1.0
                # HELP h_seconds A histogram.
                # TYPE h_seconds histogram
                h_seconds_bucket{target="a",le="0.001"} 1
                h_seconds_bucket{target="a",le="0.01"} 1
                h_seconds_bucket{target="a",le="1.0"} 2
                h_seconds_bucket{target="a",le="+Inf"} 3
                h_seconds_sum{target="a"} 3.5004
                h_seconds_count{target="a"} 3

                """)
    }

    @Test("a removed series is gone; a family without series prints nothing")
    func removal() {
        registry.set("g", ["target": "a", "node": "n1"], to: 5)
        registry.remove("g", ["target": "a", "node": "n1"])
        #expect(registry.exposition() == "")
    }

    @Test("label values are escaped: a quote, a backslash or a line feed cannot break the line")
    func escaping() {
        registry.set("g", ["target": "a\"b\\c\nd"], to: 2)
        #expect(registry.exposition().contains(#"g{target="a\"b\\c\nd"} 2.0"#))
    }

    @Test("1,000 targets' series (40 each) register and record without slowing down")
    func manySeries() {
        let metrics = DaemonMetrics(version: "test")
        let started = ContinuousClock.now
        for index in 0..<1000 { metrics.register(target: "t\(index)") }
        for index in 0..<1000 { metrics.record(.probe(latency: .microseconds(300)), target: "t\(index)") }
        let elapsed = started.duration(to: .now)
        let text = metrics.exposition()
        #expect(text.contains(#"redis_healthd_probe_duration_seconds_count{target="t999"} 1"#))
        #expect(text.split(separator: "\n").count > 40_000)
        // Linear: about 20 ms in a debug build; the old registry copied a family per new series (seconds).
        #expect(elapsed < .seconds(5), "\(elapsed)")
    }
    @Test("a target's own series (kept in one array per target) print as the same series kept one by one would")
    func targetSeries() {
        let families: [MetricsRegistry.Family] = [
            .init(name: "c_total", kind: .counter, help: "A counter."),
            .init(name: "g", kind: .gauge, help: "A gauge."),
            .init(name: "h_seconds", kind: .histogram(buckets: [0.001, 0.01, 1]), help: "A histogram."),
        ]
        let compact = MetricsRegistry(
            families: families,
            targetSeries: [.init("c_total", [("kind", "x")]), .init("c_total", [("kind", "y")]), .init("g"), .init("h_seconds")])
        let plain = MetricsRegistry(families: families)
        for registry in [compact, plain] {
            // Targets whose quoted names sort differently from the names: "a" < "a!" but `a"` > `a!"`.
            for target in ["a!", "a", "t\"x\""] {
                registry.addTarget(target)
                registry.increment("c_total", ["target": target, "kind": "x"], by: 0)
                registry.increment("c_total", ["target": target, "kind": "y"], by: 0)
                registry.set("g", ["target": target], to: 0)
            }
            registry.increment("c_total", ["target": "a", "kind": "x"], by: 3)
            // Label values outside the layout, and a target without its own series, go to the general store.
            registry.increment("c_total", ["target": "a", "kind": "z"])
            registry.increment("c_total", ["target": "b", "kind": "x"])
            registry.set("g", ["target": "a!"], to: 2.5)
            registry.observe("h_seconds", ["target": "a"], 0.0004)
            registry.observe("h_seconds", ["target": "a"], 3)
            registry.observe("h_seconds", ["target": "b"], 0.5)
        }
        #expect(compact.exposition() == plain.exposition())
        #expect(compact.exposition().contains(#"h_seconds_bucket{target="a",le="+Inf"} 2"#))
        // A target's histogram without observations has no series, as any histogram.
        #expect(!compact.exposition().contains(#"h_seconds_count{target="a!"}"#))
    }

    @Test("a removed target's series go, its own and the others; what it records later is dropped until it is added back")
    func removedTarget() {
        let registry = MetricsRegistry(
            families: [
                .init(name: "c_total", kind: .counter, help: "A counter."),
                .init(name: "g", kind: .gauge, help: "A gauge."),
                .init(name: "h_seconds", kind: .histogram(buckets: [0.001, 1]), help: "A histogram."),
            ],
            targetSeries: [.init("c_total", [("kind", "x")]), .init("h_seconds")])
        // "a" is a prefix of "ab" (and of "a" with a label after it): only "a"'s series may go.
        for target in ["a", "ab"] {
            registry.addTarget(target)
            registry.increment("c_total", ["target": target, "kind": "x"])
            registry.increment("c_total", ["target": target, "kind": "other"])
            registry.set("g", ["target": target], to: 1)
            registry.observe("h_seconds", ["target": target], 0.0005)
        }
        registry.set("g", ["version": "1"], to: 1)
        registry.removeTarget("a")
        var text = registry.exposition()
        #expect(!text.contains(#"target="a""#), "\(text)")
        #expect(text.contains(#"c_total{target="ab",kind="x"} 1"#) && text.contains(#"c_total{target="ab",kind="other"} 1"#))
        #expect(text.contains(#"g{target="ab"} 1.0"#) && text.contains(#"h_seconds_count{target="ab"} 1"#))
        #expect(text.contains(#"g{version="1"} 1.0"#))
        // Its supervisor on the way out: nothing of it comes back.
        registry.increment("c_total", ["target": "a", "kind": "x"])
        registry.increment("c_total", ["target": "a", "kind": "other"])
        registry.set("g", ["target": "a"], to: 0)
        registry.observe("h_seconds", ["target": "a"], 0.0005)
        text = registry.exposition()
        #expect(!text.contains(#"target="a""#), "\(text)")
        // Added back by a later reload: its series start again from zero.
        registry.addTarget("a")
        registry.increment("c_total", ["target": "a", "kind": "other"])
        text = registry.exposition()
        #expect(text.contains(#"c_total{target="a",kind="x"} 0"#) && text.contains(#"c_total{target="a",kind="other"} 1"#), "\(text)")
    }
}
