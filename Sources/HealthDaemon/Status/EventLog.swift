#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LogText
import RedisClient
import Synchronization

/// A bounded, numbered log of recent events for `GET /events?since=`.
///
/// Every target keeps its own two rings, sharing one sequence: significant events (state changes, force-reconnect
/// decisions, anomalies, topology changes, unresponsiveness, maintenance) and routine ones (connections, node
/// events). A flood of routine events (anybody who can PUBLISH on the maintenance channel can cause one), or one
/// target failing for hours, evicts only that target's routine events: the evidence a support case needs stays,
/// for every target. Reads merge all rings by sequence number. Numbers start at 1 with each daemon: ``started``
/// and ``latest`` let a reader notice a restart.
public final class EventLog: Sendable {
    public struct Entry: Sendable, Codable, Hashable {
        public var sequence: Int
        /// Seconds since 1970; RFC 3339 in JSON.
        @RFC3339Time public var time: Double
        public var target: String
        /// What kind of event (`state-changed`, `connection-failed`, `topology-anomaly`, …): stable, for scripts.
        public var kind: String
        public var event: String
    }

    /// How long an event is kept: significant ones are never pushed out by routine ones.
    public enum Importance: Sendable, Hashable {
        case significant, routine
    }

    private struct Rings {
        var significant: Ring
        var routine: Ring
    }

    private struct State {
        var next = 1
        var targets: [String: Rings] = [:]
    }

    private let state = Mutex(State())
    /// Significant entries kept per target. [200]
    public let significantCapacity: Int
    /// Routine entries kept per target. [200]
    public let routineCapacity: Int
    /// When this log (this daemon) started: event numbers start again at 1 with every start.
    public let started: Double

    public init(significantPerTarget: Int = 200, routinePerTarget: Int = 200, started: Double = Date().timeIntervalSince1970) {
        self.significantCapacity = max(1, significantPerTarget)
        self.routineCapacity = max(1, routinePerTarget)
        self.started = started
    }

    /// The number of the newest event (0: none yet).
    public var latest: Int { self.state.withLock { $0.next - 1 } }

    func append(target: String, event: MultiplexerEvent, at time: Double) {
        self.append(target: target, text: describe(event), at: time, importance: importance(of: event), kind: kind(of: event))
    }

    /// Appends an event described in words (topology changes, anomalies, maintenance notifications). Control
    /// characters (which a server may put in endpoints, node ids, error text) are stored escaped.
    func append(target: String, text: String, at time: Double, importance: Importance = .routine, kind: String) {
        let target = target.escapingControlCharacters
        let text = text.escapingControlCharacters
        let (significant, routine) = (self.significantCapacity, self.routineCapacity)
        self.state.withLock { state in
            let entry = Entry(sequence: state.next, time: time, target: target, kind: kind, event: text)
            state.next += 1
            var rings = state.targets[target] ?? Rings(significant: Ring(capacity: significant), routine: Ring(capacity: routine))
            switch importance {
            case .significant: rings.significant.append(entry)
            case .routine: rings.routine.append(entry)
            }
            state.targets[target] = rings
        }
    }

    /// Forgets a target's events (it was removed from the configuration).
    func remove(target: String) {
        _ = self.state.withLock { $0.targets.removeValue(forKey: target.escapingControlCharacters) }
    }

    /// Entries with a sequence number above `since`, oldest first; only `target`'s when given.
    public func entries(since: Int, target: String? = nil) -> [Entry] {
        let lists = self.state.withLock { state -> [[Entry]] in
            // Names are stored escaped (a target name is the operator's, but the rule is one for every string).
            let rings = target.map { name in state.targets[name.escapingControlCharacters].map { [$0] } ?? [] } ?? Array(state.targets.values)
            return rings.flatMap { [$0.significant.entries(since: since), $0.routine.entries(since: since)] }
        }
        // Each list is in sequence order: merging them is a sort of nearly sorted runs.
        return lists.joined().sorted { $0.sequence < $1.sequence }
    }
}

/// What `GET /events` answers: the events, the newest event's number, and when numbering started (the daemon's
/// start: numbers begin again at 1 with every start).
public struct EventsDocument: Sendable, Codable, Hashable {
    public var events: [EventLog.Entry]
    public var latest: Int
    /// RFC 3339 in JSON.
    @RFC3339Time public var started: Double

    public init(events: [EventLog.Entry], latest: Int, started: Double) {
        self.events = events
        self.latest = latest
        self.started = started
    }
}

/// A fixed-size ring of entries in sequence order.
private struct Ring {
    private var storage: [EventLog.Entry] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ entry: EventLog.Entry) {
        if self.storage.count < self.capacity {
            self.storage.append(entry)
        } else {
            self.storage[self.head] = entry
            self.head = (self.head + 1) % self.capacity
        }
    }

    func entries(since: Int) -> [EventLog.Entry] {
        let ordered = Array(self.storage[self.head...]) + self.storage[..<self.head]
        // Sequence numbers grow: skip the old part by binary search.
        var low = ordered.startIndex
        var high = ordered.endIndex
        while low < high {
            let middle = (low + high) / 2
            if ordered[middle].sequence > since { high = middle } else { low = middle + 1 }
        }
        return Array(ordered[low...])
    }
}

/// State-changing decisions are significant; connection chatter is routine.
func importance(of event: MultiplexerEvent) -> EventLog.Importance {
    switch event {
    case .forceReconnect, .forceReconnectCompleted, .unresponsive, .responsive, .maintenanceNotification, .maintenanceHandoff:
        .significant
    case .maintenanceNotificationsRefused, .maintenanceMalformed: .routine
    case .connecting, .connected, .connectionFailed, .reconnectScheduled, .probe, .subscribed, .peerCertificates: .routine
    case .reauthenticated(_, let outcome, _): outcome == "ok" ? .routine : .significant
    }
}

/// The stable kind of a multiplexer event, as `events --json` and the journal's REDIS_EVENT name it.
func kind(of event: MultiplexerEvent) -> String {
    switch event {
    case .connecting: "connecting"
    case .connected(_, _, _, let restored): restored ? "connection-restored" : "connected"
    case .connectionFailed: "connection-failed"
    case .reconnectScheduled: "reconnect-scheduled"
    case .probe: "probe"
    case .unresponsive: "unresponsive"
    case .responsive: "responsive"
    case .forceReconnect(let acted, _): acted ? "force-reconnect-acted" : "force-reconnect-suppressed"
    case .forceReconnectCompleted: "force-reconnect-completed"
    case .subscribed: "subscribed"
    case .peerCertificates: "tls-certificate"
    case .reauthenticated(_, let outcome, _): outcome == "ok" ? "reauthenticated" : "reauth-\(outcome)"
    case .maintenanceNotificationsRefused: "maintenance-notifications-refused"
    case .maintenanceNotification: "maintenance-notification"
    case .maintenanceMalformed: "maintenance-malformed"
    case .maintenanceHandoff: "maintenance-handoff"
    }
}

func describe(_ event: MultiplexerEvent) -> String {
    switch event {
    case .connecting(let role, let endpoint, let attempt): "connecting \(role.rawValue) to \(endpoint) (attempt \(attempt))"
    case .connected(let role, let endpoint, let version, let restored):
        "\(role.rawValue) connection \(restored ? "restored" : "up") to \(endpoint) (RESP\(version))"
    case .connectionFailed(let role, _, let kind, let message): "\(role.rawValue) connection failed [\(kind)]: \(message)"
    case .reconnectScheduled(let role, let delay, let attempt): "\(role.rawValue) reconnect in \(delay.humanReadable) (attempt \(attempt + 1))"
    case .probe(let latency): "probe \(latency)"
    case .unresponsive(let failures, let error): "unresponsive after \(failures) probes: \(error)"
    case .responsive: "responsive again"
    case .forceReconnect(let acted, let reason): "force-reconnect \(acted ? "acted" : "suppressed") (\(reason))"
    case .forceReconnectCompleted(let succeeded, let error): succeeded ? "force-reconnect completed" : "force-reconnect failed: \(error ?? "")"
    case .subscribed(let channels): "subscribed to \(channels) channel(s)"
    case .peerCertificates(let endpoint, let certificates):
        "TLS certificate of \(endpoint) valid until \(rfc3339(certificates.leafNotValidAfter))"
            + (certificates.chainNotValidAfter.map { ", its chain until \(rfc3339($0))" } ?? " (chain not read)")
    case .reauthenticated(let role, let outcome, let message):
        switch outcome {
        case "ok": "\(role.rawValue) connection authenticated again with new credentials"
        case "reconnect": "\(role.rawValue) connection reconnects for new credentials: \(message ?? "")"
        case "expired": "\(role.rawValue) connection closed: its credentials expired and none could be had (\(message ?? ""))"
        default: "\(role.rawValue) connection could not authenticate again: \(message ?? "")"
        }
    case .maintenanceNotificationsRefused(let endpoint, let message): "\(endpoint) refused CLIENT MAINT_NOTIFICATIONS: \(message)"
    case .maintenanceNotification(let node, let notification, let stale):
        "maintenance \(notification.summary) from \(node)" + (stale ? " (a replay: ignored)" : "")
    case .maintenanceMalformed(let node, let type, let reason): "malformed \(type) push from \(node) ignored: \(reason)"
    case .maintenanceHandoff(let from, let to, let outcome):
        switch outcome {
        case .completed: "handoff from \(from) to \(to) done"
        case .notDialed(let reason): "MOVING to \(to) not followed: \(reason)"
        case .failed(let message): "handoff from \(from) to \(to) failed: \(message)"
        }
    }
}
