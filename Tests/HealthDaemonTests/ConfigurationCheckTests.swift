import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

@Suite("check-config: every problem at once, lower bounds, the file named")
struct ConfigurationCheckTests {
    let loader = ConfigurationLoader(credentialsDirectory: nil)

    struct Bound: Sendable, CustomTestStringConvertible {
        var yaml: String
        var expected: String
        var testDescription: String { expected }
    }

    static let bounds: [Bound] = [
        Bound(yaml: "probe_interval: 1us", expected: "targets[0].probe_interval: 1us is below the least accepted 100ms: probes more often only load the server"),
        Bound(yaml: "probe_timeout: 1ms", expected: "targets[0].probe_timeout: 1ms is below the least accepted 10ms: no round trip is that fast; every probe would fail"),
        Bound(yaml: "command_timeout: 5ms", expected: "targets[0].command_timeout: 5ms is below the least accepted 10ms: no round trip is that fast; every command would fail"),
        Bound(yaml: "connect_timeout: 1us", expected: "targets[0].connect_timeout: 1us is below the least accepted 10ms: no connection is made that fast"),
        Bound(yaml: "keepalive_interval: 500ms", expected: "targets[0].keepalive_interval: 500ms is below the least accepted 1s: a keepalive PING more often than once a second only loads the server"),
        Bound(yaml: "reconnect: {backoff_base: 1us}", expected: "targets[0].reconnect.backoff_base: 1us is below the least accepted 1ms: reconnecting in a tight loop loads the server"),
        Bound(yaml: "topology: {refresh_interval: 10ms}", expected: "targets[0].topology.refresh_interval: 10ms is below the least accepted 1s: reading the topology more often only loads the cluster"),
        Bound(yaml: "topology: {min_refresh_interval: 1ms}", expected: "targets[0].topology.min_refresh_interval: 1ms is below the least accepted 100ms: refreshes triggered more often only load the cluster"),
        Bound(yaml: "tcp: {keepalive_idle: 100ms}", expected: "targets[0].tcp.keepalive_idle: 100ms is below the least accepted 1s: the kernel counts it in whole seconds"),
        Bound(yaml: "tcp: {keepalive_interval: 1us}", expected: "targets[0].tcp.keepalive_interval: 1us is below the least accepted 1s: the kernel counts it in whole seconds"),
        Bound(yaml: "canary_interval: 10ms", expected: "targets[0].canary_interval: 10ms is below the least accepted 100ms (or 0s: off): a canary PUBLISHed more often only loads the server"),
        Bound(yaml: "tcp: {user_timeout: 10ms}", expected: "targets[0].tcp.user_timeout: 10ms is below the least accepted 1s (or 0s: off): a shorter TCP_USER_TIMEOUT drops healthy connections on any hiccup"),
    ]

    @Test("durations below their least sensible value are refused, naming the key, the value and the bound", arguments: bounds)
    func lowerBounds(_ bound: Bound) {
        let report = loader.check("targets:\n  - name: a\n    host: h\n    \(bound.yaml)\n")
        #expect(report.problems.map(\.description) == [bound.expected])
    }

    @Test("the bounds themselves, and 0s for tcp.user_timeout (off), are accepted")
    func boundsAccepted() throws {
        let configuration = try loader.parse(
            """
            targets:
              - name: a
                host: h
                probe_interval: 100ms
                probe_timeout: 10ms
                command_timeout: 10ms
                connect_timeout: 10ms
                keepalive_interval: 1s
                reconnect: {backoff_base: 1ms, backoff_cap: 1ms, min_interval: 0s, error_threshold: 0s}
                topology: {refresh_interval: 1s, min_refresh_interval: 100ms}
                tcp: {keepalive_idle: 1s, keepalive_interval: 1s, user_timeout: 0s}
            """)
        #expect(configuration.targets[0].multiplexer.probeInterval == .milliseconds(100))
        #expect(configuration.targets[0].multiplexer.connection.tcp.userTimeout == .zero)
        #expect(configuration.targets[0].canaryInterval == .seconds(30), "the default")
        let canary = try loader.parse("targets:\n  - {name: a, host: h, canary_interval: 100ms}\n  - {name: b, host: h, canary_interval: 0s}\n")
        #expect(canary.targets.map(\.canaryInterval) == [.milliseconds(100), .zero])
    }

    @Test("YAML problems and every unreadable password are reported together")
    func passwordsAndYAMLTogether() {
        let report = loader.check(
            """
            targets:
              - name: a
                host: h
                password_file: /nonexistent/one
                colour: blue
              - name: b
                host: h
                password_file: /nonexistent/two
              - name: c
                host: h
                password_credential: redis-password
                probe_interval: 1us
            """, file: "/etc/x.yaml")
        let messages = report.problems.map(\.description)
        #expect(messages.contains { $0.hasPrefix("targets[0].colour: unknown key") }, "\(messages)")
        #expect(messages.contains("targets[0].password_file: cannot read the password: /nonexistent/one does not exist"), "\(messages)")
        #expect(messages.contains("targets[1].password_file: cannot read the password: /nonexistent/two does not exist"), "\(messages)")
        #expect(messages.contains { $0.hasPrefix("targets[2].probe_interval: 1us is below") }, "\(messages)")
        #expect(
            messages.contains("targets[2].password_credential: $CREDENTIALS_DIRECTORY is not set: use LoadCredential=redis-password:… in the unit"),
            "\(messages)")
        #expect(messages.count == 5, "\(messages)")
        #expect(report.configuration == nil)
        #expect(report.error?.description.hasPrefix("/etc/x.yaml: 5 problems:\n  - ") == true, "\(report.error?.description ?? "")")
    }

    @Test("the header names the file")
    func header() {
        let error = ConfigurationError(file: "/etc/x.yaml", problems: [.init(path: "a", message: "b"), .init(path: "", message: "c")])
        #expect(error.description == "/etc/x.yaml: 2 problems:\n  - a: b\n  - c")
    }

    @Test("redis-healthd check-config prints the file name and every problem, passwords included")
    func cli() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cc-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.yaml").path
        try """
            control:
              socket: \(directory.path)/control.sock
            targets:
              - name: a
                host: h
                password_file: /nonexistent/one
                probe_interval: 1us
              - name: b
                host: h
                password_file: /nonexistent/two
            """.write(toFile: file, atomically: true, encoding: .utf8)
        do {
            let binary = try daemonBinary()
            _ = try await run(binary, ["check-config", "--config", file])
            Issue.record("check-config should fail")
        } catch {
            let text = "\(error)"
            #expect(text.contains("\(file): 3 problems:"), "\(text)")
            #expect(text.contains("targets[0].probe_interval: 1us is below the least accepted 100ms"), "\(text)")
            #expect(text.contains("targets[0].password_file: cannot read the password: /nonexistent/one does not exist"), "\(text)")
            #expect(text.contains("targets[1].password_file: cannot read the password: /nonexistent/two does not exist"), "\(text)")
        }
    }
}
