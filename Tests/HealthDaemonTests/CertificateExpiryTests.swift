import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

private let day = 86_400.0

@Suite("Certificate expiry watch (pure, time passed in)")
struct CertificateExpiryWatchTests {
    @Test("a certificate entering the window: warned at once, again a day later, not in between; a replacement ends it")
    func schedule() {
        var watch = CertificateExpiryWatch(threshold: .seconds(14 * 86_400))
        let start = 1_800_000_000.0
        let leaf = PeerCertificates(leafSummary: "<leaf a>", leafNotValidAfter: start + 20 * day, chainNotValidAfter: start + 20 * day)
        #expect(watch.record(node: "10.0.0.1:6380", leaf, now: start) == false)
        #expect(watch.due(now: start).isEmpty, "20 days left: outside the 14-day window")
        #expect(watch.note(now: start) == nil)

        // Six days on, while connected (no new handshake): 14 days less a second left.
        let entering = start + 6 * day + 1
        let warnings = watch.due(now: entering)
        #expect(warnings.count == 1)
        #expect(warnings.first?.message == "TLS certificate of 10.0.0.1:6380 expires in 13 days (\(rfc3339(start + 20 * day)))")
        #expect(watch.due(now: entering + 3600).isEmpty, "once a day, not at every probe")
        #expect(watch.due(now: entering + day - 1).isEmpty)
        #expect(watch.due(now: entering + day).map(\.message) == ["TLS certificate of 10.0.0.1:6380 expires in 12 days (\(rfc3339(start + 20 * day)))"])
        #expect(watch.note(now: entering + day) == "TLS certificate of 10.0.0.1:6380 expires in 12 days (\(rfc3339(start + 20 * day)))")

        // The same certificate at a reconnect: no new warning before the day is over.
        #expect(watch.record(node: "10.0.0.1:6380", leaf, now: entering + day + 60) == false)
        #expect(watch.due(now: entering + day + 60).isEmpty)

        // Renewed: said once, and the note is gone.
        let renewed = PeerCertificates(leafSummary: "<leaf b>", leafNotValidAfter: start + 400 * day, chainNotValidAfter: start + 400 * day)
        #expect(watch.record(node: "10.0.0.1:6380", renewed, now: entering + 2 * day) == true)
        #expect(watch.due(now: entering + 2 * day).isEmpty)
        #expect(watch.note(now: entering + 2 * day) == nil)
    }

    @Test("the chain counts: an intermediate expiring before the leaf is what is warned about, named as such")
    func chainFirst() {
        var watch = CertificateExpiryWatch(threshold: .seconds(7 * 86_400))
        let now = 1_800_000_000.0
        let presented = PeerCertificates(leafSummary: "<leaf>", leafNotValidAfter: now + 60 * day, chainNotValidAfter: now + 5 * day + 60)
        _ = watch.record(node: "n1:6380", presented, now: now)
        #expect(
            watch.due(now: now).map(\.message)
                == ["a certificate in the TLS chain presented by n1:6380 expires in 5 days (\(rfc3339(now + 5 * day + 60)))"])
    }

    @Test("the same leaf with its chain unread this time: the chain read before stays, no renewal, no new warning")
    func chainUnreadKeepsChain() {
        var watch = CertificateExpiryWatch(threshold: .seconds(7 * 86_400))
        let now = 1_800_000_000.0
        let read = PeerCertificates(leafSummary: "<leaf>", leafNotValidAfter: now + 60 * day, chainNotValidAfter: now + 5 * day)
        _ = watch.record(node: "n1:6380", read, now: now)
        #expect(watch.due(now: now).count == 1)
        let unread = PeerCertificates(leafSummary: "<leaf>", leafNotValidAfter: now + 60 * day, chainNotValidAfter: nil)
        #expect(watch.record(node: "n1:6380", unread, now: now + 60) == false, "not a renewal: the leaf is the same")
        #expect(watch.nodes["n1:6380"]?.chainNotValidAfter == now + 5 * day)
        #expect(watch.due(now: now + 60).isEmpty)
        #expect(watch.note(now: now + 60)?.contains("in the TLS chain") == true)
        #expect(watch.removeAll() == ["n1:6380"] && watch.nodes.isEmpty)
    }

    @Test("several nodes: the note names the first to expire and counts the others; expired ones say so; a node removed is forgotten")
    func severalNodes() {
        var watch = CertificateExpiryWatch(threshold: .seconds(14 * 86_400))
        let now = 1_800_000_000.0
        _ = watch.record(node: "n1:6380", PeerCertificates(leafSummary: "a", leafNotValidAfter: now + 10 * day), now: now)
        _ = watch.record(node: "n2:6380", PeerCertificates(leafSummary: "b", leafNotValidAfter: now - 2 * day - 60), now: now)
        _ = watch.record(node: "n3:6380", PeerCertificates(leafSummary: "c", leafNotValidAfter: now + 300 * day), now: now)
        #expect(watch.due(now: now).map(\.node) == ["n1:6380", "n2:6380"])
        #expect(watch.note(now: now) == "TLS certificate of n2:6380 expired 2 days ago (\(rfc3339(now - 2 * day - 60))) (and 1 more)")
        watch.remove(node: "n2:6380")
        #expect(watch.note(now: now) == "TLS certificate of n1:6380 expires in 10 days (\(rfc3339(now + 10 * day)))")
        #expect(CertificateExpiryWatch.message("n", PeerCertificates(leafSummary: "x", leafNotValidAfter: now + 3600), now: now).contains("expires in less than a day"))
    }

    @Test("the status: a healthy target's reason is the note; a degraded one's reason gets it appended; the JSON lists days left")
    func status() throws {
        let now = 1_800_000_000.0
        var status = TargetStatus(name: "tls-a", endpoint: "127.0.0.1:6380", now: now)
        _ = status.apply(.connected(role: .interactive, endpoint: RedisEndpoint(host: "127.0.0.1", port: 6380), protocolVersion: 3, restored: false), now: now)
        _ = status.apply(.probe(latency: .milliseconds(1)), now: now)
        #expect(status.state == .healthy && status.reason == nil)
        status.certificates = ["127.0.0.1:6380": PeerCertificates(leafSummary: "<leaf>", leafNotValidAfter: now + 3 * day - 60, chainNotValidAfter: now + 3 * day - 60)]
        status.certificateNote = "TLS certificate of 127.0.0.1:6380 expires in 2 days"
        #expect(status.state == .healthy && status.reason == "TLS certificate of 127.0.0.1:6380 expires in 2 days")
        status.setClusterProblem("something else", now: now)
        #expect(status.state == .degraded && status.reason == "something else; TLS certificate of 127.0.0.1:6380 expires in 2 days")
        let document = StatusDocument.Target(status, now: now)
        #expect(document.tlsCertificates?.first?.daysLeft == 2)
        #expect(document.tlsCertificates?.first?.chainNotAfter == rfc3339(now + 3 * day - 60))
        let json = String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
        #expect(json.contains(#""days_left":2"#) && json.contains(#""leaf_not_after":"#))
    }
}

/// The watch against real TLS servers: what a handshake presents becomes the status, the metric, a warning with its
/// MESSAGE_ID's event name, and a hook run.
@Suite("Certificate expiry against real TLS servers")
struct CertificateExpiryDaemonTests {
    private func tlsTarget(_ name: String, port: Int, caFile: String, extra: String = "") -> String {
        """
          - name: \(name)
            host: 127.0.0.1
            port: \(port)
            tls: {enabled: true, ca_file: \(caFile), server_name: localhost\(extra)}
            probe_interval: 200ms
            probe_timeout: 1s

        """
    }

    private func target(_ client: ControlClient, _ name: String) async throws -> [String: Any] {
        let targets = try await object(client, "/status")["targets"] as? [[String: Any]] ?? []
        return targets.first { $0["name"] as? String == name } ?? [:]
    }

    /// The value of the expiry series of `target`, if exported.
    private func expiryMetric(_ client: ControlClient, target: String, node: String) async throws -> Double? {
        let metrics = String(decoding: try await client.send("GET", "/metrics").body, as: UTF8.self)
        let prefix = #"redis_healthd_tls_certificate_expiry_timestamp_seconds{target="\#(target)",node="\#(node)"} "#
        return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test("a 3-day certificate: healthy with the reason saying so, days left, the metric, one warning, a certificate-expiry hook run; a year-long one: nothing")
    func shortLived() async throws {
        let certificates = try await TestCertificates.shared()
        let shortLived = try await certificates.shortLivedServerCertificate(days: 3)
        let issued = Date().timeIntervalSince1970
        var options = RedisServer.Options(tls: true)
        options.tlsCertificate = shortLived
        try await withRedisServer(options) { short in
            try await withRedisServer(RedisServer.Options(tls: true)) { long in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cert-\(UUID().uuidString.prefix(6))")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                let record = directory.appendingPathComponent("hook.log").path
                let script = "env | grep '^REDIS_HEALTHD_' | sort >> \(record); echo --- >> \(record)"
                let quoted = String(decoding: try JSONEncoder().encode(script), as: UTF8.self)
                let hooks = "hooks:\n  - on: [certificate-expiry]\n    run: [\"/bin/sh\", \"-c\", \(quoted)]\n    min_interval: 0s\n"
                let targets = self.tlsTarget("tls-short", port: short.port, caFile: certificates.caCertificate)
                    + self.tlsTarget("tls-long", port: long.port, caFile: certificates.caCertificate)
                let logs = LogRecords()
                try await withDaemon(targetsYAML: targets, topYAML: hooks, logs: logs) { _, client, _ in
                    // The certificate is recorded once the presented chain was read (within the connect timeout).
                    #expect(
                        try await eventually(within: .seconds(30)) {
                            let short = try await self.target(client, "tls-short")["tls_certificates"]
                            let long = try await self.target(client, "tls-long")["tls_certificates"]
                            return short != nil && long != nil
                        })
                    let shortStatus = try await self.target(client, "tls-short")
                    #expect(shortStatus["state"] as? String == "healthy", "a certificate about to expire does not make the target unhealthy")
                    let reason = shortStatus["reason"] as? String ?? ""
                    #expect(reason.hasPrefix("TLS certificate of 127.0.0.1:\(short.port) expires in 2 days ("), "\(reason)")
                    let listed = try #require((shortStatus["tls_certificates"] as? [[String: Any]])?.first)
                    #expect(listed["node"] as? String == "127.0.0.1:\(short.port)")
                    #expect(listed["days_left"] as? Int == 2)
                    #expect((listed["leaf"] as? String)?.contains("server-3d-") == true, "\(listed)")

                    let longStatus = try await self.target(client, "tls-long")
                    #expect(longStatus["state"] as? String == "healthy" && longStatus["reason"] == nil, "\(longStatus)")
                    #expect(((longStatus["tls_certificates"] as? [[String: Any]])?.first?["days_left"] as? Int ?? 0) >= 360)

                    // The metric: when the certificate expires, to the minute of its making.
                    let expiry = try #require(try await self.expiryMetric(client, target: "tls-short", node: "127.0.0.1:\(short.port)"))
                    #expect(abs(expiry - (issued + 3 * day)) < 600, "expiry \(expiry), issued \(issued)")
                    let longExpiry = try #require(try await self.expiryMetric(client, target: "tls-long", node: "127.0.0.1:\(long.port)"))
                    #expect(longExpiry > issued + 360 * day)

                    // One warning (not one per probe), with the fields an operator filters on.
                    #expect(await eventually(within: .seconds(15)) { !logs.with(event: "certificate-expiry").isEmpty })
                    try await Task.sleep(for: .seconds(1))
                    let warnings = logs.with(event: "certificate-expiry")
                    #expect(warnings.count == 1, "\(warnings.map(\.metadata))")
                    let warning = try #require(warnings.first)
                    #expect(warning.level == .warning)
                    #expect(warning.metadata["redis.target"] == "tls-short" && warning.metadata["redis.days_left"] == "2")
                    #expect(warning.metadata["redis.node_endpoint"] == "127.0.0.1:\(short.port)")

                    // The hook ran for it, with the reason.
                    #expect(
                        await eventually(within: .seconds(15)) {
                            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").contains("REDIS_HEALTHD_EVENT=certificate-expiry")
                        })
                    let written = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
                    #expect(written.contains("REDIS_HEALTHD_TARGET=tls-short"))
                    #expect(written.contains("REDIS_HEALTHD_REASON=TLS certificate of 127.0.0.1:\(short.port) expires in 2 days"), "\(written)")
                    #expect(!written.contains("tls-long"), "the year-long certificate is not warned about")

                    // The event history says so too.
                    let events = String(decoding: try await client.send("GET", "/events?target=tls-short").body, as: UTF8.self)
                    #expect(events.contains("certificate-expiry"), "\(events.prefix(2000))")
                }
            }
        }
    }

    @Test("an intermediate CA that expires before the leaf: the chain's expiry is the one reported")
    func intermediateFirst() async throws {
        let certificates = try await TestCertificates.shared()
        let chain = try await certificates.serverCertificateWithIntermediate(leafDays: 60, intermediateDays: 5)
        let issued = Date().timeIntervalSince1970
        var options = RedisServer.Options(tls: true)
        options.tlsCertificate = chain
        try await withRedisServer(options) { server in
            let logs = LogRecords()
            let targets = self.tlsTarget("tls-chain", port: server.port, caFile: certificates.caCertificate, extra: ", expiry_warning: 7d")
            try await withDaemon(targetsYAML: targets, logs: logs) { _, client, _ in
                #expect(try await eventually(within: .seconds(30)) { try await self.target(client, "tls-chain")["tls_certificates"] != nil })
                let status = try await self.target(client, "tls-chain")
                #expect(status["state"] as? String == "healthy")
                let listed = try #require((status["tls_certificates"] as? [[String: Any]])?.first)
                #expect(listed["days_left"] as? Int == 4, "\(listed)")
                let leafNotAfter = try #require((listed["leaf_not_after"] as? String).flatMap(parseRFC3339))
                let chainNotAfter = try #require((listed["chain_not_after"] as? String).flatMap(parseRFC3339))
                #expect(abs(leafNotAfter - (issued + 60 * day)) < 600 && abs(chainNotAfter - (issued + 5 * day)) < 600, "\(listed)")
                #expect((status["reason"] as? String)?.hasPrefix("a certificate in the TLS chain presented by 127.0.0.1:\(server.port) expires in 4 days") == true, "\(status)")
                let expiry = try #require(try await self.expiryMetric(client, target: "tls-chain", node: "127.0.0.1:\(server.port)"))
                #expect(abs(expiry - (issued + 5 * day)) < 600)
                #expect(await eventually(within: .seconds(15)) { logs.with(event: "certificate-expiry").count == 1 })
            }
        }
    }
}

private func parseRFC3339(_ text: String) -> Double? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)?.timeIntervalSince1970
}
