import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon
@testable import RedisClient

@Suite("The password appears in no status, event, log or export, however short")
struct SecretScrubbingTests {
    static let password = "pw7"
    static let serverError = "ERR unknown command 'AUTH', with args beginning with: 'pw7' "

    @Test("a server error quoting the password: last_error, reason, events and logs hold <redacted>")
    func statusEventsLogs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-pw-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.password.write(toFile: directory.appendingPathComponent("pw").path, atomically: true, encoding: .utf8)
        let loader = ConfigurationLoader(credentialsDirectory: nil)
        let configuration = try loader.parse(
            "targets:\n  - {name: cache-a, host: 127.0.0.1, port: 6379, password_file: \(directory.path)/pw}\n")
        let events = EventLog()
        let logs = LogRecords()
        let supervisor = try TargetSupervisor(
            target: configuration.targets[0], password: try loader.password(for: configuration.targets[0]), events: events,
            metrics: DaemonMetrics(version: "test"), logger: logs.logger, onStateChange: { _ in })
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: 6379)
        supervisor.fold(.multiplexer(.connectionFailed(role: .interactive, endpoint: endpoint, kind: .authentication, message: Self.serverError)), now: 1)
        supervisor.fold(.multiplexer(.unresponsive(consecutiveFailures: 2, lastError: Self.serverError)), now: 2)
        supervisor.fold(.multiplexer(.forceReconnectCompleted(succeeded: false, error: Self.serverError)), now: 3)
        supervisor.fold(.maintenanceMessage("NotificationType|NodeMaintenanceStarting|IPAddress|\(Self.password)"), now: 4)

        let status = StatusDocument.Target(supervisor.snapshot, now: 5)
        let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        #expect(status.lastError?.contains("<redacted>") == true, "\(status.lastError ?? "")")
        #expect(!json.contains(Self.password), "\(json)")
        let texts = events.entries(since: 0).map(\.event)
        #expect(texts.contains { $0.contains("with args beginning with: <redacted>") }, "\(texts)")
        #expect(!texts.contains { $0.contains(Self.password) }, "\(texts)")
        let logged = logs.all.map { "\($0.message) \($0.metadata)" }
        #expect(!logged.contains { $0.contains(Self.password) }, "\(logged)")
        #expect(logged.contains { $0.contains("<redacted>") })
    }

    @Test("every string of a bundle is scrubbed, keys included, and the JSON stays valid whatever the secret")
    func exportJSON() throws {
        let bundle: [String: Any] = [
            "error": Self.serverError, "nested": [["output": "x pw7 y", "n": 1]], "pw7": true, "count": 7,
        ]
        let data = try JSONSerialization.data(withJSONObject: bundle)
        let scrubbed = SecretScrubber([Self.password, "", "1"]).scrubJSON(data, options: [.sortedKeys])
        let text = String(decoding: scrubbed, as: UTF8.self)
        #expect(!text.contains(Self.password))
        let tree = try #require(try JSONSerialization.jsonObject(with: scrubbed) as? [String: Any])
        // What the server echoes of the arguments is dropped whole, whatever it holds.
        #expect(tree["error"] as? String == "ERR unknown command 'AUTH', with args beginning with: <redacted>")
        #expect(tree["<redacted>"] as? Bool == true && tree["count"] as? Int == 7)
        #expect(((tree["nested"] as? [[String: Any]])?.first?["n"] as? Int) == 1, "numbers are not strings: never scrubbed")
    }

    @Test("a real server whose AUTH and HELLO are renamed quotes the password in its error: status, events, export scrub it")
    func realServer() async throws {
        try await withRedisServer(.init(extraConfig: ["rename-command AUTH \"\"", "rename-command HELLO \"\""])) { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-pw-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try Self.password.write(toFile: directory.appendingPathComponent("pw").path, atomically: true, encoding: .utf8)
            let yaml = "  - {name: cache-a, host: 127.0.0.1, port: \(server.port), password_file: \(directory.path)/pw}\n"
            let logs = LogRecords()
            try await withDaemon(targetsYAML: yaml, logs: logs) { daemon, client, _ in
                #expect(try await eventually(within: .seconds(10)) {
                    (json(try await client.send("GET", "/status/cache-a"))["last_error"] as? String) != nil
                })
                let status = String(decoding: try await client.send("GET", "/status").body, as: UTF8.self)
                let events = String(decoding: try await client.send("GET", "/events").body, as: UTF8.self)
                let export = try await client.send("GET", "/export")
                #expect(export.status == 200)
                let bundle = String(decoding: export.body, as: UTF8.self)
                print("last_error: \(json(try await client.send("GET", "/status/cache-a"))["last_error"] ?? "-")")
                for (name, text) in [("status", status), ("events", events), ("export", bundle)] {
                    #expect(!text.contains(Self.password), "\(name): \(text.prefix(2000))")
                }
                #expect(try JSONSerialization.jsonObject(with: export.body) is [String: Any])
                #expect(!logs.all.contains { "\($0.message) \($0.metadata)".contains(Self.password) })
            }
        }
    }
}
