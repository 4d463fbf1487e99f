import Foundation
import NIOCore
import RESP
import RedisTestSupport
import Testing

@testable import RedisClient

func multiplexerConfiguration(
    _ server: RedisServer, clientName: String = "healthd-test", probeInterval: Duration? = .seconds(1),
    commandTimeout: Duration = .seconds(5)
) -> RedisMultiplexerConfiguration {
    RedisMultiplexerConfiguration(
        connection: RedisConnectionConfiguration(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), clientName: clientName,
            commandTimeout: commandTimeout),
        probeInterval: probeInterval)
}


@Suite("Multiplexer against real faults", .serialized)
struct MultiplexerFaultTests {
    @Test("kill -9 then restart: clear errors while down, success within one backoff step after")
    func killAndRestart() async throws {
        try await withRedisServer { server in
            var config = multiplexerConfiguration(server)
            config.backlogPolicy = .failFast
            try await withClient(config) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                #expect(try await client.send(RESPCommand("SET", "k", "v")) == .simpleString("OK"))
                await server.kill9()
                #expect(await events.first(within: .seconds(5)) { $0.isInteractiveFailed } != nil)
                let error = await expectRedisError(.notConnected, .connectionClosed, .socket) {
                    try await client.send(RESPCommand("GET", "k"))
                }
                #expect(error?.description.contains("127.0.0.1:\(server.port)") == true)
                try await Task.sleep(for: .seconds(1))
                let restarted = ContinuousClock.now
                try await server.restart()
                let reconnected = await events.first(after: restarted, within: .seconds(10)) { $0.isInteractiveConnected }
                let took = reconnected.map { restarted.duration(to: $0) }
                print("kill -9 restart: reconnected \(took.map { "\($0)" } ?? "never") after the server returned")
                // One backoff step: at most the cap (2 s), plus a generous margin for a busy machine.
                #expect(took != nil && took! <= .seconds(2) + .milliseconds(1_500))
                #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG"))
                #expect(events.count { if case .connected(.interactive, _, _, true) = $0 { return true }; return false } >= 1)
            }
        }
    }

    @Test("SIGSTOP: unresponsive fast, connection closed within the command timeout, a reconnect fails against the stopped server, back within 0.5 s of SIGCONT")
    func stopAndContinue() async throws {
        try await withRedisServer { server in
            let config = multiplexerConfiguration(server)
            try await withClient(config) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                #expect(await events.first(within: .seconds(5)) { if case .probe = $0 { return true }; return false } != nil)
                let stopped = ContinuousClock.now
                server.pause()
                // A caller during the stop: fails on time, does not hang.
                let callerStarted = ContinuousClock.now
                _ = await expectRedisError(.commandTimeout, .unresponsive, .connectionClosed) {
                    try await client.send(RESPCommand("GET", "x"), timeout: .seconds(2))
                }
                #expect(ContinuousClock.now - callerStarted < .seconds(4))

                let unresponsive = await events.first(after: stopped, within: .seconds(10)) { $0.isUnresponsive }
                let closed = await events.first(after: stopped, within: .seconds(15)) { $0.isInteractiveFailed }
                let unresponsiveAfter = unresponsive.map { stopped.duration(to: $0) }
                let closedAfter = closed.map { stopped.duration(to: $0) }
                print("SIGSTOP: unresponsive after \(String(describing: unresponsiveAfter)), closed after \(String(describing: closedAfter))")
                // probe interval + probe failures × probe timeout = 1 + 2 × 1 = 3 s; margin for a busy machine.
                #expect(unresponsiveAfter != nil && unresponsiveAfter! <= .seconds(3) + .milliseconds(1_500))
                // Command timeout 5 s (+ one probe interval and timeout to notice, + margin).
                #expect(closedAfter != nil && closedAfter! <= .seconds(5) + .seconds(2) + .milliseconds(1_500))

                // Stopped until a reconnect attempt has run into the stopped server too (its handshake times out):
                // an event, not a fixed wait.
                if let closed {
                    let retried = await events.first(after: closed + .milliseconds(1), within: .seconds(20)) { $0.isInteractiveFailed }
                    #expect(retried != nil, "no reconnect attempt failed against the stopped server")
                }
                let continued = ContinuousClock.now
                server.resume()
                let back = await events.first(after: continued, within: .seconds(10)) { $0.isInteractiveConnected }
                let backAfter = back.map { continued.duration(to: $0) }
                print("SIGCONT: reconnected after \(String(describing: backAfter))")
                #expect(backAfter != nil && backAfter! <= .milliseconds(500) + .milliseconds(1_000))
                let pong = try await client.send(RESPCommand("PING"))
                #expect(pong == .simpleString("PONG"))
            }
        }
    }

    @Test("CLIENT KILL of our connections: restored, subscriptions re-established (RESP3, and RESP2 without HELLO)", arguments: [false, true])
    func clientKill(resp2: Bool) async throws {
        try await withRedisServer(.init(extraConfig: resp2 ? ["rename-command HELLO \"\""] : [])) { server in
            try await withClient(multiplexerConfiguration(server, clientName: "healthd-kill")) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                let messages = await client.subscribe("news")
                let patternMessages = await client.psubscribe("alerts.*")
                #expect(await events.first(within: .seconds(5)) { $0.isSubscribed } != nil)
                var iterator = messages.makeAsyncIterator()
                var patternIterator = patternMessages.makeAsyncIterator()
                #expect(await eventually(within: .seconds(5)) {
                    (try? await server.cli("PUBSUB", "NUMPAT").trimmingCharacters(in: .whitespacesAndNewlines)) == "1"
                })
                try await server.cli("PUBLISH", "news", "before")
                #expect(await iterator.next()?.payload == ByteBuffer(string: "before"))
                try await server.cli("PUBLISH", "alerts.disk", "full")
                let alert = await patternIterator.next()
                #expect(alert == PubSubMessage(channel: "alerts.disk", pattern: "alerts.*", payload: ByteBuffer(string: "full")))
                // Two connections, interactive and subscriber, both named after the client.
                #expect(try await clientNames(server).filter { $0.hasPrefix("healthd-kill") }.count == 2)

                let killed = ContinuousClock.now
                try await server.cli("CLIENT", "KILL", "TYPE", "normal")
                try await server.cli("CLIENT", "KILL", "TYPE", "pubsub")
                #expect(await events.first(after: killed, within: .seconds(5)) { $0.isInteractiveConnected } != nil)
                #expect(await events.first(after: killed, within: .seconds(5)) { $0.isSubscribed } != nil)
                #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG"))
                try await server.cli("PUBLISH", "news", "after")
                #expect(await iterator.next()?.payload == ByteBuffer(string: "after"))
                try await server.cli("PUBLISH", "alerts.cpu", "hot")
                #expect(await patternIterator.next()?.payload == ByteBuffer(string: "hot"))
            }
        }
    }

    @Test("reconnectSubscriber: the subscriber connection alone is replaced (failed as unresponsive, with the reason), re-subscribed, and messages flow again")
    func reconnectSubscriber() async throws {
        try await withRedisServer { server in
            try await withClient(multiplexerConfiguration(server, clientName: "healthd-resub")) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                #expect(!client.reconnectSubscriber(reason: "nothing subscribed"), "no subscriber connection: nothing to close")
                let messages = await client.subscribe("news")
                #expect(await events.first(within: .seconds(5)) { $0.isSubscribed } != nil)
                #expect(client.isSubscriberConnected)
                var iterator = messages.makeAsyncIterator()
                let interactiveID = try await client.send(RESPCommand("CLIENT", "ID"))

                let asked = ContinuousClock.now
                #expect(client.reconnectSubscriber(reason: "canary missed"))
                let failed = await events.first(after: asked, within: .seconds(5)) {
                    if case .connectionFailed(.subscriber, _, .unresponsive, let message) = $0 { return message.contains("canary missed") }
                    return false
                }
                #expect(failed != nil)
                #expect(await events.first(after: asked, within: .seconds(5)) { $0.isSubscribed } != nil)
                #expect(await eventually(within: .seconds(5)) {
                    (try? await server.cli("PUBSUB", "NUMSUB", "news").split(separator: "\n").last) == "1"
                })
                try await server.cli("PUBLISH", "news", "after")
                #expect(await iterator.next()?.payload == ByteBuffer(string: "after"))
                #expect(try await client.send(RESPCommand("CLIENT", "ID")) == interactiveID, "the interactive connection is untouched")
                #expect(events.count { $0.isInteractiveFailed } == 0)
            }
        }
    }

    @Test("server timeout 2 s with keepalive 1 s: the connection outlives a control without keepalive, which the server closes")
    func keepaliveBeatsServerTimeout() async throws {
        // Side by side: the control (keepalive 500 s) is closed by the server's idle timeout; the connection with a
        // 1 s keepalive is still the same one twice as long after that.
        try await withRedisServer(.init(extraConfig: ["timeout 2"])) { server in
            var config = multiplexerConfiguration(server, clientName: "healthd-keepalive", probeInterval: nil)
            config.idlePingInterval = .seconds(1)
            var control = multiplexerConfiguration(server, clientName: "healthd-control", probeInterval: nil)
            control.idlePingInterval = .seconds(500)
            try await withClient(config) { client, events in
                try await withClient(control) { controlClient, controlEvents in
                    #expect(await eventually(within: .seconds(5)) { client.current.isConnected && controlClient.current.isConnected })
                    let started = ContinuousClock.now
                    let id = try await client.send(RESPCommand("CLIENT", "ID"))
                    _ = try await controlClient.send(RESPCommand("PING"))
                    let controlClosed = await controlEvents.first(after: started, within: .seconds(15)) { $0.isInteractiveFailed }
                    #expect(controlClosed != nil, "the server never closed the idle control connection")
                    let closedAfter = controlClosed.map { started.duration(to: $0) } ?? .seconds(15)
                    print("server timeout 2 s: the idle control closed after \(closedAfter)")
                    try await Task.sleep(until: started + closedAfter * 2, clock: .continuous)
                    #expect(events.count { $0.isInteractiveFailed } == 0)
                    #expect(try await client.send(RESPCommand("CLIENT", "ID")) == id, "same connection all along")
                }
            }
        }
    }

    @Test("200 force-reconnects in a row leave exactly the live connections, none leaked")
    func manyForceReconnects() async throws {
        try await withRedisServer { server in
            var config = multiplexerConfiguration(server, clientName: "healthd-force")
            config.forceReconnect = .init(minimumInterval: .zero, errorThreshold: .seconds(30))
            try await withClient(config) { client, events in
                let subscription = await client.subscribe("channel")
                defer { withExtendedLifetime(subscription) {} }
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                let started = ContinuousClock.now
                for _ in 0..<200 {
                    #expect(await client.forceReconnect() == .replaced)
                }
                print("200 force-reconnects took \(ContinuousClock.now - started)")
                #expect(client.forceReconnectCount == 200)
                #expect(await eventually(within: .seconds(5)) { client.current.connectionNames.count == 2 })
                let expected = client.current.connectionNames.sorted()
                // CLIENT LIST settles once the old connections' close has reached the server.
                let settled = try await eventually(within: .seconds(5)) {
                    try await clientNames(server).filter { $0.hasPrefix("healthd-force") }.sorted() == expected
                }
                let names = try await clientNames(server)
                #expect(settled, "CLIENT LIST: \(names), expected \(expected)")
                #expect(expected == ["healthd-force#201", "healthd-force#201"])
            }
        }
    }

    @Test("manual force-reconnect respects the minimum interval")
    func manualMinimumInterval() async throws {
        try await withRedisServer { server in
            try await withClient(multiplexerConfiguration(server)) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                #expect(await client.forceReconnect() == .replaced)
                #expect(await client.forceReconnect() == .suppressed(.minimumInterval))
                #expect(await eventually(within: .seconds(2)) {
                    events.count { $0 == .forceReconnect(acted: false, reason: "minimum-interval") } == 1
                        && events.count { $0 == .forceReconnect(acted: true, reason: "manual") } == 1
                })
            }
        }
    }

    @Test("a force-reconnect whose new connection fails keeps the old one")
    func failedForceReconnectKeepsOld() async throws {
        try await withRedisServer(.init(password: "pw")) { server in
            var config = multiplexerConfiguration(server, clientName: "healthd-keep")
            config.connection.password = RedisSecret("pw")
            config.connection.connectTimeout = .milliseconds(500)
            config.connection.commandTimeout = .milliseconds(500)
            try await withClient(config) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                // New connections now fail authentication; the established one is unaffected.
                try await server.cli("CONFIG", "SET", "requirepass", "changed")
                let outcome = await client.forceReconnect()
                guard case .failed = outcome else {
                    Issue.record("expected failure, got \(outcome)")
                    return
                }
                #expect(client.current.generation == 1)
                #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    @Test("backlog: queued commands complete once connected; fail-fast fails at once; the bound holds")
    func backlog() async throws {
        try await withRedisServer { server in
            await server.kill9()
            var config = multiplexerConfiguration(server)
            config.maxBacklog = 5
            try await withClient(config) { client, events in
                // Queue policy: a command issued while down completes when the server returns.
                async let queued = client.send(RESPCommand("PING"), timeout: .seconds(8))
                try await Task.sleep(for: .milliseconds(300))
                try await server.restart()
                #expect(try await queued == .simpleString("PONG"))
            }
            await server.kill9()
            try await withClient(config) { client, events in
                // Down for good: every caller fails within its timeout; past the bound, at once.
                let started = ContinuousClock.now
                let results = await withTaskGroup(of: RedisClientError.Code?.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            do {
                                _ = try await client.send(RESPCommand("PING"), timeout: .milliseconds(500))
                                return nil
                            } catch { return (error as? RedisClientError)?.code }
                        }
                    }
                    return await group.reduce(into: [RedisClientError.Code?]()) { $0.append($1) }
                }
                #expect(ContinuousClock.now - started < .seconds(2))
                #expect(results.filter { $0 == .backlogFull }.count == 3)
                #expect(results.filter { $0 == .commandTimeout }.count == 5)
            }
            config.backlogPolicy = .failFast
            try await withClient(config) { client, events in
                _ = await expectRedisError(.notConnected) { try await client.send(RESPCommand("PING")) }
            }
        }
    }

    @Test("keepalive_interval of 600 s or more is rejected with the reason")
    func keepaliveValidation() throws {
        var config = RedisMultiplexerConfiguration(connection: .init(endpoint: .init(host: "localhost", port: 6379)))
        config.idlePingInterval = .seconds(600)
        #expect(config.validate() == [
            "keepalive_interval 600s must be below 600s: managed Redis closes idle connections after 10 minutes"
        ])
        #expect(throws: RedisClientError.self) { try ResilientRedisClient(configuration: config) }
        config.idlePingInterval = .seconds(599)
        #expect(config.validate().isEmpty)
    }
}

@Suite("Multiplexer on a black-holed network path", .serialized)
struct BlackHoleTests {
    @Test("silence, not a reset: unresponsive fast, callers bounded, recovery within backoff cap + 0.5 s")
    func blackHoledPeer() async throws {
        if let reason = NetworkNamespace.unavailableReason {
            print("SKIPPED black-hole test: \(reason)")
            return
        }
        try await withNetworkNamespace { namespace in
            var options = RedisServer.Options()
            options.networkNamespace = namespace.name
            options.bindAddress = namespace.address
            try await withRedisServer(options) { server in
                var config = RedisMultiplexerConfiguration(
                    connection: RedisConnectionConfiguration(
                        endpoint: RedisEndpoint(host: namespace.address, port: server.port), clientName: "healthd-blackhole"))
                config.probeInterval = .seconds(1)
                // Backoff steps mostly long enough to restore the path within one, and short dials into the silence.
                config.backoff = Backoff(base: .milliseconds(800), cap: .seconds(2))
                config.reconnectConnectTimeout = .milliseconds(500)
                try await withClient(config) { client, events in
                    #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                    #expect(await events.first(within: .seconds(5)) { if case .probe = $0 { return true }; return false } != nil)

                    // The rule takes effect somewhere while iptables runs (a process in the namespace: tens of
                    // milliseconds, more on a busy machine); the figure counts from when it surely is in place.
                    let cutStarted = ContinuousClock.now
                    try await namespace.blackHole(port: server.port)
                    let cut = ContinuousClock.now
                    let ruleTook = cutStarted.duration(to: cut)
                    let callerStarted = ContinuousClock.now
                    _ = await expectRedisError(.commandTimeout, .unresponsive, .connectionClosed) {
                        try await client.send(RESPCommand("GET", "x"))
                    }
                    let callerTook = ContinuousClock.now - callerStarted
                    #expect(callerTook <= .seconds(5) + .milliseconds(1_500), "caller stalled \(callerTook)")
                    let unresponsive = await events.first(after: cutStarted, within: .seconds(10)) { $0.isUnresponsive }
                    let unresponsiveAfter = unresponsive.map { cut.duration(to: $0) }
                    #expect(unresponsiveAfter != nil && unresponsiveAfter! <= .seconds(3) + .milliseconds(1_500))

                    // Cut until the connection was declared dead and reconnect attempts run into the silence too
                    // (their SYNs dropped): events, not a fixed wait.
                    let closed = await events.first(after: cut, within: .seconds(15)) { $0.isInteractiveFailed }
                    #expect(closed != nil, "the silent connection was never closed")
                    // The path returns at a neutral point: while the loop waits out a backoff step with time left for
                    // the restore to finish, not while a dial's SYN is in flight (that dial would wait for the
                    // kernel's SYN retransmission, a second later, whatever the client does).
                    var neutral = false
                    var after = (closed ?? cut) + .milliseconds(1)
                    for _ in 0..<10 where !neutral {
                        guard let failed = await events.first(after: after, within: .seconds(15), where: { $0.isInteractiveFailed }),
                            let scheduled = await events.firstEvent(after: failed, within: .seconds(5), where: { $0.isInteractiveBackoff })
                        else { break }
                        // A backoff step counts from the start of the attempt that failed.
                        let started = events.timeline.last { $0.at <= failed && $0.event.isInteractiveConnecting }?.at ?? failed
                        if case .reconnectScheduled(_, let delay, _) = scheduled.event,
                            ContinuousClock.now.duration(to: started + delay) >= .milliseconds(300)
                        {
                            neutral = true
                        }
                        after = scheduled.at + .milliseconds(1)
                    }
                    #expect(neutral, "no reconnect attempt failed on the cut path and then waited long enough")
                    try await namespace.restore(port: server.port)
                    let restored = ContinuousClock.now
                    let back = await events.first(after: restored, within: .seconds(15)) { $0.isInteractiveConnected }
                    let backAfter = back.map { restored.duration(to: $0) }
                    // What the client takes once an attempt can see the path: from that attempt's start to connected.
                    let attempt = await events.first(after: restored, within: .seconds(5)) { $0.isInteractiveConnecting }
                    let dialTook = back.flatMap { back in attempt.map { $0.duration(to: back) } }
                    print("black hole: unresponsive after \(String(describing: unresponsiveAfter)) (iptables took \(ruleTook)), caller failed after \(callerTook), reconnected \(String(describing: backAfter)) after the path returned (the backoff step's rest), \(String(describing: dialTook)) after the next attempt started")
                    #expect(backAfter != nil && backAfter! <= .seconds(2) + .milliseconds(500) + .milliseconds(1_000))
                    #expect(dialTook != nil && dialTook! <= .milliseconds(500), "reconnected \(String(describing: dialTook)) after the attempt started")
                    #expect(try await client.send(RESPCommand("PING")) == .simpleString("PONG"))
                }
            }
        }
    }
}
