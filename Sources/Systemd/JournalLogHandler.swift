import LogText
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes structured entries to journald over its native protocol (one datagram per entry
/// on `/run/systemd/journal/socket`, as `sd_journal_sendv(3)` sends them; see ``JournalDatagram``).
///
/// Fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_FILE, CODE_LINE, CODE_FUNC; the metadata keys
/// `redis.target`, `redis.endpoint`, `redis.event`, `error.kind` become REDIS_TARGET, REDIS_ENDPOINT,
/// REDIS_EVENT, ERROR_KIND; an event with a known `redis.event` gets a stable MESSAGE_ID; every other
/// metadata key becomes an upper-case field (`redis.probe_failures` → REDIS_PROBE_FAILURES).
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let identifier: String

    public init(identifier: String = "redis-healthd") {
        self.identifier = identifier
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    /// Stable MESSAGE_IDs (`journalctl MESSAGE_ID=…`), one per event kind.
    public static let messageIDs: [String: String] = [
        "connection-failed": "3f1c6a0e9b5d4a6f8e2a7c1d5b9e0f41",
        "connection-still-failing": "3f1c6a0e9b5d4a6f8e2a7c1d5b9e0f52",
        "connection-restored": "7a2d4c6e8f0a4b1c9d3e5f7a9b1c3d52",
        "connected": "1b3d5f7a9c1e4f2a8b4c6d8e0f2a4b63",
        "unresponsive": "9c8b7a6d5e4f4a3b8c2d1e0f9a8b7c74",
        "force-reconnect-acted": "5e6f7a8b9c0d4e1f8a2b3c4d5e6f7a85",
        "force-reconnect-suppressed": "2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a96",
        "state-changed": "8d0f2b4d6f8b4d0f8b2d4f6b8d0f2ba7",
        "config-reloaded": "4a6c8e0a2c4e4a6c8e0a2c4e6a8c0eb8",
        "config-rejected": "6e8a0c2e4a6c4e8a0c2e4a6c8e0a2cc9",
        "topology-anomaly": "b7e3c1a94d2f4e6a9c8b1d3f5a7e9c10",
        "topology-anomaly-cleared": "c2d4e6f8a0b24c4e8f1a3b5c7d9e1f21",
        "topology-changed": "d3e5f7a9b1c34d5f9a2b4c6d8e0f2a32",
        "topology-refresh-failed": "e4f6a8b0c2d44e6a8b3c5d7e9f1a3b43",
        "maintenance-event": "f5a7b9c1d3e54f7b9c4d6e8f0a2b4c54",
        "maintenance-malformed": "a6b8c0d2e4f64a8c0d5e7f9a1b3c5d65",
        "host-check": "0b1c2d3e4f5a4b6c8d7e9f0a1b2c3d76",
        "hook-run": "1c3e5a7c9e1b4d3f8a6c0e2b4d6f8a87",
        "certificate-expiry": "2e4a6c8e0b3d4f5a9c1e3b5d7f9a1c98",
        "certificate-renewed": "3f5b7d9f1c4e4a6b8d2f4c6e8a0b2da9",
        "credentials-failed": "4a6c8e0a2c4e4b6d9f1a3c5e7b9d1fb0",
        "reauthenticated": "5b7d9f1b3d5f4c7e8a2b4d6f8c0e2ac1",
        "canary-missed": "4a6c8e0b2d5f4b7c9e3a5c7e9b1d3fba",
        "canary-disabled": "5b7d9f1c3e6a4c8d9f4b6d8f0c2e4acb",
        "maintenance-notification": "59ae2390cfb44d4ca99a184023434405",
        "maintenance-handoff": "03e5ca4ea31542cb910a2c3434eb06ff",
        "maintenance-moving-disallowed": "9981fe3c7584485e996cd990d1dfa5c9",
        "maintenance-notifications-refused": "e6b77b19d47d4b4791bc74becc568444",
    ]

    /// The journal fields of one entry, in order (pure: tested without a journal).
    public static func fields(
        message: String, level: Logger.Level, metadata: Logger.Metadata, identifier: String, file: String,
        line: UInt, function: String
    ) -> [String] {
        var fields = [
            "MESSAGE=\(message.escapingControlCharacters)", "PRIORITY=\(level.syslogPriority)", "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(file)", "CODE_LINE=\(line)", "CODE_FUNC=\(function)",
        ]
        let named = ["redis.target": "REDIS_TARGET", "redis.endpoint": "REDIS_ENDPOINT", "redis.event": "REDIS_EVENT", "error.kind": "ERROR_KIND"]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let name = named[key] ?? fieldName(key)
            guard !name.isEmpty else { continue }
            fields.append("\(name)=\("\(value)".escapingControlCharacters)")
        }
        if case .string(let event) = metadata["redis.event"], let id = Self.messageIDs[event] {
            fields.append("MESSAGE_ID=\(id)")
        }
        return fields
    }

    public func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = Self.fields(
            message: "\(event.message)", level: event.level, metadata: merged, identifier: self.identifier,
            file: event.file, line: event.line, function: event.function)
        journalSocket?.send(JournalDatagram.encode(fields))
    }

    /// Whether stderr is connected to the journal (`$JOURNAL_STREAM` names stderr's device and inode).
    public static var stderrIsJournal: Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

/// `redis.probe_failures` → `REDIS_PROBE_FAILURES`: journal field names are upper-case letters, digits, '_'.
func fieldName(_ key: String) -> String {
    var name = String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    while name.first == "_" || name.first?.isNumber == true { name.removeFirst() }
    return name
}
