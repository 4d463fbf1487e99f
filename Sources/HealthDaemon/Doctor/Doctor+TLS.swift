#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import RedisClient

/// The doctor's TLS checks: the handshake, the presented chain, and each certificate's expiry.
extension Doctor {
    func tlsChecks(address: SocketAddress, tls: RedisConnectionConfiguration.TLS) async -> [DoctorCheck] {
        let endpoint = self.connection.endpoint
        let serverName = tls.serverName ?? (endpoint.hostIsIPAddress ? nil : endpoint.host)
        let inspection = TLSInspection(
            address: address, tls: tls, serverName: serverName, timeout: .seconds(3), eventLoopGroup: self.eventLoopGroup)
        var checks: [DoctorCheck] = []
        let presented: TLSInspection.Presented
        do {
            presented = try await inspection.presented()
        } catch {
            return [
                .failure(
                    "tls", "handshake", "TLS handshake with \(address.hostAndPort) failed: \(Self.tlsText(self.shown("\(error)")))",
                    advice: "check that port \(endpoint.port) is the server's TLS port and that the CA, client certificate and key files are readable PEM")
            ]
        }
        checks.append(.ok("tls", "handshake", "completed with \(address.hostAndPort)"))
        if presented.version == "TLSv1.2" || presented.version == "TLSv1.3" {
            checks.append(.ok("tls", "version", presented.version))
        } else {
            checks.append(
                .warning("tls", "version", presented.version, advice: "configure the server for TLS 1.2 or later (tls-protocols \"TLSv1.2 TLSv1.3\")"))
        }
        let trust = tls.caFile.map { "ca_file \($0)" } ?? "the system's trust roots"
        var chainVerified = false
        do {
            try await inspection.verify(.noHostnameVerification)
            chainVerified = true
            checks.append(.ok("tls", "chain", "verified against \(trust)"))
        } catch {
            let issuer = presented.chain.first.map { " (the server presents \(self.shown($0.summary)))" } ?? ""
            checks.append(
                .failure(
                    "tls", "chain", "the server's certificate does not verify against \(trust): \(Self.tlsText(self.shown("\(error)")))",
                    advice: "set tls.ca_file (--ca-file) to the CA that issued the server's certificate\(issuer)"))
        }
        if chainVerified {
            let name = serverName ?? endpoint.host
            do {
                try await inspection.verify(.fullVerification)
                checks.append(.ok("tls", "name", "the certificate matches \(name)"))
            } catch {
                checks.append(
                    .failure(
                        "tls", "name", "the certificate does not match \(name)",
                        advice: "set tls.server_name (--server-name) to a name the certificate lists in its SAN, or dial the host by that name"))
            }
        }
        if let leaf = presented.chain.first {
            checks.append(self.expiryCheck("leaf expiry", Date(timeIntervalSince1970: leaf.notValidAfter)))
        }
        if presented.chain.count > 1, let earliest = presented.chain.map(\.notValidAfter).min() {
            checks.append(self.expiryCheck("chain expiry", Date(timeIntervalSince1970: earliest)))
        }
        return checks
    }

    func expiryCheck(_ name: String, _ date: Date, now: Date = Date()) -> DoctorCheck {
        let seconds = date.timeIntervalSince(now)
        let days = Int((seconds / 86_400).rounded(.down))
        let when = rfc3339Seconds(date.timeIntervalSince1970)
        if seconds <= 0 {
            return .failure(
                "tls", name, "expired \(-days) day\(-days == 1 ? "" : "s") ago (\(when))",
                advice: "renew the certificate now: verification fails and no new connection can be made")
        }
        if seconds < Double(self.expiryWarning.components.seconds) {
            return .warning(
                "tls", name, "expires in \(days) day\(days == 1 ? "" : "s") (\(when))",
                advice: "renew the server's certificate before then; once it expires the daemon and every client fail to connect")
        }
        return .ok("tls", name, "\(days) days left (\(when))")
    }
}
