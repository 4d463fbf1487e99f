import RedisClient

/// The TLS certificate expiry watch of a target: what each handshake presented, the metric, the warnings (logged
/// with their own MESSAGE_ID, in the events, to the hooks) and the note in the status.
extension TargetSupervisor {
    /// Records the certificates `node` presented at a handshake (the target's own connection or a cluster node's).
    func recordCertificates(node: RedisEndpoint, _ certificates: PeerCertificates, now: Double) {
        let name = node.description
        // The metric is written under the watch's lock: a target being retired (a reload) never gets its series
        // back from a late report.
        let renewed = self.certificateWatch.withLock { watch -> Bool? in
            guard !watch.retired else { return nil }
            let renewed = watch.record(node: name, certificates, now: now)
            self.metrics?.recordCertificateExpiry(
                target: self.target.name, node: name, notValidAfter: watch.nodes[name]?.earliestNotValidAfter)
            return renewed
        }
        guard let renewed else { return }
        if renewed {
            let text = "TLS certificate of \(name) replaced: now valid until \(rfc3339(certificates.earliestNotValidAfter))"
            self.events.append(target: self.target.name, text: text, at: now, importance: .significant, kind: "certificate-renewed")
            self.logger.notice(
                "TLS certificate replaced; no longer expiring soon",
                metadata: [
                    "redis.event": "certificate-renewed", "redis.node_endpoint": "\(name)",
                    "redis.not_after": "\(rfc3339(certificates.earliestNotValidAfter))",
                ])
        }
        self.checkCertificates(now: now)
    }

    /// Forgets a node that left the topology: its series goes, and so does any note about it.
    func forgetCertificates(node: RedisEndpoint, now: Double) {
        let known = self.certificateWatch.withLock { watch in
            guard watch.nodes[node.description] != nil else { return false }
            watch.remove(node: node.description)
            self.metrics?.recordCertificateExpiry(target: self.target.name, node: node.description, notValidAfter: nil)
            return true
        }
        if known { self.checkCertificates(now: now) }
    }

    /// The target stops (removed, or rebuilt by a reload): every series it exported goes now, and reports still
    /// arriving from its closing connections are ignored.
    func retireCertificates() {
        self.certificateWatch.withLock { watch in
            watch.retired = true
            for node in watch.removeAll() {
                self.metrics?.recordCertificateExpiry(target: self.target.name, node: node, notValidAfter: nil)
            }
        }
    }

    /// Warns about certificates inside the window (at once, then daily) and keeps the status's note current.
    /// Called at each handshake and at every probe of the target or of its cluster nodes (all folded events).
    func checkCertificates(now: Double) {
        // Only the folding loop gets here (the status has one writer); the watch's lock is also taken by a reload
        // retiring the target's series.
        let warnings = self.certificateWatch.withLock { watch -> [CertificateExpiryWatch.Warning] in
            guard !watch.nodes.isEmpty else {
                self.status.withLock { status in
                    if !status.certificates.isEmpty || status.certificateNote != nil {
                        status.certificates = [:]
                        status.certificateNote = nil
                    }
                }
                return []
            }
            let warnings = watch.due(now: now)
            let note = watch.note(now: now)
            self.status.withLock {
                $0.certificates = watch.nodes
                $0.certificateNote = note
            }
            return warnings
        }
        guard !warnings.isEmpty else { return }
        for warning in warnings {
            self.events.append(target: self.target.name, text: warning.message, at: now, importance: .significant, kind: "certificate-expiry")
            self.logger.warning(
                "TLS certificate expires soon",
                metadata: [
                    "redis.event": "certificate-expiry", "redis.node_endpoint": "\(warning.node)",
                    "redis.not_after": "\(rfc3339(warning.certificates.earliestNotValidAfter))",
                    "redis.days_left": "\(CertificateExpiryWatch.daysLeft(warning.certificates.earliestNotValidAfter, now: now))",
                    "redis.certificate": "\(warning.certificates.leafSummary)", "redis.detail": "\(warning.message)",
                ])
        }
        // One hook event for the target, naming the first certificate to expire and counting the others: a hook
        // keeps one waiting event per target, so one per node would replace each other.
        let first = warnings.min { $0.secondsLeft < $1.secondsLeft }!
        self.hookEvent(.certificateExpiry, reason: first.message + (warnings.count > 1 ? " (and \(warnings.count - 1) more)" : ""))
    }
}
