import Testing

@testable import HealthDaemon

@Suite("CLI status table")
struct StatusTableTests {
    @Test("the table of `redis-healthd status`")
    func table() {
        var healthy = TargetStatus(name: "cache-a", endpoint: "10.0.0.4:6380", now: 1_000)
        healthy.state = .healthy
        healthy.probeWindow = [.microseconds(400), .microseconds(300), .microseconds(1_200)]
        healthy.connectionFailures = 3
        healthy.reconnects = 2
        healthy.lastError = "old error"
        var down = TargetStatus(name: "cluster-b", endpoint: "10.0.0.5:6379", now: 1_000 - 242)
        down.state = .down
        down.lastError = "10.0.0.5:6379: connection refused"
        let rendered = renderTable([
            StatusDocument.Target(healthy, now: 1_000 + 8_040), StatusDocument.Target(down, now: 1_000),
        ])
        #expect(
            rendered == """
                TARGET     STATE    SINCE  PROBE p50/p99  FAILURES  RECONNECTS  LAST ERROR
                cache-a    healthy  2h14m  0.4/1.2 ms     3         2 / 0       -
                cluster-b  down     4m02s  -              0         0 / 0       10.0.0.5:6379: connection refused

                """)
    }

    @Test("durations read like DESIGN.md's", arguments: [(5.0, "5s"), (242, "4m02s"), (8_040, "2h14m"), (200_000, "2d07h")])
    func durations(seconds: Double, expected: String) {
        #expect(humanDuration(seconds) == expected)
    }
}
