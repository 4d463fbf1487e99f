import Logging
import Testing

@testable import Systemd

@Suite("journald fields")
struct JournalFieldsTests {
    @Test("structured fields, named Redis fields and a stable MESSAGE_ID")
    func fields() {
        let fields = JournalLogHandler.fields(
            message: "Connection failed", level: .warning,
            metadata: [
                "redis.target": "cache-a", "redis.endpoint": "10.0.0.4:6380", "redis.event": "connection-failed",
                "error.kind": "connection-refused", "redis.role": "interactive",
            ],
            identifier: "redis-healthd", file: "HealthDaemon/TargetSupervisor.swift", line: 42, function: "log(_:)")
        #expect(fields == [
            "MESSAGE=Connection failed", "PRIORITY=4", "SYSLOG_IDENTIFIER=redis-healthd",
            "CODE_FILE=HealthDaemon/TargetSupervisor.swift", "CODE_LINE=42", "CODE_FUNC=log(_:)",
            "ERROR_KIND=connection-refused", "REDIS_ENDPOINT=10.0.0.4:6380", "REDIS_EVENT=connection-failed",
            "REDIS_ROLE=interactive", "REDIS_TARGET=cache-a", "MESSAGE_ID=3f1c6a0e9b5d4a6f8e2a7c1d5b9e0f41",
        ])
    }

    @Test("a missed pub/sub canary is a warning with its own MESSAGE_ID; a disabled canary too")
    func canaryMessageIDs() {
        let fields = JournalLogHandler.fields(
            message: "Pub/sub canary missed", level: .warning,
            metadata: ["redis.target": "cache-a", "redis.event": "canary-missed", "redis.channel": "redis-healthd:canary:h:1:cache-a"],
            identifier: "redis-healthd", file: "f", line: 1, function: "g")
        #expect(fields.contains("PRIORITY=4"))
        #expect(fields.contains("REDIS_CHANNEL=redis-healthd:canary:h:1:cache-a"))
        #expect(fields.contains("MESSAGE_ID=4a6c8e0b2d5f4b7c9e3a5c7e9b1d3fba"))
        #expect(JournalLogHandler.messageIDs["canary-disabled"] == "5b7d9f1c3e6a4c8d9f4b6d8f0c2e4acb")
    }

    @Test("a maintenance push notification: its MESSAGE_ID and fields (as the README shows them)")
    func maintenanceNotification() {
        let fields = JournalLogHandler.fields(
            message: "Maintenance notification", level: .notice,
            metadata: [
                "redis.target": "cache-a", "redis.endpoint": "127.0.0.1:45923", "redis.event": "maintenance-notification",
                "redis.node_endpoint": "127.0.0.1:45923", "redis.maintenance_type": "MIGRATING", "redis.maintenance_sequence": "3",
                "redis.maintenance_summary": "MIGRATING #3 (30s) shards 1", "redis.topology_refresh": "false",
            ],
            identifier: "redis-healthd", file: "f", line: 1, function: "g")
        #expect(fields.contains("PRIORITY=5"))
        #expect(fields.contains("MESSAGE_ID=59ae2390cfb44d4ca99a184023434405"))
        #expect(fields.contains("REDIS_MAINTENANCE_TYPE=MIGRATING"))
        #expect(fields.contains("REDIS_MAINTENANCE_SUMMARY=MIGRATING #3 (30s) shards 1"))
        #expect(fields.contains("REDIS_NODE_ENDPOINT=127.0.0.1:45923"))
        for event in ["maintenance-handoff", "maintenance-moving-disallowed", "maintenance-notifications-refused"] {
            #expect(JournalLogHandler.messageIDs[event] != nil, "\(event)")
        }
    }

    @Test("message ids are distinct 128-bit hex ids")
    func messageIDs() {
        let ids = Array(JournalLogHandler.messageIDs.values)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }

    @Test("metadata keys become journal field names", arguments: [
        ("redis.probe_failures", "REDIS_PROBE_FAILURES"), ("error.message", "ERROR_MESSAGE"), ("_x", "X"), ("9a", "A"),
    ])
    func names(key: String, expected: String) {
        #expect(fieldName(key) == expected)
    }
}
