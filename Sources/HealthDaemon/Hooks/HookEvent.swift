/// What a state-change hook can be run on (`hooks[].on`).
public enum HookEvent: String, Sendable, Hashable, CaseIterable, Codable {
    /// The target's state became `down`.
    case down
    /// The target's state became `degraded`.
    case degraded
    /// Probes went unanswered (the connection is up but the server does not answer).
    case unresponsive
    /// The target's state became `healthy`.
    case healthy
    /// A cluster node announces an endpoint outside the allow-lists.
    case anomaly
    /// Such an anomaly is gone.
    case anomalyCleared = "anomaly-cleared"
    /// A force-reconnect was made (by the error threshold or on request).
    case forceReconnect = "force-reconnect"
    /// A maintenance event arrived (Azure's AzureRedisEvents).
    case maintenance
    /// A TLS certificate a target's connection was presented expires within tls.expiry_warning (at once, then
    /// daily until it is replaced).
    case certificateExpiry = "certificate-expiry"
}
