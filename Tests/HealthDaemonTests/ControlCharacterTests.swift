import Foundation
import LogText
import Logging
import Testing

@testable import HealthDaemon
@testable import RedisClient

@Suite("Control characters from servers are escaped wherever they are shown")
struct ControlCharacterTests {
    static let forged = "\n<0>forged"

    @Test(
        "the one escaping function",
        arguments: [
            ("plain 10.0.0.5:6379", "plain 10.0.0.5:6379"), ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("a\tb", "a\\tb"),
            ("\u{0}\u{1b}[31m\u{7f}", "\\x00\\x1B[31m\\x7F"), ("c1 \u{85}\u{9b}", "c1 \\u{85}\\u{9B}"),
            ("ls \u{2028}ps \u{2029}", "ls \\u{2028}ps \\u{2029}"), ("back\\slash ünïcødé ✓", "back\\slash ünïcødé ✓"),
        ])
    func escaping(input: String, expected: String) {
        #expect(input.escapingControlCharacters == expected)
    }

    @Test("the status table: a node id / endpoint with a newline stays in its row")
    func statusTable() {
        var status = TargetStatus(name: "cluster-b", endpoint: "10.0.0.5:6379", now: 1_000)
        status.state = .degraded
        status.anomalies = [
            TopologyAnomaly(
                nodeID: "7c1e\(Self.forged)", endpoint: "10.0.0.5:10226\(Self.forged)", rule: "allowed_ports",
                message: "node 7c1e\(Self.forged) announces 10.0.0.5:10226\(Self.forged), outside allowed_ports [6379]",
                source: "CLUSTER SHARDS from 10.0.0.5:6379", since: 1_000)
        ]
        let rendered = renderTable([StatusDocument.Target(status, now: 1_000)])
        let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3, "header, one row, and the final newline: \(rendered)")
        #expect(!lines.contains { $0.hasPrefix("<0>") })
        #expect(rendered.contains("node 7c1e\\n<0>forged announces 10.0.0.5:10226\\n<0>forged, outside allowed_ports [6379]"))
        // STATUS= for sd_notify: one line, so a server cannot add READY=/WATCHDOG= assignments.
        let line = statusLine([status])
        #expect(!line.contains("\n"))
        #expect(line.contains("\\n<0>forged"), "\(line)")
    }

    @Test("the topology table: node ids, endpoints, anomalies and history stay one line each")
    func topologyTable() throws {
        let json = """
            {"target":"cluster-b","mode":"cluster","refreshed_at":"2026-01-01T00:00:00.000Z","source":"CLUSTER SHARDS from x\\n<0>forged",
             "trigger":"periodic","refreshes":1,"uncovered_slots":0,
             "nodes":[{"id":"7c1e0f3a\\n<0>forged","host":"10.0.0.5\\n<0>forged","port":10226,"role":"primary","slots":["0-16383"],
                       "dialed":false,"connected":false,"not_dialed_reason":"port 10226\\n<0>forged"}],
             "anomalies":[{"node_id":"7c1e\\n<0>forged","endpoint":"10.0.0.5:10226\\n<0>forged","rule":"allowed_ports",
                           "message":"node 7c1e\\n<0>forged announces it","source":"s\\n<0>forged","since":"2026-01-01T00:00:00.000Z"}],
             "history":[{"time":"2026-01-01T00:00:00.000Z","trigger":"t\\n<0>forged","source":"s","anomalies":[],"nodes":[],
                         "changes":[{"kind":"node-added","node_id":"n","description":"node n\\n<0>forged added"}]}],
             "allowed_ports":["6379"],"allowed_networks":[],"dial_disallowed":false}
            """
        let document = try JSONDecoder().decode(TopologyDocument.self, from: Data(json.utf8))
        let rendered = renderTopology(document, history: true)
        #expect(!rendered.split(separator: "\n").contains { $0.hasPrefix("<0>") }, "\(rendered)")
        #expect(rendered.contains("7c1e0f3a"))
        #expect(rendered.contains("node 7c1e\\n<0>forged announces it"), "\(rendered)")
        #expect(rendered.contains("node n\\n<0>forged added"), "\(rendered)")
    }

    @Test("the stderr line format: one <N> line per entry, message and metadata escaped")
    func stderrLine() {
        let line = PriorityStderrLogHandler.line(
            level: .warning, message: "Topology anomaly\(Self.forged)",
            metadata: ["redis.node_id": "7c1e\(Self.forged)", "redis.announced_endpoint": "10.0.0.5:10226\r\u{1b}[2J"])
        #expect(line == "<4>Topology anomaly\\n<0>forged redis.announced_endpoint=10.0.0.5:10226\\r\\x1B[2J redis.node_id=7c1e\\n<0>forged\n")
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test("event text is stored escaped")
    func events() {
        let log = EventLog()
        log.append(target: "cluster-b", text: "ANOMALY node 7c1e\(Self.forged) announces 10.0.0.5:10226\(Self.forged)", at: 1, kind: "topology-anomaly")
        log.append(
            target: "cluster-b",
            event: .connectionFailed(
                role: .interactive, endpoint: RedisEndpoint(host: "10.0.0.5", port: 6379), kind: .errorReply,
                message: "ERR \(Self.forged)"),
            at: 2)
        let texts = log.entries(since: 0).map(\.event)
        #expect(texts == [
            "ANOMALY node 7c1e\\n<0>forged announces 10.0.0.5:10226\\n<0>forged",
            "interactive connection failed [error-reply]: ERR \\n<0>forged",
        ])
    }
}
