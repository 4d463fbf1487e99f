import Logging
import Testing

@testable import Systemd

@Suite("journald fields: control characters")
struct JournalEscapingTests {
    @Test("a newline in a message or metadata value never starts a new line, let alone a forged <N> entry")
    func forgedLines() {
        let fields = JournalLogHandler.fields(
            message: "Topology anomaly\n<0>forged", level: .warning,
            metadata: ["redis.node_id": "abc\n<0>forged", "redis.announced_endpoint": "10.0.0.5:6379\r\u{1b}[2J\u{85}"],
            identifier: "redis-healthd", file: "f", line: 1, function: "g")
        #expect(fields.allSatisfy { !$0.contains("\n") && !$0.contains("\r") && !$0.contains("\u{1b}") && !$0.contains("\u{85}") })
        #expect(fields.contains("MESSAGE=Topology anomaly\\n<0>forged"))
        #expect(fields.contains("REDIS_NODE_ID=abc\\n<0>forged"))
        #expect(fields.contains("REDIS_ANNOUNCED_ENDPOINT=10.0.0.5:6379\\r\\x1B[2J\\u{85}"))
    }
}
