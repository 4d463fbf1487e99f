import Foundation
import RedisMultiplexer
import Synchronization

/// A bounded, numbered log of recent events for `GET /events?since=`.
///
/// Two rings share one sequence: significant events (state changes, force-reconnect decisions, anomalies, topology
/// changes, unresponsiveness) and routine ones (connections, maintenance notifications, node events). A flood of
/// routine events (anybody who can PUBLISH on the maintenance channel can cause one) evicts only routine events:
/// the evidence a support case needs stays. Reads merge both by sequence number.
public final class EventLog: Sendable {
    public struct Entry: Sendable, Codable, Hashable {
        public var sequence: Int
        /// Seconds since 1970; RFC 3339 in JSON.
        @RFC3339Time public var time: Double
        public var target: String
        public var event: String
    }

    /// How long an event is kept: significant ones are never pushed out by routine ones.
    public enum Importance: Sendable, Hashable {
        case significant, routine
    }

    private struct State {
        var next = 1
        var significant: Ring
        var routine: Ring
    }

    private let state: Mutex<State>
    /// Entries kept per ring. [1000]
    public let capacity: Int

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State(significant: Ring(capacity: max(1, capacity)), routine: Ring(capacity: max(1, capacity))))
    }

    func append(target: String, event: MultiplexerEvent, at time: Double) {
        self.append(target: target, text: describe(event), at: time, importance: importance(of: event))
    }

    /// Appends an event described in words (topology changes, anomalies, maintenance notifications). Control
    /// characters (which a server may put in endpoints, node ids, error text) are stored escaped.
    func append(target: String, text: String, at time: Double, importance: Importance = .routine) {
        let target = target.escapingControlCharacters
        let text = text.escapingControlCharacters
        self.state.withLock { state in
            let entry = Entry(sequence: state.next, time: time, target: target, event: text)
            state.next += 1
            switch importance {
            case .significant: state.significant.append(entry)
            case .routine: state.routine.append(entry)
            }
        }
    }

    /// Entries with a sequence number above `since`, oldest first.
    public func entries(since: Int) -> [Entry] {
        let (significant, routine) = self.state.withLock { state in
            (state.significant.entries(since: since), state.routine.entries(since: since))
        }
        var merged: [Entry] = []
        merged.reserveCapacity(significant.count + routine.count)
        var (i, j) = (0, 0)
        while i < significant.count || j < routine.count {
            if j == routine.count || (i < significant.count && significant[i].sequence < routine[j].sequence) {
                merged.append(significant[i])
                i += 1
            } else {
                merged.append(routine[j])
                j += 1
            }
        }
        return merged
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
    case .forceReconnect, .forceReconnectCompleted, .unresponsive, .responsive: .significant
    case .connecting, .connected, .connectionFailed, .reconnectScheduled, .probe, .subscribed: .routine
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
    }
}
