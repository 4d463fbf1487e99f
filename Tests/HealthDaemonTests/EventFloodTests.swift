import Foundation
import Testing

@testable import HealthDaemon
@testable import RedisClient

@Suite("A flood of routine events keeps the evidence")
struct EventFloodTests {
    static let starting = "NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2026-11-22T23:26:57|IPAddress|10.0.0.4"

    func supervisor(events: EventLog, metrics: DaemonMetrics, logs: LogRecords) throws -> TargetSupervisor {
        let configuration = try ConfigurationLoader(credentialsDirectory: nil).parse(
            "targets:\n  - {name: cache-a, host: 127.0.0.1, port: 6379, maintenance_events: on}\n")
        return try TargetSupervisor(
            target: configuration.targets[0], password: nil, events: events, metrics: metrics, logger: logs.logger,
            onStateChange: { _ in })
    }

    @Test("3,000 maintenance notifications (an injected clock, 10 ms apart) leave the force-reconnect entry in the log")
    func maintenanceFlood() throws {
        let events = EventLog()
        let metrics = DaemonMetrics(version: "test")
        let logs = LogRecords()
        let supervisor = try self.supervisor(events: events, metrics: metrics, logs: logs)
        let start = 1_800_000_000.0
        events.append(target: "cache-a", event: .forceReconnect(acted: true, reason: "error-threshold"), at: start)
        events.append(target: "cache-a", text: "state healthy → degraded: unresponsive", at: start, importance: .significant, kind: "state-changed")
        for index in 0..<3_000 {
            supervisor.fold(.maintenanceMessage(Self.starting), now: start + 1 + Double(index) * 0.01)
        }
        let entries = events.entries(since: 0)
        #expect(entries.contains { $0.event == "force-reconnect acted (error-threshold)" })
        #expect(entries.contains { $0.event == "state healthy → degraded: unresponsive" })
        // 30 s of flood: the burst of 10, then 10 a minute (5 more).
        let recorded = entries.filter { $0.event.hasPrefix("maintenance NodeMaintenanceStarting") }.count
        #expect((10...16).contains(recorded), "\(recorded) recorded")
        #expect(logs.with(event: "maintenance-event").count == recorded)
        #expect(logs.with(event: "maintenance-rate-limited").count == 1 + (recorded - 10), "one warning for the flood, then a notice each time recording resumes")
        let text = metrics.exposition()
        let suppressed = text.split(separator: "\n").first { $0.hasPrefix("redis_healthd_maintenance_events_suppressed_total{target=\"cache-a\"}") }
        #expect(suppressed.flatMap { Int($0.split(separator: " ").last ?? "") } == 3_000 - recorded, "\(suppressed ?? "none")")

        // A minute later the next one is recorded, after one entry summing up what was dropped.
        supervisor.fold(.maintenanceMessage(Self.starting), now: start + 120)
        let after = events.entries(since: entries.last?.sequence ?? 0).map(\.event)
        #expect(after.count == 2, "\(after)")
        #expect(after.first?.hasSuffix("maintenance events suppressed (more than 10 a minute on AzureRedisEvents)") == true, "\(after)")
        #expect(after.last?.hasPrefix("maintenance NodeMaintenanceStarting") == true)
    }

    @Test("routine events never push significant ones out; reads merge both in sequence order")
    func twoRings() {
        let events = EventLog(significantPerTarget: 100, routinePerTarget: 100)
        events.append(target: "a", event: .forceReconnect(acted: true, reason: "manual"), at: 1)
        for index in 0..<3_000 { events.append(target: "a", text: "routine \(index)", at: 2, kind: "note") }
        events.append(target: "a", text: "ANOMALY x", at: 3, importance: .significant, kind: "topology-anomaly")
        events.append(target: "a", text: "routine last", at: 4, kind: "note")
        let entries = events.entries(since: 0)
        #expect(entries.count == 102)
        #expect(entries.first?.event == "force-reconnect acted (manual)" && entries.first?.sequence == 1)
        #expect(entries.map(\.sequence) == entries.map(\.sequence).sorted())
        #expect(entries.suffix(2).map(\.event) == ["ANOMALY x", "routine last"])
        #expect(events.entries(since: 3_001).map(\.event) == ["ANOMALY x", "routine last"])
        #expect(events.entries(since: 3_003).isEmpty)
    }

    /// Operator experience (8): one target failing for hours used to fill the one ring and push every other
    /// target's failover out of `events`.
    @Test("each target keeps its own events: a flooding target does not evict another's")
    func perTarget() {
        let events = EventLog(significantPerTarget: 50, routinePerTarget: 50)
        events.append(target: "quiet", event: .connectionFailed(role: .interactive, endpoint: .init(host: "h", port: 1), kind: .socket, message: "reset"), at: 1)
        events.append(target: "quiet", text: "state healthy → reconnecting", at: 1, importance: .significant, kind: "state-changed")
        for index in 0..<5_000 {
            events.append(target: "noisy", text: "connecting (attempt \(index))", at: 2, kind: "connecting")
            events.append(target: "noisy", text: "state down → down \(index)", at: 2, importance: .significant, kind: "state-changed")
        }
        let quiet = events.entries(since: 0, target: "quiet")
        #expect(quiet.map(\.kind) == ["connection-failed", "state-changed"])
        #expect(events.entries(since: 0, target: "noisy").count == 100)
        #expect(events.entries(since: 0).count == 102)
        #expect(events.latest == 10_002)
    }

    @Test("the rate limit: a burst of 10, then one every 6 s")
    func tokenBucket() {
        var limit = MaintenanceRateLimit()
        for _ in 0..<10 { #expect(limit.arrived(now: 0) == .record(suppressedBefore: 0)) }
        #expect(limit.arrived(now: 0) == .suppress(first: true))
        #expect(limit.arrived(now: 5) == .suppress(first: false))
        #expect(limit.arrived(now: 7) == .record(suppressedBefore: 2))
        #expect(limit.arrived(now: 7) == .suppress(first: false), "the same flood")
        #expect(limit.arrived(now: 1_000) == .record(suppressedBefore: 1))
        #expect(limit.arrived(now: 1_000) == .record(suppressedBefore: 0))
        for _ in 0..<8 { _ = limit.arrived(now: 1_000) }
        #expect(limit.arrived(now: 1_000) == .suppress(first: true), "a new flood")
    }
}
