import Foundation
import NIOCore
import RESP
import RedisTestSupport
import Synchronization
import Testing

@testable import HealthDaemon

/// The pub/sub canary end to end: the daemon against a real redis-server (healthy, PUBLISH refused) and against the
/// scripted fake server, which can make the subscriber connection alone silent (a real server cannot: CLIENT PAUSE
/// stops every connection, CLIENT KILL is not silent).
@Suite("Pub/sub canary")
struct CanaryTests {
    /// Canary every 500 ms, deadline 2 × 1 s (generous: the whole suite runs in parallel on 2 cores); maintenance
    /// events on, so there is a subscription.
    static func targetYAML(port: Int) -> String {
        """
          - name: canary-a
            host: 127.0.0.1
            port: \(port)
            cluster: off
            maintenance_events: on
            canary_interval: 500ms
            probe_interval: 200ms
            probe_timeout: 1s
            probe_failures: 2

        """
    }

    static func canary(_ client: ControlClient) async throws -> [String: Any] {
        try await object(client, "/status/canary-a")["canary"] as? [String: Any] ?? [:]
    }

    static func metrics(_ client: ControlClient) async throws -> String {
        String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
    }

    static func events(_ client: ControlClient) async throws -> [[String: Any]] {
        try await object(client, "/events?since=0&target=canary-a")["events"] as? [[String: Any]] ?? []
    }

    @Test("a healthy target's canary arrives: round trip in status and metrics, nothing reported")
    func healthy() async throws {
        try await withRedisServer { server in
            let logs = LogRecords()
            try await withDaemon(targetsYAML: Self.targetYAML(port: server.port), logs: logs) { _, client, _ in
                var first: String?
                #expect(try await eventually(within: .seconds(15)) {
                    first = try await Self.canary(client)["last_arrived"] as? String
                    return first != nil
                })
                // A later canary arrives too (last_arrived moves on).
                #expect(try await eventually(within: .seconds(10)) {
                    let last = try await Self.canary(client)["last_arrived"] as? String
                    return last != nil && last != first
                })
                let status = try await object(client, "/status/canary-a")
                let canary = status["canary"] as? [String: Any] ?? [:]
                let channel = try #require(canary["channel"] as? String)
                #expect(channel.hasPrefix("redis-healthd:canary:") && channel.hasSuffix(":\(getpid()):canary-a"))
                #expect(canary["missed"] as? Int == 0)
                #expect(canary["last_missed"] == nil)
                #expect(canary["interval_seconds"] as? Double == 0.5)
                #expect(canary["deadline_seconds"] as? Double == 2)
                let roundTrip = try #require(canary["last_round_trip_seconds"] as? Double)
                #expect(roundTrip >= 0 && roundTrip <= 2)
                print("canary round trip against a real redis-server: \(String(format: "%.2f", roundTrip * 1000)) ms")
                #expect(status["state"] as? String == "healthy")
                // The server sees one subscriber of the heartbeat channel: ours.
                let numsub = try await server.cli("PUBSUB", "NUMSUB", channel)
                #expect(numsub.split(separator: "\n").last == "1", "\(numsub)")
                let metrics = try await Self.metrics(client)
                #expect(metrics.contains("redis_healthd_canary_missed_total{target=\"canary-a\"} 0"))
                #expect(metrics.contains("redis_healthd_canary_latency_seconds{target=\"canary-a\"}"))
                #expect(logs.with(event: "canary-missed").isEmpty)
                #expect(logs.with(event: "canary-started").count == 1)
                #expect(try await !Self.events(client).contains { $0["kind"] as? String == "canary-missed" })
            }
        }
    }

    @Test("a subscriber connection made silent (its messages no longer delivered, its commands unanswered) is detected and replaced within its bound; reported by event, log, metric and status")
    func silentSubscriber() async throws {
        let silent = SilentConnection()
        try await withFakeRedisServer { server in
            // PUBLISH delivers to every subscribed connection except the silent one (and says it delivered).
            server.updateScript { script in
                script.handler = { command, _ in
                    guard command.name == "PUBLISH", command.arguments.count == 2, let silentID = silent.id.withLock({ $0 }) else {
                        return .default
                    }
                    let channel = command.arguments[0]
                    var delivered = 0
                    for connection in server.connections where connection.channels.contains(channel) {
                        delivered += 1
                        guard connection.id != silentID else { continue }
                        try? await connection.sendPush([.bulkString("message"), .bulkString(channel), .bulkString(command.arguments[1])])
                    }
                    return .reply(.integer(Int64(delivered)))
                }
            }
            let logs = LogRecords()
            try await withDaemon(targetsYAML: Self.targetYAML(port: server.port), logs: logs) { _, client, _ in
                #expect(try await eventually(within: .seconds(15)) { try await Self.canary(client)["last_arrived"] != nil })
                let channel = try #require(try await Self.canary(client)["channel"] as? String)
                let subscriber = try #require(server.connections.first { $0.channels.contains(channel) })
                #expect(subscriber.channels.contains("AzureRedisEvents"))

                // The subscriber connection goes silent: nothing delivered, nothing answered, nothing closed.
                let started = ContinuousClock.now
                silent.id.withLock { $0 = subscriber.id }
                subscriber.stall()

                // Detected: a canary misses its deadline (interval 500 ms + deadline 2 s at most, then reported).
                #expect(try await eventually(within: .seconds(10)) { try await Self.canary(client)["missed"] as? Int == 1 })
                let detected = started.duration(to: .now)
                // Replaced: the client closed the silent connection and a new one subscribed to both channels.
                #expect(await subscriber.waitUntilClosed(within: .seconds(10)), "the silent subscriber connection is closed by the daemon")
                #expect(await eventually(within: .seconds(10)) {
                    server.connections.contains { $0.id > subscriber.id && $0.channels.contains(channel) && $0.channels.contains("AzureRedisEvents") }
                })
                let replaced = started.duration(to: .now)
                // And the canary arrives on the new one.
                #expect(try await eventually(within: .seconds(10)) {
                    let canary = try await Self.canary(client)
                    guard let arrived = canary["last_arrived"] as? String, let missed = canary["last_missed"] as? String else { return false }
                    return arrived > missed
                })
                print("silent subscriber: canary missed after \(detected), replacement subscribed after \(replaced)")
                // Interval + deadline (2.5 s), then a reconnect (backoff under 2 s); generously on a busy machine.
                #expect(detected < .seconds(6), "detected after \(detected)")
                #expect(replaced < .seconds(9), "replaced after \(replaced)")

                let canary = try await Self.canary(client)
                #expect(canary["missed"] as? Int == 1, "one miss, one reconnect: no storm")
                #expect(canary["last_missed"] as? String != nil)
                let warnings = logs.with(event: "canary-missed")
                #expect(warnings.count == 1)
                #expect(warnings.first?.level == .warning)
                #expect(warnings.first?.metadata["redis.channel"] == channel)
                #expect(warnings.first?.metadata["redis.target"] == "canary-a")
                let events = try await Self.events(client)
                let missed = events.filter { $0["kind"] as? String == "canary-missed" }
                #expect(missed.count == 1)
                #expect((missed.first?["event"] as? String)?.hasSuffix("(the server counted 1 subscriber): the subscriber connection is silently dead; reconnecting it") == true, "\(missed)")
                let metrics = try await Self.metrics(client)
                #expect(metrics.contains("redis_healthd_canary_missed_total{target=\"canary-a\"} 1"), "\(metrics)")
                // The interactive connection was never touched: the target stayed healthy.
                #expect(try await object(client, "/status/canary-a")["state"] as? String == "healthy")
            }
        }
    }

    @Test("a subscriber connection killed by the server (not silent) is a reconnect, not a miss: the canary goes on on the new one")
    func killedIsNotMissed() async throws {
        try await withRedisServer { server in
            let logs = LogRecords()
            try await withDaemon(targetsYAML: Self.targetYAML(port: server.port), logs: logs) { _, client, _ in
                var before: String?
                #expect(try await eventually(within: .seconds(15)) {
                    before = try await Self.canary(client)["last_arrived"] as? String
                    return before != nil
                })
                let killed = try await server.cli("CLIENT", "KILL", "TYPE", "pubsub")
                #expect(killed.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "our subscriber connection: \(killed)")
                // Reconnected (the failure is the subscriber's own connection-failed), and the canary arrives again.
                #expect(await eventually(within: .seconds(10)) {
                    logs.all.contains { $0.metadata["redis.role"] == "subscriber" && $0.metadata["redis.event"] == "connection-restored" }
                })
                #expect(try await eventually(within: .seconds(10)) {
                    let last = try await Self.canary(client)["last_arrived"] as? String
                    return last != nil && last! > before!
                })
                let channel = try #require(try await Self.canary(client)["channel"] as? String)
                let numsub = try await server.cli("PUBSUB", "NUMSUB", channel)
                #expect(numsub.split(separator: "\n").last == "1", "re-subscribed once: \(numsub)")
                #expect(try await Self.canary(client)["missed"] as? Int == 0)
                #expect(logs.with(event: "canary-missed").isEmpty)
                #expect(try await !Self.events(client).contains { $0["kind"] as? String == "canary-missed" })
            }
        }
    }

    @Test("a PUBLISH refused by an ACL disables the canary with one warning, not a storm")
    func publishRefused() async throws {
        try await withRedisServer { server in
            try await server.cli("ACL", "SETUSER", "default", "-publish")
            let logs = LogRecords()
            try await withDaemon(targetsYAML: Self.targetYAML(port: server.port), logs: logs) { _, client, _ in
                #expect(try await eventually(within: .seconds(15)) { try await Self.canary(client)["disabled"] != nil })
                let canary = try await Self.canary(client)
                #expect((canary["disabled"] as? String)?.contains("NOPERM") == true, "\(canary)")
                // Several intervals later: still one warning, no miss, no reconnect of the subscriber.
                let subscriberFailures = { logs.all.filter { $0.metadata["redis.role"] == "subscriber" && $0.metadata["redis.event"] == "connection-failed" }.count }
                #expect(await !eventually(within: .seconds(2)) { logs.with(event: "canary-disabled").count > 1 || subscriberFailures() > 0 })
                #expect(logs.with(event: "canary-disabled").count == 1)
                #expect(logs.with(event: "canary-missed").isEmpty)
                #expect(try await Self.canary(client)["missed"] as? Int == 0)
                #expect(try await object(client, "/status/canary-a")["state"] as? String == "healthy")
            }
        }
    }
}

/// Which fake-server connection is silent (nil: none yet).
final class SilentConnection: Sendable {
    let id = Mutex<Int?>(nil)
}
