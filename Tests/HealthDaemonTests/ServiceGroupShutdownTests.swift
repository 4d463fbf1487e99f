import Foundation
import Logging
import RedisClient
import RedisTestSupport
import ServiceLifecycle
import Testing

@testable import HealthDaemon

@Suite("ServiceGroup graceful shutdown against a real redis-server")
struct ServiceGroupShutdownTests {
    @Test("a TargetSupervisor as a Service: triggerGracefulShutdown() ends run() promptly, its connections closed")
    func supervisorShutsDownGracefully() async throws {
        try await withRedisServer { server in
            let yaml = """
                control:
                  socket: /tmp/rh-unused-\(UUID().uuidString.prefix(6)).sock
                targets:
                  - name: graceful
                    host: 127.0.0.1
                    port: \(server.port)
                    client_name: graceful-target
                    probe_interval: 200ms
                    probe_timeout: 200ms
                """
            let target = try ConfigurationLoader(credentialsDirectory: nil).parse(yaml).targets[0]
            let supervisor = try TargetSupervisor(
                target: target, password: nil, events: EventLog(), logger: Logger(label: "test"), onStateChange: { _ in })
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [supervisor], logger: Logger(label: "test")))
            let took = try await gracefulShutdownTime(of: group, bound: .seconds(15)) {
                let connected = await ourClients(server, "graceful-target")
                return supervisor.snapshot.state == .healthy && !connected.isEmpty
            }
            print("TargetSupervisor: graceful shutdown took \(took.map { "\($0)" } ?? "more than 15 s")")
            #expect(took != nil, "run() did not return within 15 s of the graceful shutdown")
            #expect(supervisor.isShuttingDown)
            #expect(!supervisor.client.current.isConnected)
            // The server sees the close a moment later.
            #expect(await eventually(within: .seconds(10)) { await ourClients(server, "graceful-target").isEmpty })
        }
    }

    @Test("the Daemon as a Service: graceful shutdown sends STOPPING=1 (the last STATUS= is 'stopping'), closes connections, removes the socket")
    func daemonShutsDownGracefully() async throws {
        try await withRedisServer { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-sg-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let socket = directory.appendingPathComponent("control.sock").path
            let yaml = """
                control:
                  socket: \(socket)
                targets:
                  - name: graceful
                    host: 127.0.0.1
                    port: \(server.port)
                    client_name: graceful-daemon
                    probe_interval: 200ms
                    probe_timeout: 200ms
                  - name: graceful-two
                    host: 127.0.0.1
                    port: \(server.port)
                    client_name: graceful-daemon-two
                """
            let notifications = Notifications()
            let logs = LogRecords()
            let daemon = try Daemon(
                configuration: try ConfigurationLoader(credentialsDirectory: nil).parse(yaml), logger: logs.logger,
                notify: { message in notifications.messages.withLock { $0.append(message) } })
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [daemon], gracefulShutdownSignals: [], logger: Logger(label: "test")))
            let took = try await gracefulShutdownTime(of: group, bound: .seconds(15)) {
                let healthy = daemon.statuses.allSatisfy { $0.state == .healthy }
                let status = try? await offPool { try ControlClient(socketPath: socket, timeout: 5).request("GET", "/status") }
                let connected = await ourClients(server, "graceful-daemon")
                return healthy && status?.status == 200 && connected.count >= 2
            }
            print("Daemon: graceful shutdown took \(took.map { "\($0)" } ?? "more than 15 s")")
            #expect(took != nil, "run() did not return within 15 s of the graceful shutdown")
            let messages = notifications.all
            #expect(messages.contains("STOPPING=1\nSTATUS=stopping"), "\(messages)")
            #expect(messages.last { $0.contains("STATUS=") } == "STOPPING=1\nSTATUS=stopping", "\(messages)")
            #expect(logs.all.contains { $0.message == "Stopping: closing connections" })
            #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is removed at stop")
            #expect(await eventually(within: .seconds(10)) { await ourClients(server, "graceful-daemon").isEmpty })
        }
    }

    @Test("a ControlServer as a Service: asynchronous answers (reconnect) are worked out in run(); graceful shutdown removes the socket")
    func controlServerShutsDownGracefully() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cs-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("control.sock").path
        let server = try await ControlServer.start(path: path, mode: 0o660, backend: StubBackend(), logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [server], logger: Logger(label: "test")))
        let took = try await gracefulShutdownTime(of: group, bound: .seconds(15)) {
            // The stub knows no target: 404, answered through run()'s task group.
            (try? await ControlClient(socketPath: path, timeout: 5).send("POST", "/reconnect/nothing"))?.status == 404
        }
        print("ControlServer: graceful shutdown took \(took.map { "\($0)" } ?? "more than 15 s")")
        #expect(took != nil, "run() did not return within 15 s of the graceful shutdown")
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed")
    }
}
