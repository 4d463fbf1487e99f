import Foundation
import NIOCore
import RESP
import RedisTestSupport
import Testing

@testable import RedisClient

/// Regression tests of the hardening review against real redis-server processes: leaks, hangs, secrets.
@Suite("Multiplexer hardening against real servers")
struct MultiplexerHardeningTests {
    /// Hardening (m): when re-subscribing failed (NOPERM for an ACL user without channel permission) the
    /// subscriber connection was left open, one more at every attempt, until maxclients.
    @Test("a subscriber connection whose SUBSCRIBE is refused is closed, not leaked")
    func refusedSubscribeDoesNotLeak() async throws {
        let options = RedisServer.Options(extraConfig: ["user limited on >limited-pass ~* resetchannels &allowed +@all"])
        try await withRedisServer(options) { server in
            var config = multiplexerConfiguration(server, clientName: "leak-test")
            config.connection.username = "limited"
            config.connection.password = RedisSecret("limited-pass")
            try await withClient(config) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                let subscription = await client.subscribe("forbidden")
                defer { withExtendedLifetime(subscription) {} }
                // Several attempts fail (each one a connection opened, SUBSCRIBE refused, closed).
                #expect(await eventually(within: .seconds(10)) {
                    events.count { if case .connectionFailed(.subscriber, _, _, _) = $0 { return true }; return false } >= 3
                })
                try await Task.sleep(for: .milliseconds(300))
                let names = try await clientNames(server).filter { $0.hasPrefix("leak-test") }
                print("refused SUBSCRIBE: \(events.count { if case .connectionFailed(.subscriber, _, _, _) = $0 { return true }; return false }) failed attempts, \(names.count) connections open")
                // The interactive connection, and at most the one subscriber attempt under way.
                #expect(names.count <= 2, "\(names)")
                let failure = events.all.compactMap { event -> String? in
                    if case .connectionFailed(.subscriber, _, _, let message) = event { return message }
                    return nil
                }.first
                #expect(failure?.contains("NOPERM") == true, "\(failure ?? "-")")
            }
        }
    }

    /// Hardening (n): cancelling run() without shutdown() never returned while connected.
    @Test("cancelling a multiplexer's run() returns promptly and closes its connections")
    func cancelRun() async throws {
        try await withRedisServer { server in
            let multiplexer = RedisMultiplexer(configuration: multiplexerConfiguration(server, clientName: "cancel-test"))
            let runner = Task { await multiplexer.run() }
            #expect(await eventually(within: .seconds(5)) { multiplexer.isConnected })
            let cancelled = ContinuousClock.now
            runner.cancel()
            let returned = await within(.seconds(5)) { await runner.value } != nil
            print("run() returned \(cancelled.duration(to: .now)) after its task was cancelled")
            #expect(returned, "run() did not return within 5 s of cancellation")
            #expect(await eventually(within: .seconds(2)) { (try? await clientNames(server).filter { $0.hasPrefix("cancel-test") }.isEmpty) == true })
        }
    }

    /// Hardening (n): a shutdown while a force-reconnect brings up its replacement used to swap the replacement
    /// in afterwards, never shut down; run() then never returned.
    @Test("shutdown during a force-reconnect leaves nothing running")
    func shutdownDuringForceReconnect() async throws {
        try await withRedisServer { server in
            var config = multiplexerConfiguration(server, clientName: "swap-test", commandTimeout: .seconds(3))
            config.forceReconnect.minimumInterval = .zero
            let client = try ResilientRedisClient(configuration: config)
            let runner = Task { await client.run() }
            #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
            // A frozen server accepts the replacement's TCP connection but never answers its handshake.
            server.pause()
            defer { server.resume() }
            let outcome = Task { await client.forceReconnect() }
            try await Task.sleep(for: .milliseconds(500))
            let shutdownAt = ContinuousClock.now
            await client.shutdown()
            let ended = await within(.seconds(8)) { await runner.value } != nil
            print("run() ended \(shutdownAt.duration(to: .now)) after shutdown during a force-reconnect")
            #expect(ended, "run() still running 8 s after shutdown")
            if case .replaced = await outcome.value { Issue.record("a replacement was swapped in after shutdown") }
            server.resume()
            let gone = await eventually(within: .seconds(5)) { (try? await clientNames(server).filter { $0.hasPrefix("swap-test") }.isEmpty) == true }
            let list = (try? await server.cli("CLIENT", "LIST")) ?? "?"
            #expect(gone, "CLIENT LIST: \(list)")
        }
    }

    /// Hardening (p): a force-reconnect asked after shutdown hung forever (its request went into a finished
    /// stream).
    @Test("a force-reconnect after shutdown answers at once")
    func forceReconnectAfterShutdown() async throws {
        try await withRedisServer { server in
            let client = try ResilientRedisClient(configuration: multiplexerConfiguration(server))
            let runner = Task { await client.run() }
            #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
            await client.shutdown()
            await runner.value
            let asked = ContinuousClock.now
            let outcome = await client.forceReconnect()
            #expect(asked.duration(to: .now) < .seconds(1))
            guard case .failed(let message) = outcome else {
                Issue.record("expected failed, got \(outcome)")
                return
            }
            #expect(message.contains("shut down"))
        }
    }

    /// Hardening (o): a caller already cancelled while waiting for a connection used to hang past its timeout
    /// holding a backlog slot.
    @Test("a cancelled caller waiting for a connection returns at once and frees its backlog slot")
    func cancelledWaiter() async throws {
        let hold = try PortHold()  // nothing listens there, and no other test's server is given the port
        defer { hold.release() }
        let port = hold.port
        var config = RedisMultiplexerConfiguration(
            connection: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: port)))
        config.maxBacklog = 1
        let client = try ResilientRedisClient(configuration: config)
        try await whileRunning(client) {
            for _ in 0..<20 {
                let started = ContinuousClock.now
                let caller = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return try await client.send(RESPCommand("PING"), timeout: .seconds(30))
                }
                _ = await caller.result
                // At once; the bound leaves room for a busy machine, far below the 30 s it used to hang.
                #expect(started.duration(to: .now) < .seconds(5), "an already-cancelled caller returns at once")
            }
            // The backlog (1 slot) is free: this caller waits its own timeout instead of finding it full.
            let error = await expectRedisError(.commandTimeout) {
                try await client.send(RESPCommand("PING"), timeout: .milliseconds(300))
            }
            #expect(error?.message.contains("no connection within") == true)
        }
    }

    /// Hardening (q): subscription streams were never removed when their consumer went away.
    @Test("a subscription whose consumer goes away is unsubscribed")
    func droppedConsumerUnsubscribes() async throws {
        try await withRedisServer { server in
            try await withClient(multiplexerConfiguration(server)) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                var stream: AsyncStream<PubSubMessage>? = await client.subscribe("fleeting")
                #expect(await events.first(within: .seconds(5)) { $0.isSubscribed } != nil)
                #expect(await eventually(within: .seconds(3)) { (try? await server.cli("PUBSUB", "NUMSUB", "fleeting"))?.contains("1") == true })
                #expect(client.subscriptions.count == 1)
                stream = nil
                _ = stream
                #expect(await eventually(within: .seconds(3)) { client.subscriptions.count == 0 })
                #expect(await eventually(within: .seconds(3)) {
                    (try? await server.cli("PUBSUB", "NUMSUB", "fleeting"))?.split(separator: "\n").last == "0"
                })
            }
        }
    }

    /// Hardening (s): with AUTH and HELLO renamed away, the server quotes the password back in its error.
    @Test("a password echoed in a server's error text appears in no error")
    func passwordNotEchoed() async throws {
        let password = "s3cret-Echoed-Pa55"
        let options = RedisServer.Options(password: password, extraConfig: ["rename-command AUTH \"\"", "rename-command HELLO \"\""])
        try await withRedisServer(options) { server in
            var config = multiplexerConfiguration(server).connection
            config.password = RedisSecret(password)
            let error = await expectRedisError(.authentication, .handshake) {
                try await RedisConnection.connect(configuration: config)
            }
            let text = "\(error.map { "\($0)" } ?? "") \(error?.message ?? "")"
            print("renamed AUTH: \(text)")
            #expect(text.contains("unknown command"))
            #expect(!text.contains(password))
            #expect(!text.contains("s3cret"))
        }
    }

    /// Hardening (h): after a successful force-reconnect from an outage the status never returned to healthy:
    /// the replacement's `connected` came before the swap and was dropped.
    @Test("a force-reconnect during an outage publishes the replacement's connection and probe")
    func forceReconnectFromOutage() async throws {
        try await withRedisServer { server in
            var config = multiplexerConfiguration(server)
            // The old multiplexer waits long between attempts: only the force-reconnect can bring it back soon.
            config.backoff = Backoff(base: .seconds(30), cap: .seconds(30))
            config.forceReconnect.minimumInterval = .zero
            try await withClient(config) { client, events in
                #expect(await events.first(within: .seconds(5)) { if case .probe = $0 { return true }; return false } != nil)
                await server.kill9()
                #expect(await events.first(within: .seconds(5)) { $0.isInteractiveFailed } != nil)
                try await server.restart()
                let asked = ContinuousClock.now
                let outcome = await client.forceReconnect()
                guard case .replaced = outcome else {
                    Issue.record("expected replaced, got \(outcome)")
                    return
                }
                // What the status folds: the replacement's connection and an answered probe, after the swap.
                let connected = await events.first(after: asked, within: .seconds(1)) { $0.isInteractiveConnected }
                let probed = await events.first(after: asked, within: .seconds(3)) { if case .probe = $0 { return true }; return false }
                #expect(connected != nil && probed != nil)
                print("force-reconnect from an outage: replaced in \(asked.duration(to: .now))")
            }
        }
    }

    /// Hardening (j) and (k): a TLS server killed with kill -9 (no close_notify) used to show as a TLS
    /// misconfiguration, and closing the dead connection waited NIOSSL's 5 s for close_notify before the
    /// reconnect began.
    @Test("a TLS server killed: a closed connection (not a TLS problem), reconnecting at once")
    func tlsServerKilled() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(.init(tls: true)) { server in
            var config = RedisMultiplexerConfiguration(
                connection: configuration(server, tls: .init(caFile: certificates.caCertificate)))
            config.backoff = Backoff(base: .milliseconds(10), cap: .milliseconds(10))
            try await withClient(config) { client, events in
                #expect(await events.first(within: .seconds(5)) { if case .probe = $0 { return true }; return false } != nil)
                let killed = ContinuousClock.now
                await server.kill9()
                #expect(await eventually(within: .seconds(5)) {
                    events.count { if case .connecting(.interactive, _, let attempt) = $0 { return attempt > 0 }; return false } > 0
                })
                let afterKill = events.timeline.filter { $0.at >= killed }
                let failed = afterKill.first { $0.event.isInteractiveFailed }?.at
                let retried = afterKill.first {
                    if case .connecting(.interactive, _, let attempt) = $0.event { return attempt > 0 }
                    return false
                }?.at
                let kind = events.all.compactMap { event -> RedisClientError.Code? in
                    if case .connectionFailed(.interactive, _, let kind, _) = event { return kind }
                    return nil
                }.first
                print("TLS kill -9: failed [\(kind.map { "\($0)" } ?? "-")] after \(failed.map { "\(killed.duration(to: $0))" } ?? "never"), next attempt after \(retried.map { "\(killed.duration(to: $0))" } ?? "never")")
                #expect(kind == .connectionClosed || kind == .socket, "not a TLS misconfiguration: \(String(describing: kind))")
                #expect(kind != .tls)
                // NIOSSL's close_notify wait was 5 s; now the next attempt follows the failure at once.
                #expect(retried != nil && killed.duration(to: retried!) < .seconds(2))
            }
        }
    }
}
