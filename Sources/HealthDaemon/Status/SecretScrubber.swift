#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RedisClient
import Synchronization

/// Replaces every configured secret (a target's password, and later other credentials) in text the daemon stores
/// or shows: status, events, logs, the diagnostics export. A server's error text can quote the password
/// (`ERR unknown command 'AUTH', with args beginning with: '…'`). Every non-empty secret is scrubbed, however
/// short: a mangled reply is better than a leaked password.
/// A scrubber that learns new secrets (rotating credentials), shared by a target's parts.
final class SharedScrubber: Sendable {
    let value: Mutex<SecretScrubber>
    /// The secrets learnt, oldest first: the configured ones and the last 8 obtained.
    private let learnt: Mutex<(fixed: [String], recent: [String])>

    init(_ scrubber: SecretScrubber) {
        self.value = Mutex(scrubber)
        self.learnt = Mutex((scrubber.secrets, []))
    }

    /// Scrubs `secret` too from now on (and forgets the oldest obtained beyond 8).
    func learn(_ secret: String) {
        let all = self.learnt.withLock { learnt -> [String] in
            learnt.recent = Array((learnt.recent.filter { $0 != secret } + [secret]).suffix(8))
            return learnt.fixed + learnt.recent
        }
        self.value.withLock { $0 = SecretScrubber(all) }
    }
}

public struct SecretScrubber: Sendable, Hashable {
    public static let redacted = "<redacted>"

    /// Longest first, so that a secret containing another is replaced whole.
    public let secrets: [String]

    public init(_ secrets: [String]) {
        self.secrets = Array(Set(secrets.filter { !$0.isEmpty })).sorted { $0.count > $1.count || ($0.count == $1.count && $0 < $1) }
    }

    public init(password: RedisSecret?) {
        self.init(password.map { [$0.value] } ?? [])
    }

    public var isEmpty: Bool { self.secrets.isEmpty }

    /// `text` with every secret replaced (see ``RedisSecret/scrub(_:secrets:)``, which also drops what a server
    /// echoes of a command's arguments).
    public func scrub(_ text: String) -> String {
        RedisSecret.scrub(text, secrets: self.secrets.map(RedisSecret.init))
    }

    public func scrub(_ text: String?) -> String? { text.map { self.scrub($0) } }

    /// The event with every text it carries scrubbed.
    public func scrub(_ event: MultiplexerEvent) -> MultiplexerEvent {
        guard !self.isEmpty else { return event }
        switch event {
        case .connectionFailed(let role, let endpoint, let kind, let message):
            return .connectionFailed(role: role, endpoint: endpoint, kind: kind, message: self.scrub(message))
        case .unresponsive(let failures, let error):
            return .unresponsive(consecutiveFailures: failures, lastError: self.scrub(error))
        case .forceReconnect(let acted, let reason):
            return .forceReconnect(acted: acted, reason: self.scrub(reason))
        case .forceReconnectCompleted(let succeeded, let error):
            return .forceReconnectCompleted(succeeded: succeeded, error: self.scrub(error))
        case .reauthenticated(let role, let outcome, let message):
            return .reauthenticated(role: role, outcome: outcome, message: self.scrub(message))
        case .maintenanceNotificationsRefused(let endpoint, let message):
            return .maintenanceNotificationsRefused(endpoint: endpoint, message: self.scrub(message))
        case .maintenanceMalformed(let node, let type, let reason):
            return .maintenanceMalformed(node: node, type: type, reason: self.scrub(reason))
        case .maintenanceNotification(let node, var notification, let stale):
            // Server text: a server could echo anything, the password included, as a shard id.
            notification.items = notification.items.map { self.scrub($0) }
            notification.endpoint = notification.endpoint.map { RedisEndpoint(host: self.scrub($0.host), port: $0.port) }
            notification.migrations = notification.migrations.map {
                .init(source: self.scrub($0.source), destination: self.scrub($0.destination), slots: self.scrub($0.slots))
            }
            return .maintenanceNotification(node: node, notification, stale: stale)
        case .maintenanceHandoff(let from, let to, let outcome):
            let shownTo = RedisEndpoint(host: self.scrub(to.host), port: to.port)
            switch outcome {
            case .failed(let message): return .maintenanceHandoff(from: from, to: shownTo, outcome: .failed(self.scrub(message)))
            case .notDialed(let reason): return .maintenanceHandoff(from: from, to: shownTo, outcome: .notDialed(self.scrub(reason)))
            case .completed: return .maintenanceHandoff(from: from, to: shownTo, outcome: .completed)
            }
        case .connecting, .connected, .reconnectScheduled, .probe, .responsive, .subscribed, .peerCertificates:
            return event
        }
    }

    /// The cluster event with every text it carries scrubbed.
    public func scrub(_ event: ClusterEvent) -> ClusterEvent {
        guard !self.isEmpty else { return event }
        switch event {
        case .refreshFailed(let trigger, let message):
            return .refreshFailed(trigger: trigger, message: self.scrub(message))
        case .nodeNotDialed(let id, let endpoint, let reason):
            return .nodeNotDialed(nodeID: id, endpoint: endpoint, reason: self.scrub(reason))
        case .node(let endpoint, let nodeEvent):
            return .node(endpoint, self.scrub(nodeEvent))
        case .topologyRefreshed, .nodeOpened, .nodeClosed, .redirected, .tooManyNodes:
            return event
        }
    }

    /// JSON with every string in it (keys and values) scrubbed: the last line of defence of the export, whatever a
    /// server put where. Structure is kept whatever the secret (a secret such as `1` or `"` cannot break it).
    public func scrubJSON(_ data: Data, options: JSONEncoder.OutputFormatting) -> Data {
        guard !self.isEmpty, let tree = JSONValue.decode(data) else { return data }
        func walk(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let text): return .string(self.scrub(text))
            case .array(let array): return .array(array.map(walk))
            case .object(let object):
                var result: [String: JSONValue] = [:]
                for (key, item) in object { result[self.scrub(key)] = walk(item) }
                return .object(result)
            case .null, .bool, .int, .double: return value
            }
        }
        return walk(tree).serialized(options)
    }
}
