import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

@Suite("Credential refresh schedule and credential command output (pure)")
struct CredentialRulesTests {
    private func credentials(lifetime: Double, at start: Double = 1_800_000_000) -> RedisCredentials {
        RedisCredentials(username: "u", password: RedisSecret("p"), expiresAt: start + lifetime, obtainedAt: start)
    }

    @Test("re-authenticate at 75 % of the lifetime, at least the margin early, up to 5 % (≤ 30 s) earlier with jitter")
    func schedule() {
        let schedule = CredentialRefreshSchedule(margin: .seconds(180))
        let start = 1_800_000_000.0
        // A one-hour token: 75 % is 45 min, 3 min early is 57 min: 45 min wins.
        #expect(schedule.refreshAt(self.credentials(lifetime: 3600), jitter: 0) == start + 2700)
        #expect(schedule.refreshAt(self.credentials(lifetime: 3600), jitter: 1) == start + 2700 - 30)
        // A 10-minute token: 75 % is 7.5 min, 3 min early is 7 min: the margin wins.
        #expect(schedule.refreshAt(self.credentials(lifetime: 600), jitter: 0) == start + 420)
        #expect(schedule.refreshAt(self.credentials(lifetime: 600), jitter: 0.5) == start + 420 - 15)
        // No expiry: looked at again every check interval.
        let fixed = RedisCredentials(username: nil, password: RedisSecret("p"), expiresAt: nil, obtainedAt: start)
        #expect(schedule.refreshAt(fixed, jitter: 0) == nil)
        #expect(schedule.wait(fixed, now: start, jitter: 0) == .seconds(10))
        // A point already past: the least wait, not a busy loop.
        #expect(schedule.wait(self.credentials(lifetime: 60), now: start + 59, jitter: 0) == .seconds(1))
        #expect(schedule.wait(self.credentials(lifetime: 3600), now: start + 2600, jitter: 0) == .seconds(100))
    }

    @Test("the command's JSON: user, password, expiry; every mistake said without quoting what it printed")
    func parse() throws {
        let now = 1_700_000_000.0  // 2023-11-14
        let good = try CredentialSource.parse(
            #"warming up {"username": "app", "password": "s3cret-token", "expires_at": "2027-01-15T08:00:00Z"}"#, now: now
        ).get()
        #expect(good.username == "app" && good.password.value == "s3cret-token" && good.obtainedAt == now)
        #expect(good.expiresAt == ISO8601DateFormatter().date(from: "2027-01-15T08:00:00Z")?.timeIntervalSince1970)
        let noExpiry = try CredentialSource.parse(#"{"password": "x"}"#, now: now).get()
        #expect(noExpiry.username == nil && noExpiry.expiresAt == nil)
        let bad: [(String, String)] = [
            ("s3cret-token", "printed no JSON object"),
            (#"{"username": "app"}"#, "has no non-empty \"password\""),
            (#"{"password": "s3cret-token", "expires_at": "tomorrow"}"#, "is not an RFC 3339 time"),
            (#"{"password": "s3cret-token", "expires_at": "2020-01-01T00:00:00Z"}"#, "expired at 2020-01-01T00:00:00.000Z"),
            (#"{"password": "s3cret-token", "username": 7}"#, "\"username\" is not a non-empty string"),
        ]
        for (output, expected) in bad {
            guard case .failure(let error) = CredentialSource.parse(output, now: now) else {
                Issue.record("accepted \(output)")
                continue
            }
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(!error.message.contains("s3cret"), "the output is never quoted: \(error.message)")
        }
    }
}

/// Rotating credentials against a real redis-server with ACL users.
@Suite("Rotating credentials against a real redis-server")
struct CredentialDaemonTests {
    /// A real redis-server with the ACL user `app` (password `password`) and a scratch folder whose `file` (named
    /// `fileName`) the test writes the credential to.
    private func withCredentialLab(
        password: String = "token-one", fileName: String = "token.json", options: RedisServer.Options = RedisServer.Options(),
        _ body: (RedisServer, URL, String) async throws -> Void
    ) async throws {
        try await withRedisServer(options) { server in
            _ = try await server.cli("ACL", "SETUSER", "app", "on", ">\(password)", "~*", "&*", "+@all")
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cred-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(server, directory, directory.appendingPathComponent(fileName).path)
        }
    }

    private func ids(_ server: RedisServer, user: String) async throws -> Set<String> {
        Set(
            try await server.cli("CLIENT", "LIST").split(separator: "\n").filter { $0.contains(" user=\(user) ") }
                .compactMap { line in line.split(separator: " ").first { $0.hasPrefix("id=") }.map(String.init) })
    }

    private func json(_ password: String, expiresIn seconds: Double) -> String {
        let expiry = rfc3339(Date().timeIntervalSince1970 + seconds)
        return #"{"username": "app", "password": "\#(password)", "expires_at": "\#(expiry)"}"#
    }

    private func metric(_ client: ControlClient, _ line: String) async throws -> Bool {
        String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self).contains(line)
    }

    @Test("a credential command whose token is rotated: every connection re-authenticates without reconnecting; a killed connection comes back with the new one")
    func rotation() async throws {
        try await self.withCredentialLab { server, directory, file in
            // 40 s lifetime, 35 s margin: the connections re-authenticate about 5 s after connecting.
            try self.json("token-one", expiresIn: 40).write(toFile: file, atomically: true, encoding: .utf8)
            let target = """
                  - name: entra
                    host: 127.0.0.1
                    port: \(server.port)
                    credential_command: ["/bin/cat", "\(file)"]
                    credential_timeout: 2s
                    credential_refresh_margin: 35s
                    maintenance_events: on
                    probe_interval: 500ms
                    probe_timeout: 2s

                """
            let logs = LogRecords()
            try await withDaemon(targetsYAML: target, logs: logs) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/entra") }
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })
                // The interactive connection and the subscriber (maintenance events) both authenticate as app.
                #expect(try await eventually(within: .seconds(20)) { try await self.ids(server, user: "app").count == 2 })
                let before = try await self.ids(server, user: "app")
                let credential = try #require(try await status()["credential"] as? [String: Any])
                #expect(credential["source"] as? String == "credential_command /bin/cat")
                #expect(credential["expires_at"] != nil)
                #expect(try await self.metric(client, #"redis_healthd_credential_expiry_timestamp_seconds{target="entra"}"#))

                // The token rotates: the server takes the new one and drops the old; the command prints the new one.
                try self.json("token-two", expiresIn: 600).write(toFile: file, atomically: true, encoding: .utf8)
                _ = try await server.cli("ACL", "SETUSER", "app", ">token-two", "<token-one")
                #expect(
                    try await eventually(within: .seconds(30)) {
                        try await self.metric(client, #"redis_healthd_reauth_total{target="entra",outcome="ok"} 2"#)
                    }, "both connections, the subscriber included (RESP3 AUTHs while subscribed)")
                let after = try await self.ids(server, user: "app")
                #expect(after == before, "re-authenticated on the same connections (same CLIENT ID): \(before) → \(after)")
                #expect(try await status()["state"] as? String == "healthy")

                // The server drops the user's connections: the daemon reconnects with the new token.
                _ = try await server.cli("CLIENT", "KILL", "USER", "app")
                #expect(try await eventually(within: .seconds(20)) {
                    let now = try await self.ids(server, user: "app")
                    return !now.isEmpty && now.isDisjoint(with: before)
                })
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })

                // The secrets appear nowhere.
                let everything = [
                    String(decoding: try await client.send("GET", "/status").body, as: UTF8.self),
                    String(decoding: try await client.send("GET", "/events").body, as: UTF8.self),
                    String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self),
                    String(decoding: try await client.send("GET", "/export/entra").body, as: UTF8.self),
                    logs.all.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n"),
                ].joined(separator: "\n")
                #expect(!everything.contains("token-one") && !everything.contains("token-two"))
            }
        }
    }

    @Test("a credential command that hangs, fails or prints garbage: a clear error, the current credential kept, the target healthy")
    func commandFailures() async throws {
        try await self.withCredentialLab { server, directory, file in
            let mode = directory.appendingPathComponent("mode").path
            try self.json("token-one", expiresIn: 60).write(toFile: file, atomically: true, encoding: .utf8)
            try "ok".write(toFile: mode, atomically: true, encoding: .utf8)
            let script = """
                case $(cat \(mode)) in ok) cat \(file);; hang) sleep 30;; fail) echo token-one >&2; exit 3;; *) echo not json token-one;; esac
                """
            let quoted = String(decoding: try JSONEncoder().encode(script), as: UTF8.self)
            // 60 s lifetime, 55 s margin: a refresh is due about 5 s after connecting, and the token still works.
            let target = """
                  - name: entra
                    host: 127.0.0.1
                    port: \(server.port)
                    credential_command: ["/bin/sh", "-c", \(quoted)]
                    credential_timeout: 1s
                    credential_refresh_margin: 55s
                    probe_interval: 500ms
                    probe_timeout: 2s

                """
            let logs = LogRecords()
            try await withDaemon(targetsYAML: target, logs: logs) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/entra") }
                func lastError() async throws -> String { (try await status()["credential"] as? [String: Any])?["last_error"] as? String ?? "" }
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })
                func check(_ name: String, _ expected: String) async throws {
                    try name.write(toFile: mode, atomically: true, encoding: .utf8)
                    let seen = try await eventually(within: .seconds(30)) { try await lastError().contains(expected) }
                    let last = try await lastError()
                    #expect(seen, "\(name): \(last)")
                    let state = try await status()["state"] as? String
                    #expect(state == "healthy", "the current credential still serves")
                }
                try await check("hang", "printed no credential within 1s; it was killed")
                try await check("fail", "exited with status 3")
                try await check("garbage", "printed no JSON object")
                #expect(!logs.with(event: "credentials-failed").isEmpty)
                let everything = [
                    String(decoding: try await client.send("GET", "/status").body, as: UTF8.self),
                    String(decoding: try await client.send("GET", "/events").body, as: UTF8.self),
                    logs.all.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n"),
                ].joined(separator: "\n")
                #expect(!everything.contains("token-one"), "what the command printed is never shown")
            }
        }
    }

    @Test("password_file rewritten: live connections re-authenticate with the new password, reconnects use it")
    func passwordFileRewritten() async throws {
        try await self.withCredentialLab(password: "first-pass", fileName: "password") { server, directory, file in
            try "first-pass\n".write(toFile: file, atomically: true, encoding: .utf8)
            let target = """
                  - name: cache-a
                    host: 127.0.0.1
                    port: \(server.port)
                    username: app
                    password_file: \(file)
                    probe_interval: 500ms
                    probe_timeout: 2s

                """
            try await withDaemon(targetsYAML: target) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/cache-a") }
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })
                let before = try await self.ids(server, user: "app")
                try "second-pass\n".write(toFile: file, atomically: true, encoding: .utf8)
                _ = try await server.cli("ACL", "SETUSER", "app", ">second-pass", "<first-pass")
                // Looked at every 10 s: within a few of those.
                #expect(
                    try await eventually(within: .seconds(40)) {
                        try await self.metric(client, #"redis_healthd_reauth_total{target="cache-a",outcome="ok"}"#)
                    })
                #expect(try await self.ids(server, user: "app") == before, "no reconnect was needed")
                _ = try await server.cli("CLIENT", "KILL", "USER", "app")
                #expect(try await eventually(within: .seconds(20)) {
                    let now = try await self.ids(server, user: "app")
                    return !now.isEmpty && now.isDisjoint(with: before)
                })
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })
                #expect((try await status()["credential"] as? [String: Any])?["source"] as? String == "password_file \(file)")
            }
        }
    }
    @Test("a RESP2 subscriber cannot AUTH while subscribed: it reconnects with the new credential; the interactive one re-authenticates")
    func resp2Subscriber() async throws {
        try await self.withCredentialLab(options: RedisServer.Options(extraConfig: [#"rename-command HELLO """#])) { server, directory, file in
            try self.json("token-one", expiresIn: 40).write(toFile: file, atomically: true, encoding: .utf8)
            let target = """
                  - name: entra
                    host: 127.0.0.1
                    port: \(server.port)
                    credential_command: ["/bin/cat", "\(file)"]
                    credential_refresh_margin: 35s
                    maintenance_events: on
                    probe_interval: 500ms
                    probe_timeout: 2s

                """
            try await withDaemon(targetsYAML: target) { _, client, _ in
                #expect(try await eventually(within: .seconds(20)) { try await self.ids(server, user: "app").count == 2 })
                try self.json("token-two", expiresIn: 600).write(toFile: file, atomically: true, encoding: .utf8)
                _ = try await server.cli("ACL", "SETUSER", "app", ">token-two", "<token-one")
                #expect(
                    try await eventually(within: .seconds(30)) {
                        let reconnected = try await self.metric(client, #"redis_healthd_reauth_total{target="entra",outcome="reconnect"} 1"#)
                        let authenticated = try await self.metric(client, #"redis_healthd_reauth_total{target="entra",outcome="ok"} 1"#)
                        return reconnected && authenticated
                    })
                // The subscriber is back (with the new token: the old one no longer exists).
                #expect(try await eventually(within: .seconds(20)) { try await self.ids(server, user: "app").count == 2 })
            }
        }
    }

    @Test("a credential that expires with no new one to be had: the connection is closed and never reconnects with it")
    func expiredNeverReused() async throws {
        try await self.withCredentialLab { server, directory, file in
            let mode = directory.appendingPathComponent("mode").path
            try self.json("token-one", expiresIn: 8).write(toFile: file, atomically: true, encoding: .utf8)
            try "ok".write(toFile: mode, atomically: true, encoding: .utf8)
            let script = "case $(cat \(mode)) in ok) cat \(file);; *) exit 3;; esac"
            let quoted = String(decoding: try JSONEncoder().encode(script), as: UTF8.self)
            let target = """
                  - name: entra
                    host: 127.0.0.1
                    port: \(server.port)
                    credential_command: ["/bin/sh", "-c", \(quoted)]
                    credential_refresh_margin: 6s
                    probe_interval: 500ms
                    probe_timeout: 2s

                """
            try await withDaemon(targetsYAML: target) { _, client, _ in
                func status() async throws -> [String: Any] { try await object(client, "/status/entra") }
                #expect(try await eventually(within: .seconds(20)) { try await status()["state"] as? String == "healthy" })
                try "fail".write(toFile: mode, atomically: true, encoding: .utf8)
                // The token expires 8 s after it was printed: its connection is closed, and every reconnect fails
                // asking for a new one (the old one is never sent again).
                #expect(
                    try await eventually(within: .seconds(30)) {
                        try await self.metric(client, #"redis_healthd_reauth_total{target="entra",outcome="expired"} 1"#)
                    })
                #expect(try await eventually(within: .seconds(20)) {
                    let current = try await status()
                    return current["state"] as? String == "misconfigured"
                        && (current["last_error"] as? String)?.contains("exited with status 3") == true
                })
                #expect(try await self.ids(server, user: "app").isEmpty)
            }
        }
    }
    @Test("doctor authenticates with the target's credential command, and says so")
    func doctorUsesTheCommand() async throws {
        try await self.withCredentialLab { server, directory, file in
            try self.json("token-one", expiresIn: 600).write(toFile: file, atomically: true, encoding: .utf8)
            let target = try doctorTarget(port: server.port, ["    credential_command: [\"/bin/cat\", \"\(file)\"]"])
            let report = await Doctor(target: target, password: nil).run()
            let auth = try #require(report.checks.first { $0.section == "handshake" && $0.name == "AUTH" })
            #expect(auth.status == .ok && auth.detail.hasPrefix("authenticated as app with credential_command's credential, valid until"), "\(auth)")
            #expect(!report.table.contains("token-one"))
        }
    }
}
