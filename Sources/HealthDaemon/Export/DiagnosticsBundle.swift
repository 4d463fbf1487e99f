#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `redis-healthd export` writes for a support case (JSON). Secrets are redacted before it leaves the
/// daemon.
public struct DiagnosticsBundle: Encodable, Sendable {
    public struct Host: Codable, Sendable {
        public var hostname: String
        public var kernel: String
        /// `net.ipv4.tcp_retries2` and the keepalive sysctls ("unreadable" when /proc/sys is hidden).
        public var tcp: [String: String]
        public var warnings: [String]
    }

    /// One command's outcome on one node.
    public struct CommandResult: Codable, Sendable {
        public var command: String
        /// The reply, as text (nested replies indented).
        public var output: String?
        /// Why there is no output: an error reply (a refusal such as CONFIG being disabled is recorded here), a
        /// timeout, a closed connection.
        public var error: String?
    }

    public struct Node: Codable, Sendable {
        public var endpoint: String
        /// `configured` (the target's endpoint; `configured primary` when it is also a cluster node), `primary` or `replica`.
        public var role: String
        public var nodeID: String?
        /// Why the node was not contacted (an endpoint outside the allowed list).
        public var skipped: String?
        /// Why the connection failed, if it did.
        public var connectError: String?
        public var commands: [CommandResult]

        enum CodingKeys: String, CodingKey {
            case endpoint, role, skipped, commands
            case nodeID = "node_id"
            case connectError = "connect_error"
        }
    }

    public struct Target: Encodable, Sendable {
        public var name: String
        /// Every setting of the target as the daemon uses it, typed (durations in seconds; no password: only
        /// where it comes from).
        public var configuration: SettingValue
        public var status: StatusDocument.Target?
        public var topology: TopologyDocument?
        /// `host` resolved now: addresses, or the resolver's error.
        public var resolvedAddresses: [String]
        public var resolveError: String?
        public var nodes: [Node]
        /// The target's recent events, oldest first.
        public var events: [EventLog.Entry]

        enum CodingKeys: String, CodingKey {
            case name, configuration, status, topology, nodes, events
            case resolvedAddresses = "resolved_addresses"
            case resolveError = "resolve_error"
        }
    }

    public var generatedAt: String
    public var version: String
    public var host: Host
    public var targets: [Target]
    /// What was redacted, so the reader knows the bundle is not the raw data.
    public var redaction: String

    enum CodingKeys: String, CodingKey {
        case version, host, targets, redaction
        case generatedAt = "generated_at"
    }
}
