#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The readable table of `redis-healthd status`.
public func renderTable(_ targets: [StatusDocument.Target]) -> String {
    var rows = [["TARGET", "STATE", "SINCE", "PROBE p50/p99", "FAILURES", "RECONNECTS", "LAST ERROR"]]
    for target in targets {
        let probe: String
        if let p50 = target.probeP50Seconds, let p99 = target.probeP99Seconds {
            probe = "\((p50 * 1000).fixed(1))/\((p99 * 1000).fixed(1)) ms"
        } else {
            probe = "-"
        }
        rows.append([
            target.name, target.state, humanDuration(target.sinceSeconds), probe, "\(target.connectionFailures)",
            // The last error stays in --json; the table shows why the target is not healthy.
            "\(target.reconnects) / \(target.forceReconnects)",
            target.state == "healthy"
                ? (target.reason ?? target.configuredEndpointOutsideAllowList.map { "configured endpoint \($0)" }).map { "note: \($0)" } ?? "-"
                : (target.reason ?? target.lastError ?? "-"),
        ])
    }
    return table(rows).joined(separator: "\n") + "\n"
}

public func humanDuration(_ seconds: Double) -> String {
    let total = Int(seconds)
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m\((total % 60).zeroPadded(2))s" }
    if total < 86400 { return "\(total / 3600)h\(((total % 3600) / 60).zeroPadded(2))m" }
    return "\(total / 86400)d\(((total % 86400) / 3600).zeroPadded(2))h"
}
