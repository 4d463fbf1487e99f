import Testing

@testable import HealthDaemon
@testable import RedisMultiplexer

@Suite("Target status")
struct TargetStatusTests {
    let endpoint = RedisEndpoint(host: "127.0.0.1", port: 6379)

    @Test("a target's life: connecting, healthy, degraded, reconnecting, down, healthy again")
    func lifecycle() {
        var status = TargetStatus(name: "a", endpoint: "127.0.0.1:6379", now: 0)
        #expect(status.state == .starting)
        let changed = status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 0), now: 1)
        #expect(changed)
        #expect(status.state == .connecting && status.since == 1)
        status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: false), now: 2)
        #expect(status.state == .healthy)
        for milliseconds in [1, 2, 3, 4, 100] { status.apply(.probe(latency: .milliseconds(milliseconds)), now: 3) }
        #expect(status.probePercentile(50) == .milliseconds(3))
        #expect(status.probePercentile(99) == .milliseconds(100))
        status.apply(.unresponsive(consecutiveFailures: 2, lastError: "PING: no reply within 1s"), now: 4)
        #expect(status.state == .degraded && status.lastErrorKind == "unresponsive")
        status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .unresponsive, message: "dead"), now: 5)
        #expect(status.state == .reconnecting)
        status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .connectionRefused, message: "refused"), now: 6)
        #expect(status.state == .down && status.lastError == "refused")
        // The same state again does not move `since`.
        let changedAgain = status.apply(
            .connectionFailed(role: .interactive, endpoint: endpoint, kind: .connectionRefused, message: "refused"), now: 7)
        #expect(!changedAgain)
        #expect(status.since == 6)
        status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: true), now: 8)
        #expect(status.state == .healthy && status.reconnects == 1 && status.connectionFailures == 3)
    }

    @Test("authentication failures are a misconfiguration, not an outage")
    func misconfigured() {
        var status = TargetStatus(name: "a", endpoint: "e", now: 0)
        status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .authentication, message: "WRONGPASS"), now: 1)
        #expect(status.state == .misconfigured)
        status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 3), now: 2)
        #expect(status.state == .misconfigured)
    }

    @Test("force-reconnect decisions are counted")
    func forceReconnects() {
        var status = TargetStatus(name: "a", endpoint: "e", now: 0)
        status.apply(.forceReconnect(acted: true, reason: "manual"), now: 1)
        status.apply(.forceReconnect(acted: false, reason: "minimum-interval"), now: 1)
        #expect(status.forceReconnects == 1 && status.forceReconnectsSuppressed == 1)
    }
}
