import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience (12): the effective configuration, every default filled in, typed.
@Suite("The effective configuration")
struct EffectiveConfigurationTests {
    static let minimal = """
        control:
          socket: /run/redis-healthd/control.sock
        targets:
          - name: cache-a
            host: 127.0.0.1
            port: 6390
          - name: cluster-b
            host: "10.0.0.5"
            allowed_ports: [6379, "13000-13999"]
            allowed_networks: ["10.0.0.0/16"]
            tcp: {user_timeout: 0s}
            reconnect: {connect_timeout: 750ms}
        """

    @Test("the printed YAML holds every default and reads back to the same configuration")
    func roundTrip() throws {
        let loader = ConfigurationLoader(credentialsDirectory: nil)
        let configuration = try loader.parse(Self.minimal)
        let yaml = configuration.effectiveYAML
        for line in [
            "probe_failures: 2", "probe_interval: 1s", "keepalive_interval: 60s", "command_timeout: 5s", "max_nodes: 500",
            "connect_timeout: 750ms", "user_timeout: 0s", "allowed_ports: [6379, \"13000-13999\"]", "mode: \"0660\"",
            "client_name: \"redis-healthd\"", "level: \"info\"", "listen: null",
        ] {
            #expect(yaml.contains(line), "missing \(line) in\n\(yaml)")
        }
        // Operator experience (16): the reconnect attempts' connect timeout is a setting that applies.
        #expect(configuration.targets[1].multiplexer.reconnectConnectTimeout == .milliseconds(750))
        #expect(configuration.targets[0].multiplexer.reconnectConnectTimeout == .milliseconds(1500))
        let again = try loader.parse(yaml)
        #expect(again.effectiveYAML == yaml, "the effective YAML is a fixpoint:\n\(yaml)")
    }

    @Test("the export's configuration is typed JSON with every setting")
    func typedJSON() throws {
        let configuration = try ConfigurationLoader(credentialsDirectory: nil).parse(Self.minimal)
        let data = try JSONEncoder().encode(configuration.targets[0].effectiveSettings)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["probe_failures"] as? Int == 2)
        #expect(object["probe_interval"] as? Double == 1)
        #expect(object["dial_disallowed"] as? Bool == false)
        #expect((object["reconnect"] as? [String: Any])?["backoff_base"] as? Double == 0.1)
        #expect((object["tcp"] as? [String: Any])?["keepalive_count"] as? Int == 3)
        #expect(object["client_name"] as? String == "redis-healthd")
        #expect((object["topology"] as? [String: Any])?["history"] as? Int == 50)
        #expect(object["password_file"] is NSNull)
    }

    @Test("check-config --print prints it")
    func cli() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rh-print-\(UUID().uuidString.prefix(6)).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Self.minimal.replacingOccurrences(of: "/run/redis-healthd/control.sock", with: "/run/rh-print-test/control.sock")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await runCLI(["check-config", "--print", "--config", file])
        #expect(result.status == 0, "\(result)")
        #expect(result.output.contains("probe_failures: 2") && result.output.contains("name: \"cluster-b\""), "\(result.output)")
    }
}
