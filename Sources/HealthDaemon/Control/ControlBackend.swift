/// What the control socket serves. Implemented by the daemon.
public protocol ControlBackend: Sendable {
    func statusDocument() -> StatusDocument
    /// Events numbered above `since` (only `target`'s when given), with the newest number and when numbering
    /// started.
    func events(since: Int, target: String?) -> EventsDocument
    /// Prometheus text exposition.
    func metricsText() -> String
    /// Force-reconnects `target`; nil when there is no such target.
    func reconnect(target: String) async -> String?
    /// The topology of `target` (current, anomalies, history); nil when there is no such target.
    func topology(target: String) -> TopologyDocument?
    /// A diagnostics bundle (JSON, secrets redacted) for one target or all (`nil`).
    func export(target: String?) async -> ExportOutcome
}

/// What `GET /export` gets.
public enum ExportOutcome: Sendable, Hashable {
    case bundle(String)
    case noSuchTarget
    /// Another export is running.
    case busy
}
