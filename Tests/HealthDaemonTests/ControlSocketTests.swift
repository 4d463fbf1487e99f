import Foundation
import Logging
import RedisTestSupport
import Synchronization
import Testing

@testable import HealthDaemon

/// Runs a daemon with one target on `server` and a control socket in a temporary folder.
/// The sd_notify messages a daemon sent, in order.
final class Notifications: Sendable {
    let messages = Mutex<[String]>([])
    var all: [String] { self.messages.withLock { $0 } }
}

func withDaemon(
    _ server: RedisServer, notifications: Notifications? = nil, topYAML: String = "",
    _ body: (Daemon, ControlClient) async throws -> Void
) async throws {
    let target = """
          - name: cache-a
            host: 127.0.0.1
            port: \(server.port)
            probe_interval: 200ms
            probe_timeout: 200ms
            reconnect: {min_interval: 0s}

        """
    try await withDaemon(targetsYAML: target, topYAML: topYAML, notifications: notifications) { daemon, client, _ in
        try await body(daemon, ControlClient(socketPath: client.socketPath))
    }
}


extension ControlClient {
    /// ``request(_:_:body:)`` on a thread of its own: its blocking socket read must not hold a thread of the
    /// cooperative pool that the daemon under test, in this process, may need to answer.
    func send(_ method: String, _ path: String, body: String = "") async throws -> Response {
        try await onDedicatedThread { [self] in try self.request(method, path, body: body) }
    }
}

func json(_ response: ControlClient.Response) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
}

@Suite("Daemon and control socket against a real redis-server", .serialized)
struct ControlSocketTests {
    @Test("status over the socket: healthy, then down with the reason when Redis dies, healthy again after")
    func statusFollowsRedis() async throws {
        let notifications = Notifications()
        try await withRedisServer { server in
            try await withDaemon(server, notifications: notifications) { daemon, client in
                // READY=1 comes once the socket listens, before any Redis connection, and first.
                #expect(await eventually(within: .seconds(15)) { notifications.all.first?.hasPrefix("READY=1") == true })
                func state() async throws -> [String: Any] {
                    let response = try await client.send("GET", "/status/cache-a")
                    #expect(response.status == 200)
                    return json(response)
                }
                #expect(try await eventually(within: .seconds(15)) { try await state()["state"] as? String == "healthy" })
                #expect(try await eventually(within: .seconds(15)) { try await state()["probe_p50_seconds"] is Double })
                let all = json(try await client.send("GET", "/status"))
                #expect((all["targets"] as? [[String: Any]])?.first?["name"] as? String == "cache-a")

                await server.kill9()
                #expect(try await eventually(within: .seconds(15)) { try await state()["state"] as? String == "down" })
                let down = try await state()
                #expect((down["last_error"] as? String)?.contains("connection refused") == true)
                #expect(down["last_error_kind"] as? String == "connection-refused")
                // STATUS= follows a change within a tenth of a second (changes are folded into one line).
                #expect(await eventually(within: .seconds(2)) { notifications.all.contains { $0.hasPrefix("STATUS=0/1 targets healthy; cache-a down") } })

                try await server.restart()
                #expect(try await eventually(within: .seconds(15)) { try await state()["state"] as? String == "healthy" })
                #expect(await eventually(within: .seconds(2)) { notifications.all.last?.hasPrefix("STATUS=1/1 targets healthy; cache-a") == true })
                #expect((try await state()["reconnects"] as? Int) ?? 0 >= 1)

                let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
                for line in [
                    #"redis_healthd_target_up{target="cache-a"} 1"#,
                    #"redis_healthd_target_state{target="cache-a",state="healthy"} 1"#,
                    #"redis_healthd_target_state{target="cache-a",state="down"} 0"#,
                    #"redis_healthd_connection_failures_total{target="cache-a",kind="connection-refused"}"#,
                    #"redis_healthd_reconnects_total{target="cache-a",level="connection"}"#,
                    #"redis_healthd_probe_duration_seconds_bucket{target="cache-a",le="#,
                    #"redis_healthd_build_info{version="dev"} 1"#,
                    #"redis_healthd_topology_anomalies{target="cache-a"} 0"#,
                ] {
                    #expect(metrics.contains(line), "missing \(line) in\n\(metrics)")
                }
                let events = json(try await client.send("GET", "/events?since=0"))["events"] as? [[String: Any]] ?? []
                #expect(events.contains { ($0["event"] as? String)?.contains("connection failed [connection-refused]") == true })
                #expect(events.contains { ($0["event"] as? String)?.contains("restored") == true })
                let last = events.compactMap { $0["sequence"] as? Int }.max() ?? 0
                let newer = json(try await client.send("GET", "/events?since=\(last)"))["events"] as? [[String: Any]]
                #expect(newer?.isEmpty == true)
            }
        }
    }

    @Test("reconnect over the socket, by a permitted peer (root or our own user)")
    func reconnect() async throws {
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                #expect(try await eventually(within: .seconds(15)) {
                    json(try await client.send("GET", "/status/cache-a"))["state"] as? String == "healthy"
                })
                let response = try await client.send("POST", "/reconnect/cache-a")
                #expect(response.status == 200)
                #expect(json(response)["outcome"] as? String == "replaced")
                #expect(try await eventually(within: .seconds(15)) {
                    json(try await client.send("GET", "/status/cache-a"))["force_reconnects"] as? Int == 1
                })
                let guardState = json(try await client.send("GET", "/status/cache-a"))
                #expect(guardState["force_reconnect_in_progress"] as? Bool == false)
                #expect(guardState["force_reconnect_blocked_seconds"] as? Double == 0, "min_interval is 0s here")
                #expect(try await client.send("POST", "/reconnect/nope").status == 404)
            }
        }
    }

    @Test("bad requests get 4xx JSON errors and do not disturb the daemon")
    func badRequests() async throws {
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                #expect(try await client.send("GET", "/nope").status == 404)
                #expect(try await client.send("GET", "/status/unknown").status == 404)
                #expect(try await client.send("DELETE", "/status").status == 405)
                #expect(try await client.send("GET", "/reconnect/cache-a").status == 405)
                #expect(try await client.send("GET", "/events?since=-3").status == 400)
                #expect(json(try await client.send("GET", "/nope"))["error"] is String)
                // Oversized body.
                let huge = try await client.send("POST", "/reconnect/cache-a", body: String(repeating: "x", count: 200_000))
                #expect(huge.status == 413)
                // Garbage that is not HTTP at all: the connection is dropped, the daemon carries on.
                try await sendRaw(client.socketPath, "\u{0}\u{1}NOT HTTP\r\n\r\n\u{ff}")
                #expect(try await client.send("GET", "/status").status == 200)
            }
        }
    }
}

/// Writes raw bytes to the control socket and reads until it closes (on a thread of its own, off the task pool).
func sendRaw(_ path: String, _ text: String) async throws {
    try await onDedicatedThread { sendRawBlocking(path, text) }
}

private func sendRawBlocking(_ path: String, _ text: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
    }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    _ = text.withCString { send(fd, $0, strlen($0), 0) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    while recv(fd, &buffer, buffer.count, 0) > 0 {}
}

@Suite("Reload", .serialized)
struct ReloadTests {
    @Test("a reload adds, rebuilds and removes targets; unchanged ones keep running; connections follow")
    func reload() async throws {
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                func yaml(_ targets: String) throws -> DaemonConfiguration {
                    try ConfigurationLoader(credentialsDirectory: nil).parse("control:\n  socket: \(client.socketPath)\ntargets:\n" + targets)
                }
                func states() async throws -> [String: String] {
                    let targets = json(try await client.send("GET", "/status"))["targets"] as? [[String: Any]] ?? []
                    return Dictionary(uniqueKeysWithValues: targets.map { ($0["name"] as! String, $0["state"] as! String) })
                }
                func ourConnections() async throws -> Int {
                    try await server.cli("CLIENT", "LIST").split(separator: "\n").filter { $0.contains("name=redis-healthd#") }.count
                }
                #expect(try await eventually(within: .seconds(15)) { try await states() == ["cache-a": "healthy"] })
                let a = "  - {name: cache-a, host: 127.0.0.1, port: \(server.port), probe_interval: 200ms, probe_timeout: 200ms, reconnect: {min_interval: 0s}}\n"
                let b = "  - {name: cache-b, host: 127.0.0.1, port: \(server.port)}\n"
                let added = try daemon.reload(try yaml(a + b))
                #expect(added.added == ["cache-b"] && added.unchanged == ["cache-a"] && added.restarted.isEmpty)
                #expect(try await eventually(within: .seconds(15)) { try await states() == ["cache-a": "healthy", "cache-b": "healthy"] })
                #expect(try await eventually(within: .seconds(15)) { try await ourConnections() == 2 })

                let changedB = "  - {name: cache-b, host: 127.0.0.1, port: \(server.port), probe_interval: 2s}\n"
                let changed = try daemon.reload(try yaml(changedB))
                #expect(changed.removed == ["cache-a"] && changed.restarted == ["cache-b"] && changed.added.isEmpty)
                #expect(try await eventually(within: .seconds(15)) { try await states() == ["cache-b": "healthy"] })
                let closing = ContinuousClock.now
                let closed = try await eventually(within: .seconds(10)) { try await ourConnections() == 1 }
                let names = try await server.cli("CLIENT", "LIST")
                #expect(closed, "old connections still open after \(ContinuousClock.now - closing):\n\(names)")
                print("reload: old connections gone after \(ContinuousClock.now - closing)")

                let moved = try daemon.reload(try ConfigurationLoader(credentialsDirectory: nil).parse(
                    "control:\n  socket: /elsewhere.sock\ntargets:\n" + changedB))
                #expect(moved.needsRestart == ["control"] && moved.unchanged == ["cache-b"])
            }
        }
    }
}

@Suite("Prometheus listener", .serialized)
struct MetricsListenerTests {
    @Test("metrics.listen serves GET /metrics on TCP, and nothing else")
    func tcpMetrics() async throws {
        guard let curl = try? which("curl") else {
            print("SKIPPED metrics listener test: needs curl")
            return
        }
        let port = try freePort()
        try await withRedisServer { server in
            try await withDaemon(server, topYAML: "metrics:\n  listen: 127.0.0.1:\(port)\n") { daemon, client in
                #expect(await eventually(within: .seconds(15)) { await canConnect(port: port) })
                let metrics = try await run(curl, ["-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/metrics"])
                #expect(metrics.hasSuffix("\n200"))
                #expect(metrics.contains("redis_healthd_build_info"))
                let status = try await run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/status"])
                #expect(status == "404")
                let reconnect = try await run(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/reconnect/cache-a"])
                #expect(reconnect == "404")
            }
        }
    }
}

@Suite("Control socket peer credentials", .serialized)
struct PeerCredentialTests {
    @Test("a peer that is not root, not the daemon's user and not in the socket's group may read but not reconnect or export; a supplementary member may")
    func nonPermittedPeerRefused() async throws {
        guard getuid() == 0, let setpriv = try? which("setpriv"), let curl = try? which("curl") else {
            print("SKIPPED peer-credential test: needs root, setpriv and curl")
            return
        }
        try await withRedisServer { server in
            try await withDaemon(server) { daemon, client in
                // Let anybody connect for this test only, so that SO_PEERCRED is what refuses.
                chmod(client.socketPath, 0o666)
                func curlAsNobody(_ arguments: [String]) async throws -> String {
                    try await run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", curl, "-s", "-w", " %{http_code}",
                        "--unix-socket", client.socketPath] + arguments)
                }
                let read = try await curlAsNobody(["http://localhost/status"])
                #expect(read.hasSuffix(" 200"), "\(read)")
                let refused = try await curlAsNobody(["-X", "POST", "http://localhost/reconnect/cache-a"])
                #expect(refused.hasSuffix(" 403"), "\(refused)")
                #expect(refused.contains("allowed only to root"))
                #expect(json(try await client.send("GET", "/status/cache-a"))["force_reconnects"] as? Int == 0)
                let export = try await curlAsNobody(["http://localhost/export"])
                #expect(export.hasSuffix(" 403") && export.contains("export is allowed only to root"), "\(export)")
                // A supplementary member of the socket's group may.
                var info = stat()
                #expect(stat(client.socketPath, &info) == 0)
                let member = try await run(setpriv, ["--reuid=65534", "--regid=65534", "--groups=\(info.st_gid)", curl, "-s", "-o", "/dev/null",
                    "-w", "%{http_code}", "-X", "POST", "--unix-socket", client.socketPath, "http://localhost/reconnect/cache-a"])
                #expect(member == "200", "\(member)")
            }
        }
    }
}
