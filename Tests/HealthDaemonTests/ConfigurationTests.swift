import Foundation
import Testing

@testable import HealthDaemon
@testable import RedisClient

@Suite("Configuration")
struct ConfigurationTests {
    let loader = ConfigurationLoader(credentialsDirectory: nil)

    @Test("the documented example configuration is valid and holds the defaults")
    func example() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../config/redis-healthd.yaml").standardized.path
        let configuration = try loader.load(file: path)
        #expect(configuration.control.socket == "/run/redis-healthd/control.sock")
        #expect(configuration.control.mode == 0o660)
        #expect(configuration.metricsListen == nil)
        #expect(configuration.targets.count == 1)
        let target = try #require(configuration.targets.first)
        #expect(target.name == "local")
        #expect(target.multiplexer.connection.endpoint == RedisEndpoint(host: "127.0.0.1", port: 6379))
        #expect(target.multiplexer.probeInterval == .seconds(1))
        #expect(target.multiplexer.idlePingInterval == .seconds(60))
        #expect(target.multiplexer.backoff == Backoff(base: .milliseconds(100), cap: .seconds(2)))
        #expect(target.multiplexer.forceReconnect == .init(minimumInterval: .seconds(60), errorThreshold: .seconds(30)))
        #expect(target.multiplexer.connection.tcp.userTimeout == .seconds(30))
        #expect(target.allowedPorts == [6379...6379, 6380...6380, 13000...13999, 15000...15999])
        #expect(target.multiplexer.maintenanceNotifications == MaintenanceNotificationSettings())
        #expect(target.maintenanceEvents == .auto)
    }

    @Test("a minimal file: a name and a host")
    func minimal() throws {
        let configuration = try loader.parse("targets:\n  - name: a\n    host: redis.example\n")
        #expect(configuration.targets[0].multiplexer.connection.endpoint.port == 6379)
        #expect(configuration.targets[0].multiplexer.connection.commandTimeout == .seconds(5))
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        var yaml: String
        var expected: [String]
        var testDescription: String { expected.joined(separator: " | ") }
    }

    static let badCases: [BadCase] = [
        BadCase(yaml: "", expected: ["the file is empty; it needs at least `targets:`"]),
        BadCase(yaml: "targets: []\n", expected: ["targets: empty: list at least one Redis target"]),
        BadCase(yaml: "targets: 3\n", expected: ["targets: expected a list of targets, got \"3\""]),
        BadCase(
            yaml: "targets:\n  - name: a\n    host: h\n    keepalive_interval: 10m\n",
            expected: [
                "targets[0]: keepalive_interval 600s must be below 600s: managed Redis closes idle connections after 10 minutes"
            ]),
        BadCase(
            yaml: "targets:\n  - name: a\n    host: h\n    probe_interval: fast\n    port: 70000\n    colour: blue\n",
            expected: [
                "targets[0].colour: unknown key (known: allowed_networks, allowed_ports, canary_interval, client_name, cluster, command_timeout, connect_timeout, credential_command, credential_refresh_margin, credential_timeout, dial_disallowed, host, keepalive_interval, maintenance_events, maintenance_notifications, moving_endpoint_type, name, password_credential, password_file, port, probe_failures, probe_interval, probe_timeout, reconnect, relaxed_timeout, tcp, tls, topology, username)",
                "targets[0].port: 70000 is out of range 1…65535",
                "targets[0].probe_interval: \"fast\" is not a duration; write a number and a unit: 250ms, 5s, 10m, 14d",
            ]),
        BadCase(
            yaml: "control:\n  mode: \"0666\"\ntargets:\n  - name: a\n    host: h\n  - name: a\n    host: h\n",
            expected: [
                "control.mode: 0666 makes the socket world-writable; use 0660 or stricter",
                "targets[1].name: \"a\" is used by another target",
            ]),
        BadCase(
            yaml: "targets:\n  - host: h\n    cluster: maybe\n    allowed_ports: [6379, \"9-1\"]\n    allowed_networks: [\"10.0.0.0/33\"]\n",
            expected: [
                "targets[0].name: missing: every target needs a name",
                "targets[0].cluster: \"maybe\" is not one of off, auto, on",
                "targets[0].allowed_ports[1]: \"9-1\" is not a port range such as \"13000-13999\"",
                "targets[0].allowed_networks[0]: \"10.0.0.0/33\" is not a CIDR such as 10.0.0.0/8",
            ]),
        BadCase(
            yaml: "targets:\n  - name: a\n    host: h\n    topology: {refresh_interval: 0s, history: 0, every: 1s}\n    maintenance_events: sometimes\n",
            expected: [
                "targets[0].topology.every: unknown key (known: history, max_nodes, min_refresh_interval, refresh_interval)",
                "targets[0].topology.history: 0 is out of range 1…10000",
                "targets[0].topology.refresh_interval: 0s is below the least accepted 1s: reading the topology more often only loads the cluster",
                "targets[0].maintenance_events: \"sometimes\" is not one of auto, on, off",
            ]),
        BadCase(
            yaml: "targets:\n  - name: a\n    host: h\n    tls: {enabled: true, cert_file: c.pem}\n    reconnect: {backoff_base: 5s, backoff_cap: 1s}\n",
            expected: [
                "targets[0].tls: cert_file and key_file go together: set both or neither",
                "targets[0]: reconnect.backoff_base 5s must be positive and at most backoff_cap 1s",
            ]),
        BadCase(
            yaml: "metrics:\n  listen: 9121\ntargets:\n  - name: a\n    host: h\n",
            expected: ["metrics.listen: \"9121\" is not host:port such as 127.0.0.1:9121"]),
        BadCase(
            yaml: "targets:\n  - name: a\n    host: h\n    allowed_ports: [azure-manged, azure, 6380]\n    tls: {expiry_warning: soon}\n",
            expected: [
                "targets[0].tls.expiry_warning: \"soon\" is not a duration; write a number and a unit: 250ms, 5s, 10m, 14d",
                "targets[0].allowed_ports[0]: \"azure-manged\" is not a port, a range or a preset (azure-cache, azure-managed); did you mean azure-managed?",
                "targets[0].allowed_ports[1]: \"azure\" is not a port, a range or a preset (azure-cache, azure-managed)",
            ]),
        BadCase(yaml: "targets: [\n", expected: []),
    ]

    @Test("allowed_ports presets: azure-cache and azure-managed, alone or mixed with ports and ranges")
    func portPresets() throws {
        let configuration = try loader.parse(
            """
            targets:
              - {name: cache, host: h, allowed_ports: [azure-cache]}
              - {name: managed, host: h, allowed_ports: [azure-managed, 7000, "7100-7199"]}
            """)
        #expect(configuration.targets[0].allowedPorts == [6379...6379, 6380...6380, 13000...13999, 15000...15999])
        #expect(configuration.targets[1].allowedPorts == [10000...10000, 8500...8599, 7000...7000, 7100...7199])
        let rules = configuration.targets[1].endpointRules
        #expect(rules.dialRefusal(RedisEndpoint(host: "10.0.0.4", port: 8501)) == nil)
        #expect(rules.dialRefusal(RedisEndpoint(host: "10.0.0.4", port: 10000)) == nil)
        #expect(rules.dialRefusal(RedisEndpoint(host: "10.0.0.4", port: 10226)) != nil)
    }

    @Test("every problem is reported at once, with its key path", arguments: badCases)
    func problems(_ bad: BadCase) {
        do {
            _ = try loader.parse(bad.yaml)
            Issue.record("expected problems")
        } catch {
            let messages = error.problems.map(\.description)
            if bad.expected.isEmpty {
                #expect(messages.count == 1 && messages[0].hasPrefix("not valid YAML"), "\(messages)")
            } else {
                #expect(Set(messages) == Set(bad.expected), "\(messages)")
            }
        }
    }

    @Test("durations with units")
    func durations() {
        #expect(DurationParsing.parse("250ms") == .milliseconds(250))
        #expect(DurationParsing.parse("1.5s") == .milliseconds(1500))
        #expect(DurationParsing.parse("10m") == .seconds(600))
        #expect(DurationParsing.parse("1h") == .seconds(3600))
        #expect(DurationParsing.parse("14d") == .seconds(14 * 86_400))
        #expect(Duration.seconds(14 * 86_400).humanReadable == "14d")
        #expect(Duration.seconds(90_000).humanReadable == "90000s")
        #expect(DurationParsing.parse("5") == nil)
        #expect(DurationParsing.parse("-5s") == nil)
        #expect(DurationParsing.parse("s") == nil)
    }

    @Test("passwords come from a file or a systemd credential and never print")
    func passwords() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cred-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "s3cret\n".write(to: directory.appendingPathComponent("redis-password"), atomically: true, encoding: .utf8)
        let withCredentials = ConfigurationLoader(credentialsDirectory: directory.path)
        let configuration = try withCredentials.parse(
            "targets:\n  - name: a\n    host: h\n    password_credential: redis-password\n")
        let secret = try withCredentials.password(for: configuration.targets[0])
        #expect(secret?.value == "s3cret")
        #expect("\(secret!)" == "<redacted>")
        #expect(throws: ConfigurationError.self) { try loader.password(for: configuration.targets[0]) }
    }
}
