import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// A target as the configuration file makes it: `extra` holds more YAML lines of the target (4-space indented).
func doctorTarget(port: Int, _ extra: [String] = []) throws -> DaemonConfiguration.Target {
    let yaml = (["targets:", "  - name: doctored", "    host: 127.0.0.1", "    port: \(port)"] + extra).joined(separator: "\n")
    return try ConfigurationLoader().parse(yaml).targets[0]
}

@Suite("doctor: pure parts")
struct DoctorReportTests {
    @Test("exit status 0 / 1 / 2 follows the worst check; the table shows ✓ ! ✗ and the advice under each problem")
    func table() {
        let report = DoctorReport(
            target: "cache-a", endpoint: "127.0.0.1:6379", startedAt: Date(), durationSeconds: 0.4,
            checks: [
                .ok("tcp", "connect 127.0.0.1:6379", "connected in 0.10 ms"),
                .warning("server", "idle timeout", "timeout 3s", advice: "set keepalive_interval below 3s"),
                .failure("tls", "chain", "does not verify", advice: "set tls.ca_file"),
            ])
        #expect(report.status == .failure)
        #expect(DoctorReport.exitCode(.ok) == 0 && DoctorReport.exitCode(.warning) == 1 && DoctorReport.exitCode(.failure) == 2)
        let lines = report.table.split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("  ✓ tcp"))
        #expect(lines[2].hasPrefix("  ! server") && lines[3].contains("→ set keepalive_interval below 3s"))
        #expect(lines[4].hasPrefix("  ✗ tls") && lines[5].contains("→ set tls.ca_file"))
        #expect(lines.last?.hasPrefix("FAILURE: 1 ok, 1 warning, 1 failure") == true, "\(lines.last ?? "")")
        #expect(DoctorCheck.ok("a", "b", "c").advice == nil)
    }

    @Test("certificate expiry: expired is a failure, inside tls.expiry_warning a warning, later ok", arguments: [
        (-86_400.0, DoctorCheck.Status.failure), (3 * 86_400.0, .warning), (13.9 * 86_400, .warning), (30 * 86_400.0, .ok),
    ])
    func expiry(offset: Double, expected: DoctorCheck.Status) throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let doctor = Doctor(target: try doctorTarget(port: 6379), password: nil)
        let check = doctor.expiryCheck("leaf expiry", now.addingTimeInterval(offset), now: now)
        #expect(check.status == expected, "\(check)")
        if expected == .warning && offset == 3 * 86_400 { #expect(check.detail.hasPrefix("expires in 3 days")) }
    }
}

@Suite("doctor against real servers", .serialized)
struct DoctorTests {
    @Test("a healthy standalone server: every check ok, exit 0, the table and --json from the binary")
    func healthyStandalone() async throws {
        try await withRedisServer { server in
            let binary = try daemonBinary()
            let start = ContinuousClock.now
            let table = try await runForStatus(binary, ["doctor", "--host", "127.0.0.1", "--port", "\(server.port)"])
            print("doctor, healthy, \(ContinuousClock.now - start):\n\(table.output)\(table.errors)")
            #expect(table.status == 0, "\(table.output)\(table.errors)")
            for section in ["✓ dns", "✓ tcp", "✓ handshake", "✓ acl", "✓ server", "✓ host", "✓ latency"] {
                #expect(table.output.contains(section), "\(section) missing")
            }
            #expect(table.output.contains("OK: "))
            #expect(!table.output.contains("✗") && !table.output.contains(" ! "))

            let json = try await runForStatus(binary, ["doctor", "--host", "127.0.0.1", "--port", "\(server.port)", "--json"])
            #expect(json.status == 0)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
            #expect(document["status"] as? String == "ok")
            #expect(document["exit_code"] as? Int == 0)
            let report = try #require((document["reports"] as? [[String: Any]])?.first)
            let checks = try #require(report["checks"] as? [[String: Any]])
            #expect(Set(checks.compactMap { $0["section"] as? String }).isSuperset(of: ["dns", "tcp", "handshake", "acl", "server", "host", "latency"]))
            let latency = try #require(checks.first { $0["section"] as? String == "latency" })
            #expect((latency["detail"] as? String)?.contains("p99") == true)
        }
    }

    @Test("TLS with a certificate that expires in 3 days: a warning naming the days left, exit 1")
    func shortLivedCertificate() async throws {
        let certificates = try await TestCertificates.shared()
        let shortLived = try await certificates.shortLivedServerCertificate(days: 3)
        var options = RedisServer.Options(tls: true)
        options.tlsCertificate = shortLived
        try await withRedisServer(options) { server in
            let result = try await runForStatus(
                try daemonBinary(),
                ["doctor", "--host", "127.0.0.1", "--port", "\(server.port)", "--ca-file", certificates.caCertificate, "--server-name", "localhost"])
            print("doctor, 3-day certificate:\n\(result.output)\(result.errors)")
            #expect(result.status == 1, "\(result.output)\(result.errors)")
            let expiry = try #require(result.output.split(separator: "\n").first { $0.contains("leaf expiry") })
            #expect(expiry.contains("! tls") && expiry.contains("expires in 2 days"), "\(expiry)")
            #expect(result.output.contains("→ renew the server's certificate"))
            #expect(result.output.contains("✓ tls       chain"), "the chain itself verifies")
        }
    }

    @Test("TLS trusted with the wrong CA: a chain failure that says to set tls.ca_file, exit 2")
    func wrongCA() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(RedisServer.Options(tls: true)) { server in
            let result = try await runForStatus(
                try daemonBinary(),
                ["doctor", "--host", "127.0.0.1", "--port", "\(server.port)", "--ca-file", certificates.otherCACertificate, "--server-name", "localhost"])
            print("doctor, wrong CA:\n\(result.output)\(result.errors)")
            #expect(result.status == 2)
            let chain = try #require(result.output.split(separator: "\n").first { $0.contains("chain") })
            #expect(chain.contains("✗ tls") && chain.contains("does not verify against ca_file \(certificates.otherCACertificate)"), "\(chain)")
            #expect(result.output.contains("→ set tls.ca_file (--ca-file) to the CA that issued the server's certificate"))
            #expect(result.output.contains("✗ handshake HELLO / AUTH            TLS fails as the tls checks show"), "\(result.output)")
            #expect(!result.output.contains(".build/checkouts"), "no library internals in what a person reads")
            #expect(result.output.contains("leaf expiry"), "the certificate is still read and its expiry shown")
        }
    }

    @Test("a healthy TLS server: handshake, version, chain, name and expiry ok")
    func healthyTLS() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(RedisServer.Options(tls: true)) { server in
            let target = try doctorTarget(
                port: server.port,
                ["    tls:", "      enabled: true", "      ca_file: \(certificates.caCertificate)", "      server_name: localhost"])
            let report = await Doctor(target: target, password: nil).run()
            let tls = report.checks.filter { $0.section == "tls" }
            #expect(tls.map(\.name) == ["handshake", "version", "chain", "name", "leaf expiry", "chain expiry"], "\(tls)")
            #expect(tls.allSatisfy { $0.status == .ok }, "\(report.table)")
            #expect(report.status == .ok, "\(report.table)")
        }
    }

    @Test("a cluster node announcing a disallowed port: a failure naming node and port, never dialed")
    func disallowedClusterPort() async throws {
        try await withFakeRedisServer { victim in
            try await withFakeRedisServer(FakeRedisServer.Script(topology: nil)) { seed in
                seed.updateScript {
                    $0.topology = FakeClusterTopology(nodes: [
                        FakeClusterNode(id: FakeClusterTopology.nodeID(1), port: seed.port, slots: [0...8191]),
                        FakeClusterNode(id: FakeClusterTopology.nodeID(2), port: victim.port, slots: [8192...16383]),
                    ])
                }
                let target = try doctorTarget(port: seed.port, ["    allowed_ports: [\(seed.port)]"])
                let report = await Doctor(target: target, password: nil).run()
                print("doctor, disallowed port:\n\(report.table)")
                let victimID = String(FakeClusterTopology.nodeID(2).prefix(8))
                let refusal = try #require(report.checks.first { $0.section == "cluster" && $0.status == .failure })
                #expect(refusal.name == "node \(victimID)")
                #expect(refusal.detail.contains("announces 127.0.0.1:\(victim.port): port \(victim.port) is outside allowed_ports [\(seed.port)]; not dialed"), "\(refusal)")
                #expect(refusal.advice?.contains("allow 127.0.0.1:\(victim.port)") == true)
                let seedID = String(FakeClusterTopology.nodeID(1).prefix(8))
                #expect(report.checks.contains { $0.name == "node \(seedID)" && $0.status == .ok && $0.detail.contains("answers") }, "\(report.table)")
                #expect(report.status == .failure)
                #expect(victim.acceptedConnections == 0, "the disallowed endpoint was dialed")
            }
        }
    }

    @Test("a server timeout shorter than keepalive_interval: a warning with what to set")
    func serverTimeout() async throws {
        try await withRedisServer(RedisServer.Options(extraConfig: ["timeout 3"])) { server in
            let report = await Doctor(target: try doctorTarget(port: server.port), password: nil).run()
            let check = try #require(report.checks.first { $0.name == "idle timeout" })
            #expect(check.status == .warning, "\(report.table)")
            #expect(check.detail == "the server closes connections idle for 3s, not longer than keepalive_interval 60s")
            #expect(check.advice?.contains("keepalive_interval below 3s") == true)
            #expect(report.status == .warning, "\(report.table)")
        }
    }

    @Test("a wrong password: a handshake failure with advice, the password shown nowhere, exit 2")
    func wrongPassword() async throws {
        try await withRedisServer(RedisServer.Options(password: "right-\(UUID().uuidString.prefix(8))")) { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-doctor-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let secret = "wrong-\(UUID().uuidString.prefix(8))"
            let file = directory.appendingPathComponent("password").path
            try secret.write(toFile: file, atomically: true, encoding: .utf8)
            for arguments in [[String](), ["--json"]] {
                let result = try await runForStatus(
                    try daemonBinary(), ["doctor", "--host", "127.0.0.1", "--port", "\(server.port)", "--password-file", file] + arguments)
                if arguments.isEmpty { print("doctor, wrong password:\n\(result.output)\(result.errors)") }
                #expect(result.status == 2)
                #expect(!result.output.contains(secret) && !result.errors.contains(secret), "the password was shown")
                #expect(result.output.contains("authentication failed"), "\(result.output)")
                #expect(result.output.contains("check the user name and the password"))
            }
        }
    }
}
