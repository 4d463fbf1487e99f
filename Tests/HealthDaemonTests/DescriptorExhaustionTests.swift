import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("File descriptors: idle clients cannot starve Redis reconnects", .serialized)
struct DescriptorExhaustionTests {
    @Test("the daemon with a soft limit of 256 fds: 400 idle control connections, then Redis drops our connection: it reconnects and status answers")
    func idleClientsUnderLowLimit() async throws {
        try await withRedisServer { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-fd-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let socket = "\(directory.path)/control.sock"
            let config = "\(directory.path)/redis-healthd.yaml"
            try """
                control:
                  socket: \(socket)
                  request_timeout: 2s
                targets:
                  - {name: cache-a, host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms}
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try ChildProcess.spawn(
                "/bin/sh", ["-c", "ulimit -n 256 && exec \"$0\" run --config \"$1\"", try daemonBinary(), config],
                output: "\(directory.path)/daemon.log")
            defer { daemon.signal(SIGKILL) }
            let client = ControlClient(socketPath: socket, timeout: 5)
            func state() async -> [String: Any] {
                (try? await client.send("GET", "/status/cache-a")).map(json) ?? [:]
            }
            #expect(await eventually(within: .seconds(10)) { await state()["state"] as? String == "healthy" })

            let idle = try await offPool { (0..<400).compactMap { _ in RawConnection.unix(socket) } }
            defer { idle.forEach { $0.close() } }
            #expect(idle.count == 400)
            // Redis drops every client connection: the daemon needs new descriptors to reconnect.
            try await server.cli("CLIENT", "KILL", "TYPE", "normal")
            let started = ContinuousClock.now
            #expect(await eventually(within: .seconds(10)) {
                let status = await state()
                return status["state"] as? String == "healthy" && (status["reconnects"] as? Int ?? 0) >= 1
            })
            print("reconnected and answering \(started.duration(to: .now)) after CLIENT KILL, with 400 idle control connections")
            let log = (try? String(contentsOfFile: "\(directory.path)/daemon.log", encoding: .utf8)) ?? ""
            #expect(!log.contains("Too many open files"), "\(log.suffix(2000))")
            // The daemon's own descriptors stay bounded (cap 64 control connections).
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").count) ?? 0
            #expect(open < 200, "\(open) descriptors open")
        }
    }
}
