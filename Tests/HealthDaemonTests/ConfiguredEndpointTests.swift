import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

@Suite("The configured endpoint against allowed_ports / allowed_networks", .serialized)
struct ConfiguredEndpointTests {
    let loader = ConfigurationLoader(credentialsDirectory: nil)

    @Test("check-config warns (not an error) when the configured endpoint is outside the lists")
    func warning() throws {
        let report = loader.check(
            """
            targets:
              - {name: a, host: 127.0.0.1, port: 6390}
              - {name: b, host: 10.1.2.3, port: 6379, allowed_networks: ["192.168.0.0/16"]}
              - {name: c, host: redis.example, port: 6379, allowed_networks: ["192.168.0.0/16"]}
              - {name: d, host: 127.0.0.1, port: 6379}
            """, file: "x.yaml")
        #expect(report.problems.isEmpty)
        #expect(report.configuration?.targets.count == 4)
        #expect(report.warnings.map(\.description) == [
            "targets[0]: the configured endpoint 127.0.0.1:6390: port 6390 is outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]; it is dialed anyway (your choice), and status notes it (configured_endpoint_outside_allow_list)",
            "targets[1]: the configured endpoint 10.1.2.3:6379: address 10.1.2.3 is outside allowed_networks [192.168.0.0/16]; it is dialed anyway (your choice), and status notes it (configured_endpoint_outside_allow_list)",
        ])
    }

    @Test("the CLI prints the warning and still exits 0")
    func cli() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-ce-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("c.yaml").path
        try "control:\n  socket: \(directory.path)/control.sock\ntargets:\n  - {name: a, host: 127.0.0.1, port: 6390}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("out").path
        let process = try ChildProcess.spawn(try daemonBinary(), ["check-config", "--config", file], output: output)
        #expect(await eventually(within: .seconds(10)) { !process.isRunning })
        #expect(process.exitStatus == 0)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.contains("\(file): warning: targets[0]: the configured endpoint 127.0.0.1:6390: port 6390 is outside allowed_ports"), "\(text)")
        #expect(text.contains("\(file): OK, 1 target(s): a"), "\(text)")
    }

    @Test("status: healthy, with a note naming the broken rule; the table shows it")
    func status() async throws {
        try await withRedisServer { server in
            let yaml = "  - {name: cache-a, host: 127.0.0.1, port: \(server.port), allowed_ports: [6379], probe_interval: 200ms}\n"
            let logs = LogRecords()
            try await withDaemon(targetsYAML: yaml, logs: logs) { daemon, client, _ in
                #expect(try await eventually(within: .seconds(15)) {
                    json(try await client.send("GET", "/status/cache-a"))["state"] as? String == "healthy"
                })
                let status = json(try await client.send("GET", "/status/cache-a"))
                #expect(
                    status["configured_endpoint_outside_allow_list"] as? String
                        == "127.0.0.1:\(server.port): port \(server.port) is outside allowed_ports [6379]")
                #expect(status["reason"] == nil || status["reason"] is NSNull)
                let table = renderTable(daemon.statusDocument().targets)
                #expect(table.contains("note: configured endpoint 127.0.0.1:\(server.port): port \(server.port) is outside allowed_ports [6379]"), "\(table)")
                #expect(logs.with(event: "configured-endpoint-outside-allow-list").count == 1)
            }
        }
        // Inside the lists: no field at all.
        var inside = TargetStatus(name: "a", endpoint: "127.0.0.1:6379", now: 0)
        inside.state = .healthy
        let encoded = String(decoding: try JSONEncoder().encode(StatusDocument.Target(inside, now: 0)), as: UTF8.self)
        #expect(!encoded.contains("configured_endpoint_outside_allow_list"))
    }
}
