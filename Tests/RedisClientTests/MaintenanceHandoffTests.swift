import NIOCore
import RESP
import RedisTestSupport
import Synchronization
import Testing

@testable import RedisClient

/// A server that takes `CLIENT MAINT_NOTIFICATIONS` (Redis 7.0 here has no such command: the fake server is the
/// server), answering `GET slow` after `slowDelay`.
private func maintenanceScript(slowDelay: Duration = .seconds(1)) -> FakeRedisServer.Script {
    .respond { command, _ in
        switch command.name {
        case "CLIENT MAINT_NOTIFICATIONS": return .ok
        case "GET" where command.arguments == ["slow"]: return .delayed(slowDelay, .bulk("late"))
        default: return .default
        }
    }
}

private func bulk(_ text: String) -> RESPValue { .bulkString(text) }

extension MultiplexerEvent {
    fileprivate var handoffOutcome: HandoffOutcome? {
        if case .maintenanceHandoff(_, _, let outcome) = self { return outcome }
        return nil
    }
    fileprivate var maintenance: (MaintenanceNotification, stale: Bool)? {
        if case .maintenanceNotification(_, let notification, let stale) = self { return (notification, stale) }
        return nil
    }
    fileprivate var isActedForceReconnect: Bool {
        if case .forceReconnect(true, _) = self { return true }
        return false
    }
}

/// What the callers of the handoff test did.
private final class CallerTally: Sendable {
    let failures = Mutex<[String]>([])
    let successes = Atomic<Int>(0)
    let running = Atomic<Bool>(true)
}

@Suite("Maintenance push notifications against the scripted fake server")
struct MaintenanceHandoffTests {
    func configuration(
        _ server: FakeRedisServer, commandTimeout: Duration = .seconds(5), probes: Bool = true,
        relaxedTimeout: Duration = .seconds(10)
    ) -> RedisMultiplexerConfiguration {
        var configuration = RedisMultiplexerConfiguration(
            connection: RedisConnectionConfiguration(
                endpoint: RedisEndpoint(host: server.host, port: server.port), clientName: "maint",
                connectTimeout: .seconds(5), commandTimeout: commandTimeout),
            probeInterval: probes ? .milliseconds(250) : nil, probeTimeout: .seconds(2), probeFailures: 3)
        configuration.maintenanceNotifications.relaxedTimeout = relaxedTimeout
        return configuration
    }

    @Test("CLIENT MAINT_NOTIFICATIONS ON moving-endpoint-type is sent after the handshake; a refusal is an event, not a failure")
    func enableAndRefusal() async throws {
        try await withFakeRedisServer(maintenanceScript()) { server in
            try await withClient(self.configuration(server)) { client, events in
                let commands = try await server.waitForCommands(named: "CLIENT MAINT_NOTIFICATIONS", within: .seconds(15))
                #expect(commands.first?.arguments == ["ON", "moving-endpoint-type", "internal-ip"])
                #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                #expect(events.count { if case .maintenanceNotificationsRefused = $0 { true } else { false } } == 0)
            }
        }
        // The fake server's default: an unknown command, as from a server without maintenance notifications.
        try await withFakeRedisServer { server in
            try await withClient(self.configuration(server)) { client, events in
                #expect(await events.first(within: .seconds(15)) { if case .maintenanceNotificationsRefused = $0 { true } else { false } } != nil)
                let reply = try await client.send(RESPCommand("PING"))
                #expect(reply.string == "PONG")
                #expect(events.count { $0.isInteractiveFailed } == 0)
            }
        }
        // off: never asked.
        try await withFakeRedisServer(maintenanceScript()) { server in
            var configuration = self.configuration(server)
            configuration.maintenanceNotifications.mode = .off
            try await withClient(configuration) { client, _ in
                #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                _ = try await client.send(RESPCommand("PING"))
                #expect(server.commands(named: "CLIENT MAINT_NOTIFICATIONS").isEmpty)
            }
        }
    }

    @Test("MOVING: a connection to the announced endpoint is swapped in, the old one closed; callers running meanwhile never fail")
    func movingHandoff() async throws {
        try await withFakeRedisServer(maintenanceScript()) { old in
            try await withFakeRedisServer(maintenanceScript()) { new in
                try await withClient(self.configuration(old)) { client, events in
                    #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                    let tally = CallerTally()
                    let callers = (0..<4).map { index in
                        Task { [client] in
                            while tally.running.load(ordering: .relaxed) {
                                do {
                                    _ = try await client.send(RESPCommand("SET", "k\(index)", "v"))
                                    tally.successes.add(1, ordering: .relaxed)
                                } catch {
                                    tally.failures.withLock { $0.append("\(error)") }
                                }
                                try? await Task.sleep(for: .milliseconds(5))
                            }
                        }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    await old.sendPushToAll([bulk("MOVING"), .integer(1), .integer(1), bulk("\(new.host):\(new.port)")])
                    #expect(await events.first(within: .seconds(30)) { $0.handoffOutcome == .completed } != nil)
                    #expect(client.current.configuration.connection.endpoint == RedisEndpoint(host: new.host, port: new.port))
                    #expect(await eventually(within: .seconds(15)) { old.openConnections == 0 })
                    #expect(new.acceptedConnections >= 1)
                    let before = tally.successes.load(ordering: .relaxed)
                    try await Task.sleep(for: .milliseconds(300))
                    tally.running.store(false, ordering: .relaxed)
                    for caller in callers { await caller.value }
                    #expect(tally.successes.load(ordering: .relaxed) > before, "callers carry on on the new connection")
                    #expect(tally.failures.withLock { $0 } == [], "no error reaches a caller")
                    #expect(!new.commands(named: "SET").isEmpty)
                }
            }
        }
    }

    @Test("MOVING to an endpoint outside the allow-lists: reported, never dialed")
    func movingDisallowed() async throws {
        try await withFakeRedisServer(maintenanceScript()) { old in
            try await withFakeRedisServer(maintenanceScript()) { forbidden in
                let client = try ResilientRedisClient(
                    configuration: self.configuration(old),
                    movingPolicy: { $0.port == forbidden.port ? "port \($0.port) is outside allowed_ports [6379]" : nil })
                let events = EventRecorder(client)
                try await whileRunning(client) {
                    #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                    await old.sendPushToAll([bulk("MOVING"), .integer(1), .integer(0), bulk("127.0.0.1:\(forbidden.port)")])
                    let refused = await events.first(within: .seconds(15)) {
                        if case .notDialed(let why) = $0.handoffOutcome { return why.contains("allowed_ports") }
                        return false
                    }
                    #expect(refused != nil)
                    try await Task.sleep(for: .seconds(1))
                    #expect(forbidden.acceptedConnections == 0, "the disallowed endpoint was dialed")
                    #expect(client.current.configuration.connection.endpoint.port == old.port)
                    let reply = try await client.send(RESPCommand("PING"))
                    #expect(reply.string == "PONG")
                }
            }
        }
    }

    @Test("MIGRATING relaxes the command timeout until MIGRATED; a replayed old notification is ignored")
    func migratingRelaxes() async throws {
        try await withFakeRedisServer(maintenanceScript(slowDelay: .milliseconds(1500))) { server in
            var configuration = self.configuration(server, commandTimeout: .milliseconds(500), probes: false, relaxedTimeout: .seconds(5))
            // The slow reply is late, not missing: the connection is not judged dead by its silence.
            configuration.deadAfterSilence = .seconds(30)
            try await withClient(configuration) { client, events in
                #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                await #expect(throws: RedisClientError.self) { _ = try await client.send(RESPCommand("GET", "slow")) }
                await server.sendPushToAll([bulk("MIGRATING"), .integer(5), .integer(30), bulk("1")])
                #expect(await eventually(within: .seconds(15)) { client.current.isInMaintenanceWindow })
                #expect(client.current.maintenanceWindow?.kind == .migrating)
                let reply = try await client.send(RESPCommand("GET", "slow"))
                #expect(reply.string == "late")
                // A replay (sequence 4 after 5) changes nothing: the window stays open.
                await server.sendPushToAll([bulk("MIGRATED"), .integer(4)])
                #expect(await events.first(within: .seconds(15)) { $0.maintenance?.stale == true } != nil)
                #expect(client.current.isInMaintenanceWindow)
                await server.sendPushToAll([bulk("MIGRATED"), .integer(6)])
                #expect(await eventually(within: .seconds(15)) { !client.current.isInMaintenanceWindow })
                await #expect(throws: RedisClientError.self) { _ = try await client.send(RESPCommand("GET", "slow")) }
                // Malformed and unknown pushes: tolerated.
                await server.sendPushToAll([bulk("MOVING"), bulk("x")])
                await server.sendPushToAll([bulk("SOMETHING_NEW"), .integer(1)])
                #expect(await events.first(within: .seconds(15)) { if case .maintenanceMalformed = $0 { true } else { false } } != nil)
                let pong = try await client.send(RESPCommand("PING"), timeout: .seconds(10))  // behind the slow GET
                #expect(pong.string == "PONG")
            }
        }
    }

    @Test("errors during MIGRATING do not count toward the force-reconnect threshold (without a window they do)")
    func migratingKeepsErrorsOutOfTheGuard() async throws {
        func run(window: Bool) async throws -> Int {
            let server = try await FakeRedisServer.start(script: maintenanceScript())
            var configuration = self.configuration(server)
            configuration.forceReconnect = .init(minimumInterval: .zero, errorThreshold: .seconds(1))
            configuration.backoff = Backoff(base: .milliseconds(50), cap: .milliseconds(200))
            let client = try ResilientRedisClient(configuration: configuration)
            let events = EventRecorder(client)
            return try await whileRunning(client) {
                #expect(await eventually(within: .seconds(15)) { client.current.isConnected })
                if window {
                    await server.sendPushToAll([bulk("FAILING_OVER"), .integer(1), .integer(60)])
                    #expect(await eventually(within: .seconds(15)) { client.current.isInMaintenanceWindow })
                }
                // The server goes away: connection errors persist past the threshold.
                await server.shutdown()
                #expect(await eventually(within: .seconds(15)) { events.count { $0.isInteractiveFailed } >= 4 })
                try await Task.sleep(for: .seconds(2))
                return events.count { $0.isActedForceReconnect }
            }
        }
        #expect(try await run(window: true) == 0)
        #expect(try await run(window: false) >= 1)
    }
}
