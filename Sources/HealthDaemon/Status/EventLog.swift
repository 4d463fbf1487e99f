import Foundation
import RedisMultiplexer
import Synchronization

/// A bounded, numbered log of recent events for `GET /events?since=`.
public final class EventLog: Sendable {
    public struct Entry: Sendable, Codable, Hashable {
        public var sequence: Int
        /// Seconds since 1970; RFC 3339 in JSON.
        @RFC3339Time public var time: Double
        public var target: String
        public var event: String
    }

    private let state = Mutex<(next: Int, entries: [Entry])>((1, []))
    public let capacity: Int

    public init(capacity: Int = 1000) { self.capacity = capacity }

    func append(target: String, event: MultiplexerEvent, at time: Double) {
        self.append(target: target, text: describe(event), at: time)
    }

    /// Appends an event described in words (topology changes, anomalies, maintenance notifications).
    func append(target: String, text: String, at time: Double) {
        self.state.withLock { state in
            state.entries.append(Entry(sequence: state.next, time: time, target: target, event: text))
            state.next += 1
            if state.entries.count > self.capacity { state.entries.removeFirst(state.entries.count - self.capacity) }
        }
    }

    /// Entries with a sequence number above `since`.
    public func entries(since: Int) -> [Entry] {
        self.state.withLock { $0.entries.filter { $0.sequence > since } }
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
