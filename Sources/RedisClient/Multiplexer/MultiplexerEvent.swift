/// What a multiplexer saw or did. The daemon logs, counts and shows these.
public enum MultiplexerEvent: Sendable, Hashable {
    /// Which of the multiplexer's connections.
    public enum ConnectionRole: String, Sendable, Hashable {
        case interactive
        case subscriber
    }

    /// A connection attempt starts (`attempt` counts from 0 since the last healthy period).
    case connecting(role: ConnectionRole, endpoint: RedisEndpoint, attempt: Int)
    /// A connection is up. `restored` when an earlier connection of this role had failed.
    case connected(role: ConnectionRole, endpoint: RedisEndpoint, protocolVersion: Int, restored: Bool)
    /// A connection attempt failed, or an established connection died.
    case connectionFailed(role: ConnectionRole, endpoint: RedisEndpoint, kind: RedisClientError.Code, message: String)
    /// The next attempt waits this long (full-jitter backoff).
    case reconnectScheduled(role: ConnectionRole, delay: Duration, attempt: Int)
    /// A probe PING answered.
    case probe(latency: Duration)
    /// `probe_failures` consecutive probes went unanswered.
    case unresponsive(consecutiveFailures: Int, lastError: String)
    /// A probe answered again after ``unresponsive(consecutiveFailures:lastError:)``.
    case responsive
    /// A force-reconnect was decided (acted) or refused (suppressed), with the reason.
    case forceReconnect(acted: Bool, reason: String)
    /// A force-reconnect finished: the new multiplexer is in (`succeeded`) or the old one was kept.
    case forceReconnectCompleted(succeeded: Bool, error: String?)
    /// Subscriptions were (re-)established on a subscriber connection.
    case subscribed(channels: Int)
    /// A TLS connection is up (interactive role): when the server's certificates expire. Sent after each handshake,
    /// once the presented chain was read (or could not be, within the connect timeout).
    case peerCertificates(endpoint: RedisEndpoint, PeerCertificates)
    /// A live connection authenticated again with new credentials (`outcome`: `ok`, `failed`, or `reconnect` for a
    /// RESP2 subscriber, which cannot AUTH while subscribed), or its credentials expired (`expired`).
    case reauthenticated(role: ConnectionRole, outcome: String, message: String?)
    /// The server refused `CLIENT MAINT_NOTIFICATIONS` (its error, scrubbed of secrets): no maintenance
    /// notifications on this connection.
    case maintenanceNotificationsRefused(endpoint: RedisEndpoint, message: String)
    /// A maintenance push notification arrived on the interactive connection of `node`; `stale` when its sequence
    /// number was not above the last one seen (then it changed nothing).
    case maintenanceNotification(node: RedisEndpoint, MaintenanceNotification, stale: Bool)
    /// A push of a maintenance type that does not parse (ignored).
    case maintenanceMalformed(node: RedisEndpoint, type: String, reason: String)
    /// A MOVING handoff to `to` (the endpoint announced, or `from` when none was): done, not dialed, or failed.
    case maintenanceHandoff(from: RedisEndpoint, to: RedisEndpoint, outcome: HandoffOutcome)

    /// How a MOVING handoff ended.
    public enum HandoffOutcome: Sendable, Hashable {
        case completed
        /// The announced endpoint is outside the allow-lists: not dialed.
        case notDialed(String)
        case failed(String)
    }
}
