import Foundation
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

    @Test("durations read as the status table shows them", arguments: [(5.0, "5s"), (242, "4m02s"), (8_040, "2h14m"), (200_000, "2d07h")])
    func durations(seconds: Double, expected: String) {
        #expect(humanDuration(seconds) == expected)
    }

    @Test("RFC 3339 times: UTC, milliseconds rounded, and read back to the millisecond")
    func times() throws {
        #expect(rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(rfc3339(1_795_391_757.1234) == "2026-11-22T23:55:57.123Z")
        #expect(rfc3339(1_795_391_757.9996) == "2026-11-22T23:55:58.000Z")
        let entry = EventLog.Entry(sequence: 1, time: 1_795_391_757.123, target: "t", kind: "note", event: "e")
        let decoded = try JSONDecoder().decode(EventLog.Entry.self, from: JSONEncoder().encode(entry))
        #expect(abs(decoded.time - entry.time) < 0.0005 && decoded.event == "e")
    }
}
