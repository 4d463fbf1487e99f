import RedisClient

/// The TLS certificates a target's connections were presented (its own and its cluster nodes'), and when to warn
/// about their expiry: once the first certificate a node presents (leaf or chain) expires within
/// `tls.expiry_warning`, at once and then every day until a handshake shows a replacement. The target stays
/// healthy; ``note(now:)`` is what its reason says meanwhile.
///
/// Pure: the caller passes the time, so the schedule is tested with any clock.
struct CertificateExpiryWatch: Sendable {
    struct Warning: Sendable, Hashable {
        var node: String
        var certificates: PeerCertificates
        /// Seconds until the first certificate expires (negative: expired).
        var secondsLeft: Double
        var message: String
    }

    /// Seconds before expiry when warnings start.
    var threshold: Double
    /// Seconds between two warnings about the same certificate. [1 day]
    var repeatInterval: Double = 86_400
    /// Node endpoint → what it presented at its last handshake.
    private(set) var nodes: [String: PeerCertificates] = [:]
    /// Node endpoint → when its certificate was last warned about.
    private var warnedAt: [String: Double] = [:]
    /// Set when the target stops (removed or rebuilt by a reload): late reports are ignored.
    var retired = false

    init(threshold: Duration) {
        self.threshold = Double(threshold.components.seconds)
    }

    /// Records what `node` presented at a handshake. Returns whether a certificate warned about was replaced by
    /// one outside the warning window (renewed); the warning a new certificate may call for comes from
    /// ``due(now:)``.
    mutating func record(node: String, _ certificates: PeerCertificates, now: Double) -> Bool {
        var certificates = certificates
        let previous = self.nodes[node]
        if let previous, previous.leafSummary == certificates.leafSummary, previous.leafNotValidAfter == certificates.leafNotValidAfter {
            // The same leaf: a chain that could not be read this time is the one read before.
            if certificates.chainNotValidAfter == nil { certificates.chainNotValidAfter = previous.chainNotValidAfter }
            self.nodes[node] = certificates
            return false
        }
        self.nodes[node] = certificates
        guard previous != nil else { return false }
        // Another leaf: its own schedule (a replacement that expires soon too is warned about at once).
        let wasWarned = self.warnedAt.removeValue(forKey: node) != nil
        return wasWarned && certificates.earliestNotValidAfter - now > self.threshold
    }

    /// Forgets every node; returns their endpoints.
    mutating func removeAll() -> [String] {
        defer {
            self.nodes = [:]
            self.warnedAt = [:]
        }
        return self.nodes.keys.sorted()
    }

    /// Forgets a node (it left the topology).
    mutating func remove(node: String) {
        self.nodes[node] = nil
        self.warnedAt[node] = nil
    }

    /// The warnings due now: certificates inside the window never warned about, or last warned about a
    /// ``repeatInterval`` ago. Each is then counted as warned.
    mutating func due(now: Double) -> [Warning] {
        var warnings: [Warning] = []
        for (node, certificates) in self.nodes.sorted(by: { $0.key < $1.key }) {
            let left = certificates.earliestNotValidAfter - now
            guard left <= self.threshold else { continue }
            if let last = self.warnedAt[node], now - last < self.repeatInterval { continue }
            self.warnedAt[node] = now
            warnings.append(Warning(node: node, certificates: certificates, secondsLeft: left, message: Self.message(node, certificates, now: now)))
        }
        return warnings
    }

    /// What the target's reason says while a certificate is inside the window: the one expiring first.
    func note(now: Double) -> String? {
        let expiring = self.nodes.filter { $0.value.earliestNotValidAfter - now <= self.threshold }
        guard let (node, certificates) = expiring.min(by: { ($0.value.earliestNotValidAfter, $0.key) < ($1.value.earliestNotValidAfter, $1.key) })
        else { return nil }
        return Self.message(node, certificates, now: now) + (expiring.count > 1 ? " (and \(expiring.count - 1) more)" : "")
    }

    /// "TLS certificate of 10.0.0.5:6380 expires in 3 days (2026-12-04T01:15:17.000Z)"; a chain certificate
    /// expiring before the leaf is named as such.
    static func message(_ node: String, _ certificates: PeerCertificates, now: Double) -> String {
        let expiry = certificates.earliestNotValidAfter
        let which =
            certificates.chainNotValidAfter.map { $0 < certificates.leafNotValidAfter } == true
            ? "a certificate in the TLS chain presented by \(node)" : "TLS certificate of \(node)"
        let left = expiry - now
        let when: String
        if left <= 0 {
            when = "expired \(Self.days(-left)) ago"
        } else if left < 86_400 {
            when = "expires in less than a day"
        } else {
            when = "expires in \(Self.days(left))"
        }
        return "\(which) \(when) (\(rfc3339(expiry)))"
    }

    /// Whole days, rounded down: "1 day", "3 days"; under a day, "less than a day".
    static func days(_ seconds: Double) -> String {
        let days = Int((seconds / 86_400).rounded(.down))
        return days == 0 ? "less than a day" : days == 1 ? "1 day" : "\(days) days"
    }

    /// Whole days left (rounded down; negative once expired), for the status.
    static func daysLeft(_ expiry: Double, now: Double) -> Int {
        Int(((expiry - now) / 86_400).rounded(.down))
    }
}
