import Testing

@testable import HealthDaemon
@testable import RedisClient

@Suite("Target status")
struct TargetStatusTests {
    let endpoint = RedisEndpoint(host: "127.0.0.1", port: 6379)

    @Test("the probe window keeps the last 300 latencies, in microseconds, the oldest replaced first")
    func probeWindow() {
        var window = ProbeWindow()
        #expect(window.isEmpty && window.sorted().isEmpty)
        for sample in 1...300 { window.append(.microseconds(sample)) }
        #expect(window.count == 300 && window.sorted().first == .microseconds(1) && window.sorted().last == .microseconds(300))
        // Full: each new sample replaces the oldest one.
        for sample in 301...450 { window.append(.microseconds(sample)) }
        #expect(window.count == 300 && window.sorted().first == .microseconds(151) && window.sorted().last == .microseconds(450))
        // Below a microsecond counts as 0; beyond what four bytes hold is clamped; negative never happens but is 0.
        var edges: ProbeWindow = [.nanoseconds(999), .seconds(10_000), .milliseconds(-1), .milliseconds(1_500)]
        edges.append(.microseconds(7))
        #expect(edges.sorted() == [.zero, .zero, .microseconds(7), .milliseconds(1_500), .microseconds(Int64(UInt32.max))])
    }

    @Test("a target's life: connecting, healthy, degraded, reconnecting, down, healthy again")
    func lifecycle() {
        var status = TargetStatus(name: "a", endpoint: "127.0.0.1:6379", now: 0)
        #expect(status.state == .starting)
        let changed = status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 0), now: 1)
        #expect(changed)
        #expect(status.state == .connecting && status.since == 1)
        status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: false), now: 2)
        #expect(status.state == .connecting, "connected is not healthy until a probe answers")
        for milliseconds in [1, 2, 3, 4, 100] { status.apply(.probe(latency: .milliseconds(milliseconds)), now: 3) }
        #expect(status.state == .healthy && status.since == 3)
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
        #expect(status.state == .reconnecting && status.reconnects == 1 && status.connectionFailures == 3)
        status.apply(.probe(latency: .milliseconds(1)), now: 9)
        #expect(status.state == .healthy)
    }

    /// Hardening (g): a server that answers HELLO but never PING used to be shown healthy most of the time,
    /// because `connected` cleared the unresponsive flag the probe loop kept to itself.
    @Test("a connection that never answers a probe is never healthy")
    func connectedButSilent() {
        var status = TargetStatus(name: "a", endpoint: "e", now: 0)
        status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 0), now: 1)
        for cycle in 0..<5 {
            let now = Double(10 * cycle)
            status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: cycle > 0), now: now + 2)
            #expect(status.state != .healthy)
            status.apply(.unresponsive(consecutiveFailures: 2, lastError: "PING: no reply within 1s"), now: now + 4)
            #expect(status.state == .degraded && status.reason?.contains("unresponsive") == true)
            status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .unresponsive, message: "dead"), now: now + 7)
            #expect(status.state != .healthy)
            status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 1), now: now + 8)
            #expect(status.state == .reconnecting)
        }
        // (A late probe of a connection that already failed is never published: the multiplexer emits a
        // connection's events in order and only while it is current. A probe that is published is of the
        // current connection, and brings the target up whatever it was.)
        status.apply(.probe(latency: .milliseconds(1)), now: 60)
        #expect(status.state == .healthy)
    }

    /// Hardening (h): after a force-reconnect from an outage the client publishes the replacement's
    /// `connected` and its first probe; the status follows them back to healthy.
    @Test("a force-reconnect's replacement brings the status back to healthy", arguments: [
        TargetStatus.State.down, .reconnecting, .degraded,
    ])
    func forceReconnectRestores(from state: TargetStatus.State) {
        var status = TargetStatus(name: "a", endpoint: "e", now: 0)
        status.apply(.connecting(role: .interactive, endpoint: endpoint, attempt: 0), now: 1)
        status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: false), now: 1)
        status.apply(.probe(latency: .milliseconds(1)), now: 1)
        switch state {
        case .down:
            status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .connectionRefused, message: "refused"), now: 2)
        case .reconnecting:
            status.apply(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .socket, message: "reset"), now: 2)
        default:
            status.apply(.unresponsive(consecutiveFailures: 2, lastError: "timeout"), now: 2)
        }
        #expect(status.state == state)
        status.apply(.forceReconnect(acted: true, reason: "manual"), now: 3)
        status.apply(.connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: true), now: 4)
        status.apply(.probe(latency: .milliseconds(2)), now: 4)
        status.apply(.forceReconnectCompleted(succeeded: true, error: nil), now: 4)
        #expect(status.state == .healthy)
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
