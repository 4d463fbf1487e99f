import NIOCore
import RESP
import RedisTestSupport
import Synchronization
import Testing

@testable import RedisClient

/// What no real server does, from the scripted fake server: the multiplexer and the cluster client must stay
/// bounded and truthful.
@Suite("Multiplexer and cluster client against a hostile fake server")
struct HostileServerTests {
    func configuration(
        _ server: FakeRedisServer, name: String = "hostile", commandTimeout: Duration = .seconds(1)
    ) -> RedisMultiplexerConfiguration {
        RedisMultiplexerConfiguration(
            connection: RedisConnectionConfiguration(
                endpoint: RedisEndpoint(host: server.host, port: server.port), clientName: name,
                connectTimeout: .seconds(2), commandTimeout: commandTimeout),
            probeInterval: .milliseconds(250), probeTimeout: .milliseconds(250), probeFailures: 2)
    }

    /// Hardening (q): a subscription added while the subscriber connection was being set up (its SUBSCRIBEs
    /// under way) was lost until the next reconnect.
    @Test("a subscription added while the subscriber connection is being set up is not lost")
    func subscribeDuringSetUp() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in
            // The first channel's confirmation is slow: the second subscription comes meanwhile.
            command.name == "SUBSCRIBE" && command.arguments == ["first"] ? .delayed(.milliseconds(600), .default) : .default
        }
        try await withFakeRedisServer(script) { server in
            try await withClient(self.configuration(server)) { client, events in
                // Bounds for a loaded machine (a run beside two builds once took more than 5 s to connect).
                #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                let first = await client.subscribe("first")
                _ = try await server.waitForCommands(named: "SUBSCRIBE", within: .seconds(15))
                let second = await client.subscribe("second")
                #expect(await events.first(within: .seconds(15)) { $0.isSubscribed } != nil)
                #expect(await eventually(within: .seconds(15)) { server.connections.contains { $0.channels.contains("second") } })
                #expect(await server.publish(channel: "second", message: "hello") == 1)
                let message = await firstMessage(of: second, within: .seconds(15))
                #expect(message.map { String(buffer: $0.payload) } == "hello")
                withExtendedLifetime(first) {}
            }
        }
    }

    /// Hardening (d): a topology announcing 1,000 unreachable primaries kept 1,000 connections redialing. Dials
    /// across one cluster are now spread (one per 50 ms), never-answering nodes back off to 30 s, and the node
    /// count above the limit is reported.
    @Test("1,000 unreachable primaries: dials are rate-limited and the node count is reported")
    func thousandUnreachablePrimaries() async throws {
        let unreachable = FakeClusterTopology.primaries(1_000, host: "127.0.0.1", basePort: 40_000)
        try await withFakeRedisServer(FakeRedisServer.Script(topology: unreachable)) { server in
            let cluster = try RedisClusterClient(
                configuration: RedisClusterConfiguration(
                    // A 1,000-node CLUSTER SHARDS reply takes a while to build and parse in a debug build.
                    node: self.configuration(server, commandTimeout: .seconds(10)),
                    seeds: [RedisEndpoint(host: server.host, port: server.port)]))
            let dials = Atomic<Int>(0)
            let tooMany = Mutex<(count: Int, limit: Int)?>(nil)
            let stream = cluster.events()
            let watcher = Task {
                for await event in stream {
                    switch event {
                    case .node(_, .connecting): dials.add(1, ordering: .relaxed)
                    case .tooManyNodes(let count, let limit): tooMany.withLock { $0 = (count, limit) }
                    default: break
                    }
                }
            }
            defer { watcher.cancel() }
            try await whileRunning(cluster) {
                #expect(await eventually(within: .seconds(30)) { cluster.topology != nil })
                let started = ContinuousClock.now
                let before = dials.load(ordering: .relaxed)
                try await Task.sleep(for: .seconds(3))
                let made = dials.load(ordering: .relaxed) - before
                print("1,000 unreachable primaries: \(made) dials in \(started.duration(to: .now)) (limit: one per 50 ms)")
                // One per 50 ms is 60 in 3 s; a generous margin, far below the 1,000+ of before.
                #expect(made <= 100)
                #expect(tooMany.withLock { $0 }?.count == 1_000 && tooMany.withLock { $0 }?.limit == 500)
            }
        }
    }

    @Test("a node that never answered backs off up to 30 s; one that answered before, up to the usual cap")
    func neverConnectedBackoff() {
        var configuration = RedisMultiplexerConfiguration(
            connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1)))
        #expect(configuration.reconnectBackoff(everConnected: false).cap == .seconds(2), "off unless set")
        configuration.neverConnectedBackoffCap = .seconds(30)
        #expect(configuration.reconnectBackoff(everConnected: false).ceiling(attempt: 20) == .seconds(30))
        #expect(configuration.reconnectBackoff(everConnected: true).ceiling(attempt: 20) == .seconds(2))
    }

    @Test("the dial limiter hands out one turn per interval, in order, at most its horizon ahead")
    func dialTurns() {
        let limiter = DialRateLimiter(interval: .milliseconds(50), horizon: .seconds(2))
        let now = ContinuousClock.now + .seconds(1)
        let turns = (0..<5).map { _ in limiter.reserve(now: now) }
        #expect(turns == (0..<5).map { now + .milliseconds(50 * $0) })
        // Booked up to the horizon (41 turns within 2 s), then deferred: turns of multiplexers that went away
        // never hold the others up for longer than that.
        let more = (0..<100).map { _ in limiter.reserve(now: now) }
        #expect(more.compactMap { $0 }.count == 36)
        #expect(more.last == .some(nil))
        // After a quiet spell, the next turn is at once.
        #expect(limiter.reserve(now: now + .seconds(10)) == now + .seconds(10))
    }
}

/// The first message of `stream`, or nil when none comes within `timeout` (a test never waits forever).
func firstMessage(of stream: AsyncStream<PubSubMessage>, within timeout: Duration) async -> PubSubMessage? {
    await within(timeout) {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    } ?? nil
}
