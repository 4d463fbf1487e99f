#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A maintenance notification from Azure Cache for Redis / Azure Managed Redis on the `AzureRedisEvents`
/// channel: pipe-separated key/value pairs,
/// `NotificationType|NodeMaintenanceStarting|StartTimeInUTC|2026-11-22T23:26:57|IsReplica|False|IPAddress|10.0.0.4|SSLPort|15001|NonSSLPort|13001`.
public struct MaintenanceEvent: Sendable, Hashable, Codable {
    /// The channel the notifications arrive on.
    public static let channel = "AzureRedisEvents"

    /// The notification types known; others parse with `kind == nil` and are logged as unknown.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case scheduled = "NodeMaintenanceScheduled"
        case starting = "NodeMaintenanceStarting"
        case start = "NodeMaintenanceStart"
        case ended = "NodeMaintenanceEnded"
        case failoverComplete = "NodeMaintenanceFailoverComplete"
        case scaleComplete = "NodeMaintenanceScaleComplete"
    }

    /// The `NotificationType` as sent.
    public var type: String
    public var kind: Kind?
    /// Every key/value pair, `NotificationType` included.
    public var fields: [String: String]

    public var startTimeInUTC: String? { self.fields["StartTimeInUTC"] }
    public var isReplica: Bool? { self.fields["IsReplica"].flatMap { Bool($0.lowercased()) } }
    public var ipAddress: String? { self.fields["IPAddress"] }
    public var sslPort: Int? { self.fields["SSLPort"].flatMap { Int($0) } }
    public var nonSSLPort: Int? { self.fields["NonSSLPort"].flatMap { Int($0) } }

    /// Whether the topology may have changed, so that it should be read again: after Ended, FailoverComplete
    /// and ScaleComplete.
    public var refreshesTopology: Bool {
        switch self.kind {
        case .ended, .failoverComplete, .scaleComplete: true
        case .scheduled, .starting, .start, nil: false
        }
    }

    /// One line for logs and the event list: "NodeMaintenanceStarting 10.0.0.4 (replica: false, ports 15001/13001) at 2026-…".
    public var summary: String {
        var text = self.type
        if let ip = self.ipAddress { text += " \(ip)" }
        var details: [String] = []
        if let isReplica { details.append("replica: \(isReplica)") }
        if self.sslPort != nil || self.nonSSLPort != nil {
            details.append("ports \(self.sslPort.map(String.init) ?? "-")/\(self.nonSSLPort.map(String.init) ?? "-") (ssl/non-ssl)")
        }
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }
        if let start = self.startTimeInUTC { text += " starting \(start) UTC" }
        return text
    }

    /// Why a message is not a maintenance notification.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Largest message accepted.
    public static let maxLength = 4096

    /// Parses a message; a clear error for anything malformed (never a crash).
    public static func parse(_ message: String) throws(ParseError) -> MaintenanceEvent {
        guard message.utf8.count <= Self.maxLength else {
            throw ParseError(description: "message of \(message.utf8.count) bytes is longer than \(Self.maxLength)")
        }
        var parts = message.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        if parts.count % 2 == 1, parts.last?.isEmpty == true { parts.removeLast() }  // a trailing "|"
        guard parts.count >= 2, parts.count % 2 == 0 else {
            throw ParseError(description: "expected Key|Value pairs separated by '|', got \(parts.count) part(s)")
        }
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: parts.count, by: 2) {
            let key = parts[index].trimmingWhitespace()
            guard !key.isEmpty else { throw ParseError(description: "empty key at field \(index / 2 + 1)") }
            fields[key] = parts[index + 1].trimmingWhitespace()
        }
        guard let type = fields["NotificationType"], !type.isEmpty else {
            throw ParseError(description: "no NotificationType field")
        }
        return MaintenanceEvent(type: type, kind: Kind(rawValue: type), fields: fields)
    }

    /// Whether `maintenance_events: auto` subscribes for a host: Azure Cache for Redis only. Azure Managed Redis
    /// (`*.redis.azure.net`) sends maintenance push notifications instead (`maintenance_notifications`).
    public static func isAzureCacheHost(_ host: String) -> Bool {
        host.lowercased().hasSuffix(".redis.cache.windows.net")
    }

    /// Whether a host is an Azure one: Azure Cache for Redis or Azure Managed Redis.
    public static func isAzureHost(_ host: String) -> Bool {
        let host = host.lowercased()
        return host.hasSuffix(".redis.cache.windows.net") || host.hasSuffix(".redis.azure.net")
    }
}
