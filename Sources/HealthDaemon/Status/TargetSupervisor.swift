import Foundation
import Logging
import RedisMultiplexer
import Synchronization

/// Runs one target's resilient client and keeps its status up to date from its events.
public final class TargetSupervisor: Sendable {
    public let target: DaemonConfiguration.Target
    public let client: ResilientRedisClient
    private let status: Mutex<TargetStatus>
    private let events: EventLog
    private let metrics: DaemonMetrics?
    private let logger: Logger
    private let onStateChange: @Sendable (TargetStatus) -> Void

    public init(
        target: DaemonConfiguration.Target, password: RedisSecret?, events: EventLog, metrics: DaemonMetrics? = nil,
        logger: Logger, onStateChange: @escaping @Sendable (TargetStatus) -> Void
    ) throws(RedisClientError) {
        var configuration = target.multiplexer
        configuration.connection.password = password
        self.target = target
        self.client = try ResilientRedisClient(configuration: configuration, logger: logger)
        self.status = Mutex(
            TargetStatus(
                name: target.name, endpoint: configuration.connection.endpoint.description,
                now: Date().timeIntervalSince1970))
        self.events = events
        self.metrics = metrics
        metrics?.register(target: target.name)
        var logger = logger
        logger[metadataKey: "redis.target"] = "\(target.name)"
        logger[metadataKey: "redis.endpoint"] = "\(configuration.connection.endpoint)"
        self.logger = logger
        self.onStateChange = onStateChange
    }

    /// The status now, with the force-reconnect guard's state.
    public var snapshot: TargetStatus {
        var status = self.status.withLock { $0 }
        let guardState = self.client.forceReconnectGuardState
        status.forceReconnectInProgress = guardState.inProgress
        status.forceReconnectBlockedFor = guardState.blockedFor
        return status
    }

    /// Runs until cancelled or shut down.
    public func run() async {
        let stream = self.client.events()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask {
                for await event in stream { self.handle(event) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    public func shutdown() async {
        await self.client.shutdown()
    }

    private func handle(_ event: MultiplexerEvent) {
        let now = Date().timeIntervalSince1970
        let (changed, status) = self.status.withLock { status in
            let changed = status.apply(event, now: now)
            return (changed, status)
        }
        self.metrics?.record(event, target: self.target.name)
        if case .probe = event {} else {
            self.events.append(target: self.target.name, event: event, at: now)
            self.log(event)
        }
        if changed {
            self.metrics?.recordState(target: self.target.name, state: status.state)
            self.logger.notice(
                "Target state changed",
                metadata: ["redis.event": "state-changed", "redis.state": "\(status.state.rawValue)"])
            self.onStateChange(status)
        }
    }

    private func log(_ event: MultiplexerEvent) {
        switch event {
        case .connectionFailed(let role, _, let kind, let message):
            self.logger.warning(
                "Connection failed",
                metadata: [
                    "redis.event": "connection-failed", "redis.role": "\(role.rawValue)", "error.kind": "\(kind)",
                    "error.message": "\(message)",
                ])
        case .connected(let role, _, let version, let restored):
            self.logger.info(
                restored ? "Connection restored" : "Connected",
                metadata: [
                    "redis.event": restored ? "connection-restored" : "connected", "redis.role": "\(role.rawValue)",
                    "redis.protocol": "\(version)",
                ])
        case .unresponsive(let failures, let error):
            self.logger.warning(
                "Target unresponsive",
                metadata: ["redis.event": "unresponsive", "redis.probe_failures": "\(failures)", "error.message": "\(error)"])
        case .forceReconnect(let acted, let reason):
            self.logger.notice(
                acted ? "Force-reconnect acted" : "Force-reconnect suppressed",
                metadata: ["redis.event": acted ? "force-reconnect-acted" : "force-reconnect-suppressed", "redis.reason": "\(reason)"])
        default:
            self.logger.debug("Multiplexer event", metadata: ["redis.event": "\(event)"])
        }
    }
}

/// A bounded, numbered log of recent events for `GET /events?since=`.
public final class EventLog: Sendable {
    public struct Entry: Sendable, Codable, Hashable {
        public var sequence: Int
        public var time: Double
        public var target: String
        public var event: String
    }

    private let state = Mutex<(next: Int, entries: [Entry])>((1, []))
    public let capacity: Int

    public init(capacity: Int = 1000) { self.capacity = capacity }

    func append(target: String, event: MultiplexerEvent, at time: Double) {
        self.state.withLock { state in
            state.entries.append(Entry(sequence: state.next, time: time, target: target, event: describe(event)))
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
