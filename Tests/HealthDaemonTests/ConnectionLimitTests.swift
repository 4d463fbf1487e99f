import Foundation
import Logging
import RedisTestSupport
import Testing

@testable import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Answers the control endpoints with fixed documents.
struct StubBackend: ControlBackend {
    func statusDocument() -> StatusDocument { StatusDocument(targets: []) }
    func events(since: Int, target: String?) -> EventsDocument { EventsDocument(events: [], latest: 0, started: 0) }
    func metricsText() -> String { "redis_healthd_build_info{version=\"stub\"} 1\n" }
    func reconnect(target: String) async -> String? { nil }
    func topology(target: String) -> TopologyDocument? { nil }
    func export(target: String?) async -> ExportOutcome { .noSuchTarget }
}

/// A connected socket that sends nothing (or what it is told), non-blocking.
struct RawConnection: Sendable {
    let fd: Int32

    static func unix(_ path: String) -> RawConnection? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            return nil
        }
        return RawConnection(fd: fd)
    }

    static func tcp(port: Int) -> RawConnection? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            return nil
        }
        return RawConnection(fd: fd)
    }

    func send(_ text: String) { _ = text.withCString { Glibc.send(self.fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }

    /// Whether the daemon closed it: EOF or reset (reads what was sent before without waiting).
    var isClosedByPeer: Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(self.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { continue }
            if count == 0 { return true }
            return errno != EAGAIN && errno != EWOULDBLOCK
        }
    }

    func close() { _ = Glibc.close(self.fd) }
}

@Suite("Connection limits and timeouts of the control socket and the metrics listener", .serialized)
struct ConnectionLimitTests {
    static let limits = ConnectionLimits(maxConnections: 8, requestTimeout: .milliseconds(400), idleTimeout: .milliseconds(400))

    func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-lim-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("50 idle connections (cap 8): status still answers at once, no more than 8 are open, idle ones are closed after the timeout")
    func controlSocket() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("control.sock").path
        let server = try await ControlServer.start(
            path: path, mode: 0o660, limits: Self.limits, backend: StubBackend(), logger: Logger(label: "test"))
        do {
            let idle = try await offPool { (0..<50).compactMap { _ in RawConnection.unix(path) } }
            defer { idle.forEach { $0.close() } }
            #expect(idle.count == 50)
            #expect(server.openConnections <= 8)
            let started = ContinuousClock.now
            let status = try await ControlClient(socketPath: path, timeout: 3).send("GET", "/status")
            #expect(status.status == 200)
            #expect(started.duration(to: .now) < .seconds(5), "status took \(started.duration(to: .now))")
            #expect(server.openConnections <= 8)
            // Every idle connection is closed: made room for others, or timed out.
            #expect(await eventually(within: .seconds(10)) { idle.allSatisfy(\.isClosedByPeer) })
            #expect(await eventually(within: .seconds(5)) { server.openConnections == 0 })

            // Slowloris: part of a request head, then nothing: closed after the request timeout.
            let slow = try #require(RawConnection.unix(path))
            defer { slow.close() }
            slow.send("GET /status HTTP/1.1\r\nHost: x\r\n")
            let sent = ContinuousClock.now
            #expect(await eventually(within: .seconds(10)) { slow.isClosedByPeer })
            #expect(sent.duration(to: .now) >= .milliseconds(300))

            // Keep-alive: one answered request, then idle: closed after the idle timeout.
            let keptAlive = try #require(RawConnection.unix(path))
            defer { keptAlive.close() }
            keptAlive.send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await eventually(within: .seconds(10)) { keptAlive.isClosedByPeer })
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("the metrics listener (cap 4): 30 idle TCP connections do not keep GET /metrics out, and are closed")
    func metricsListener() async throws {
        // Timeouts short enough for the test, long enough for a scrape on a machine busy with the parallel suite.
        let limits = ConnectionLimits(maxConnections: 4, requestTimeout: .milliseconds(1500), idleTimeout: .milliseconds(1500))
        let server = try await ControlServer.startMetricsListener(
            host: "127.0.0.1", port: 0, limits: limits, backend: StubBackend(), logger: Logger(label: "test"))
        let port = try #require(server.port)
        do {
            let idle = try await offPool { (0..<30).compactMap { _ in RawConnection.tcp(port: port) } }
            defer { idle.forEach { $0.close() } }
            #expect(idle.count == 30)
            #expect(server.openConnections <= 4)
            let started = ContinuousClock.now
            let answer = try await offPool { () -> String in
                guard let scrape = RawConnection.tcp(port: port) else { return "" }
                defer { scrape.close() }
                var timeout = timeval(tv_sec: 3, tv_usec: 0)
                setsockopt(scrape.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                scrape.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                var data = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = recv(scrape.fd, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    data += buffer[0..<count]
                }
                return String(decoding: data, as: UTF8.self)
            }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(answer.contains("redis_healthd_build_info"))
            #expect(started.duration(to: .now) < .seconds(5))
            #expect(await eventually(within: .seconds(10)) { idle.allSatisfy(\.isClosedByPeer) })
            #expect(await eventually(within: .seconds(5)) { server.openConnections == 0 })
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("the limits are configuration keys with documented defaults and lower bounds")
    func configuration() throws {
        let loader = ConfigurationLoader(credentialsDirectory: nil)
        let defaults = try loader.parse("targets:\n  - {name: a, host: h}\n")
        #expect(defaults.control.limits == ConnectionLimits(maxConnections: 64, requestTimeout: .seconds(10), idleTimeout: .seconds(60)))
        #expect(defaults.metricsLimits == ConnectionLimits(maxConnections: 16, requestTimeout: .seconds(10), idleTimeout: .seconds(60)))
        let set = try loader.parse(
            """
            control: {max_connections: 8, request_timeout: 2s, idle_timeout: 5s}
            metrics: {listen: "127.0.0.1:9121", max_connections: 4, request_timeout: 1s, idle_timeout: 30s}
            targets:
              - {name: a, host: h}
            """)
        #expect(set.control.limits == ConnectionLimits(maxConnections: 8, requestTimeout: .seconds(2), idleTimeout: .seconds(5)))
        #expect(set.metricsLimits == ConnectionLimits(maxConnections: 4, requestTimeout: .seconds(1), idleTimeout: .seconds(30)))
        let report = loader.check("control: {max_connections: 0, request_timeout: 1ms}\ntargets:\n  - {name: a, host: h}\n")
        #expect(report.problems.map(\.description) == [
            "control.max_connections: 0 is out of range 1…4096",
            "control.request_timeout: 1ms is below the least accepted 100ms: no client sends a request that fast",
        ])
    }
}
