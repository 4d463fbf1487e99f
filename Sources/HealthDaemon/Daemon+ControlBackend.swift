#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOPosix
import RedisClient

/// What the control socket and the metrics listener ask of the daemon: status, events, metrics, reconnect, topology,
/// the support bundle.
extension Daemon {
    public func statusDocument() -> StatusDocument {
        let now = Date().timeIntervalSince1970
        return StatusDocument(targets: self.supervisors.map { StatusDocument.Target($0.snapshot, now: now) })
    }

    public var statuses: [TargetStatus] { self.supervisors.map(\.snapshot) }

    public func events(since: Int, target: String?) -> EventsDocument {
        EventsDocument(events: self.events.entries(since: since, target: target), latest: self.events.latest, started: self.events.started)
    }

    public func metricsText() -> String { self.metrics.exposition() }

    public func reconnect(target: String) async -> String? {
        guard let supervisor = self.supervisors.first(where: { $0.target.name == target }) else { return nil }
        switch await supervisor.client.forceReconnect() {
        case .replaced: return "replaced"
        case .failed(let message): return "failed: \(message)"
        case .suppressed(let reason): return "suppressed: \(reason.rawValue)"
        }
    }

    public func topology(target: String) -> TopologyDocument? {
        self.supervisors.first { $0.target.name == target }?.topologyDocument()
    }

    /// The support bundle as JSON, secrets redacted. One export runs at a time (each opens a connection per node):
    /// a second request meanwhile is told so (`busy`).
    public func export(target: String?) async -> ExportOutcome {
        let chosen = self.supervisors.filter { target == nil || $0.target.name == target }
        if target != nil && chosen.isEmpty { return .noSuchTarget }
        guard self.exporting.withLock({ busy in defer { busy = true }; return !busy }) else { return .busy }
        defer { self.exporting.withLock { $0 = false } }
        let events = self.events.entries(since: 0)
        var targets: [DiagnosticsBundle.Target] = []
        for supervisor in chosen { targets.append(await supervisor.exportBundle(events: events)) }
        // /proc/sys and uname: file reads, on a thread of NIO's pool rather than the cooperative pool.
        let configured = chosen.map(\.target)
        let host =
            (try? await NIOThreadPool.singleton.runIfActive { DiagnosticsExporter.host(targets: configured) })
            ?? DiagnosticsBundle.Host(hostname: "?", kernel: "?", tcp: [:], warnings: [])
        let bundle = DiagnosticsBundle(
            generatedAt: rfc3339(Date().timeIntervalSince1970), version: self.version,
            host: host, targets: targets,
            redaction: "passwords (wherever they appear, server replies and errors included) and CONFIG parameters holding secrets (*pass*, masterauth, *secret*, *token*) are replaced by <redacted>")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let encoded = try? encoder.encode(bundle) else { return .bundle("{}") }
        // Every string of the bundle, whatever its source, is scrubbed of every target's secrets.
        let scrubber = SecretScrubber(chosen.flatMap(\.secrets))
        let scrubbed = scrubber.scrubJSON(encoded, options: encoder.outputFormatting)
        return .bundle(String(decoding: scrubbed, as: UTF8.self))
    }
}
