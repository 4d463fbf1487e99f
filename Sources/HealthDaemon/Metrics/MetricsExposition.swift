/// Turns the registry's exposition into what Prometheus tooling expects of a well-behaved exporter: every family
/// with its `# HELP` (swift-metrics gives the registry none), families sorted by name and series sorted by their
/// labels (the registry's order follows a dictionary and changed between scrapes), a histogram's lines kept
/// together in their order. `promtool check metrics` is clean on the result.
enum MetricsExposition {
    /// What each family means, for `# HELP`.
    static let help: [String: String] = [
        "redis_healthd_build_info": "The running redis-healthd version (always 1).",
        "redis_healthd_target_up":
            "1 while the target answers (healthy or degraded), 0 while it is starting, connecting, reconnecting, down or misconfigured.",
        "redis_healthd_target_state": "The target's state, one-hot: 1 for the current state, 0 for the others.",
        "redis_healthd_probe_duration_seconds": "Latency of the probe PINGs that answered.",
        "redis_healthd_connection_failures_total": "Failures of the target's own connections (attempts and established ones), by kind.",
        "redis_healthd_reconnects_total":
            "Reconnects: level connection (a connection came back after a failure) and forced (a force-reconnect replaced the multiplexer).",
        "redis_healthd_force_reconnect_decisions_total": "Force-reconnect decisions, acted or suppressed, with the reason.",
        "redis_healthd_topology_anomalies": "Announced cluster endpoints outside allowed_ports or allowed_networks, now.",
        "redis_healthd_reauth_total": "Live connections authenticated again with new credentials, by outcome (ok, failed, reconnect, expired).",
        "redis_healthd_credential_expiry_timestamp_seconds": "When the credential in use expires (credential_command), seconds since 1970.",
        "redis_healthd_tls_certificate_expiry_timestamp_seconds":
            "When the first certificate a TLS node presents expires (the chain's earliest, else the leaf's), seconds since 1970.",
        "redis_healthd_topology_changes_total": "Changes between two topology snapshots, by kind.",
        "redis_healthd_topology_refreshes_total": "Cluster topology refreshes, by outcome.",
        "redis_healthd_cluster_node_failures_total": "Connection failures of the cluster's node connections, by kind.",
        "redis_healthd_maintenance_events_total": "Maintenance notifications received, by type.",
        "redis_healthd_canary_missed_total":
            "Pub/sub canaries that did not reach the subscriber connection in time (each one reconnected it).",
        "redis_healthd_canary_latency_seconds":
            "Round trip of the last pub/sub canary: from its PUBLISH to its arrival on the subscriber connection.",
        "redis_healthd_maintenance_notifications_total":
            "Maintenance push notifications (RESP3) received, by type (MOVING, MIGRATING, …; stale: a replay, ignored; malformed).",
        "redis_healthd_maintenance_window_active": "Nodes of the target in a maintenance window announced by push notifications now.",
        "redis_healthd_maintenance_handoffs_total": "MOVING handoffs, by outcome (completed, not-dialed, failed).",
        "redis_healthd_maintenance_events_suppressed_total":
            "Maintenance notifications not recorded because more than 10 a minute came (a flood).",
    ]

    static func normalize(_ text: String) -> String {
        struct Family {
            var name: String
            var type: String
            var samples: [[Substring]] = []  // groups of lines that belong together (one series; a histogram's lines)
        }
        var families: [String: Family] = [:]
        var current: String?
        var lastGroupKey: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count >= 4 else { continue }
                let name = String(parts[2])
                families[name, default: Family(name: name, type: String(parts[3]))].type = String(parts[3])
                current = name
                lastGroupKey = nil
                continue
            }
            if line.hasPrefix("#") { continue }  // the registry's own HELP (none today); ours comes below
            guard let name = current else { continue }
            // A histogram's _bucket/_sum/_count lines of one series stay one group, in their order.
            let key = Self.seriesKey(line)
            if families[name]?.type == "histogram", key == lastGroupKey, !(families[name]?.samples.isEmpty ?? true) {
                families[name]!.samples[families[name]!.samples.count - 1].append(line)
            } else {
                families[name]?.samples.append([line])
            }
            lastGroupKey = key
        }
        var output = ""
        for name in families.keys.sorted() {
            guard let family = families[name] else { continue }
            if let help = Self.help[name] { output += "# HELP \(name) \(help)\n" }
            output += "# TYPE \(name) \(family.type)\n"
            for group in family.samples.sorted(by: { Self.seriesKey($0[0]) < Self.seriesKey($1[0]) }) {
                for line in group { output += line + "\n" }
            }
        }
        return output
    }

    /// The labels of a sample line without `le`: what identifies its series.
    private static func seriesKey(_ line: Substring) -> String {
        guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return "" }
        return line[line.index(after: open)..<close].split(separator: ",").filter { !$0.hasPrefix("le=") }.joined(separator: ",")
    }
}
