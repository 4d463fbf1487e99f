import RedisMultiplexer

/// The TLS certificate expiry watch of a target: what each handshake presented, the metric, the warnings (logged
/// with their own MESSAGE_ID, in the events, to the hooks) and the note in the status.
extension TargetSupervisor {
    /// Records the certificates `node` presented at a handshake (the target's own connection or a cluster node's).
    func recordCertificates(node: RedisEndpoint, _ certificates: PeerCertificates, now: Double) {
        let name = node.description
        let renewed = self.certificateWatch.withLock { $0.record(node: name, certificates, now: now) }
        self.metrics?.recordCertificateExpiry(target: self.target.name, node: name, notValidAfter: certificates.earliestNotValidAfter)
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
            defer { watch.remove(node: node.description) }
            return watch.nodes[node.description] != nil
        }
        guard known else { return }
        self.metrics?.recordCertificateExpiry(target: self.target.name, node: node.description, notValidAfter: nil)
        self.checkCertificates(now: now)
    }

    /// Warns about certificates inside the window (at once, then daily) and keeps the status's note current.
    func checkCertificates(now: Double) {
        let checked = self.certificateWatch.withLock { watch -> ([CertificateExpiryWatch.Warning], String?, [String: PeerCertificates])? in
            guard !watch.nodes.isEmpty else { return nil }
            return (watch.due(now: now), watch.note(now: now), watch.nodes)
        }
        guard let (warnings, note, nodes) = checked else {
            // Nothing recorded (or every node forgotten): no note either.
            self.status.withLock {
                $0.certificates = [:]
                $0.certificateNote = nil
            }
            return
        }
        self.status.withLock {
            $0.certificates = nodes
            $0.certificateNote = note
        }
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
            self.hookEvent(.certificateExpiry, reason: warning.message)
        }
    }
}
