#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RESP
import RedisClient

/// `redis-healthd doctor`: a one-shot diagnosis of one target, without a running daemon. Each check says ok,
/// warning or failure, and what to do. Every step has a short deadline, so a run finishes within about 10 s even
/// against a black hole. Disallowed cluster endpoints are listed and never dialed.
public struct Doctor: Sendable {
    public var target: DaemonConfiguration.Target
    public var password: RedisSecret?
    /// A certificate expiring sooner than this is a warning: the target's `tls.expiry_warning` [14 days].
    public var expiryWarning: Duration
    /// PINGs sent to measure latency. [50]
    public var pings = 50
    public var eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Nodes of a cluster dialed at most (the rest are listed as not checked). [64]
    public var maximumNodesDialed = 64

    /// A target's credential command, run (once) to authenticate as the daemon would.
    let credentialSource: CredentialSource?

    public init(target: DaemonConfiguration.Target, password: RedisSecret?) {
        self.target = target
        self.password = password
        self.credentialSource = target.credentialCommand.map {
            CredentialSource(
                origin: .command($0, timeout: target.credentialTimeout), username: target.multiplexer.connection.username,
                schedule: CredentialRefreshSchedule(margin: target.credentialRefreshMargin))
        }
        self.expiryWarning = target.tlsExpiryWarning
    }

    /// The connection settings doctor uses: the target's, with short deadlines and its own client name.
    var connection: RedisConnectionConfiguration {
        var connection = self.target.multiplexer.connection
        connection.password = self.password
        connection.credentials = self.credentialSource?.provider
        connection.connectTimeout = min(connection.connectTimeout, .seconds(3))
        connection.commandTimeout = min(connection.commandTimeout, .seconds(2))
        connection.clientName = (connection.clientName ?? "redis-healthd") + "#doctor"
        return connection
    }

    /// Text a server sent (or an error quoting it), as it may be shown: secrets scrubbed, control characters escaped.
    func shown(_ text: String) -> String {
        var connection = self.connection
        if let password = self.credentialSource?.currentPassword { connection.password = password }
        return connection.scrubbingSecrets(text).escapingControlCharacters
    }

    public func run() async -> DoctorReport {
        let startedAt = Date()
        let start = ContinuousClock.now
        var checks: [DoctorCheck] = []
        await self.diagnose(into: &checks)
        checks += self.hostChecks()
        let elapsed = ContinuousClock.now - start
        return DoctorReport(
            target: self.target.name, endpoint: self.connection.endpoint.description.escapingControlCharacters,
            startedAt: startedAt, durationSeconds: seconds(elapsed), checks: checks)
    }

    // MARK: the chain of checks: each needs the one before

    private func diagnose(into checks: inout [DoctorCheck]) async {
        let connection = self.connection
        let endpoint = connection.endpoint
        // DNS
        var addresses: [SocketAddress] = []
        if endpoint.hostIsIPAddress, let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            addresses = [address]
            checks.append(.ok("dns", "resolve", "\(endpoint.host) is an IP address: no look-up"))
        } else {
            switch await AddressResolution.resolve(endpoint.host, port: endpoint.port) {
            case .success(let found):
                addresses = found
                checks.append(.ok("dns", "resolve", "\(endpoint.host) → \(found.compactMap(\.ipAddress).joined(separator: ", "))"))
            case .failure(let error):
                checks.append(
                    .failure(
                        "dns", "resolve", "\(endpoint.host) does not resolve: \(error.message)",
                        advice: "check the host name and the resolver (resolvectl status, /etc/resolv.conf); a private endpoint needs its private DNS zone linked to this network"))
                return
            }
        }

        // TCP, each address
        var reachable: [SocketAddress] = []
        for address in addresses {
            let check = await self.tcpCheck(address)
            if check.status == .ok { reachable.append(address) }
            checks.append(check)
        }
        guard let first = reachable.first else { return }

        // TLS
        if let tls = connection.tls {
            checks += await self.tlsChecks(address: first, tls: tls)
        }

        // Redis handshake
        let redis: RedisConnection
        do {
            redis = try await RedisConnection.connect(
                configuration: connection, eventLoopGroup: self.eventLoopGroup, logger: Logger(label: "redis-healthd.doctor"))
        } catch {
            if error.code == .tls && checks.contains(where: { $0.section == "tls" && $0.status == .failure }) {
                checks.append(
                    .failure("handshake", "HELLO / AUTH", "TLS fails as the tls checks show", advice: "fix the TLS problems above first"))
            } else {
                checks.append(
                    .failure("handshake", "HELLO / AUTH", error.code == .tls ? "TLS failed: \(Self.tlsText(self.shown(error.description)))" : self.shown(error.description),
                        advice: Self.advice(for: error)))
            }
            return
        }
        checks.append(
            .ok(
                "handshake", "HELLO",
                redis.protocolVersion == .resp3 ? "RESP3 (HELLO 3)" : "RESP2 (the server refused HELLO 3; AUTH and CLIENT SETNAME used)"))
        if let credentials = redis.credentials, self.credentialSource != nil {
            let expiry = credentials.expiresAt.map { ", valid until \(rfc3339($0))" } ?? ""
            checks.append(
                .ok("handshake", "AUTH", "authenticated as \(self.shown(credentials.username ?? connection.username ?? "default")) with credential_command's credential\(expiry)"))
        } else if connection.password != nil || connection.username != nil {
            checks.append(.ok("handshake", "AUTH", "authenticated as \(self.shown(connection.username ?? "default"))"))
        } else {
            checks.append(.ok("handshake", "AUTH", "no password configured; the server accepted the connection without one"))
        }

        let session = DoctorSession(connection: redis, timeout: connection.commandTimeout, doctor: self)
        checks += await session.aclChecks()
        let info = await session.info()
        checks += await session.serverChecks(info: info)
        checks += await session.clusterChecks(info: info)
        checks += await session.clockCheck()
        checks += await session.latencyCheck()
        await redis.close()

        // DNS again: did the answer change during the run?
        if !endpoint.hostIsIPAddress, case .success(let again) = await AddressResolution.resolve(endpoint.host, port: endpoint.port) {
            if Set(again) == Set(addresses) {
                checks.append(.ok("dns", "stable", "the same answer at the end of the run"))
            } else {
                checks.append(
                    .warning(
                        "dns", "stable",
                        "the answer changed during the run: \(addresses.compactMap(\.ipAddress).joined(separator: ", ")) → \(again.compactMap(\.ipAddress).joined(separator: ", "))",
                        advice: "a failover or DNS round robin is under way; the daemon resolves on every reconnect, clients that cache addresses may dial a stale one"))
            }
        }
    }

    private func tcpCheck(_ address: SocketAddress) async -> DoctorCheck {
        let timeout = self.connection.connectTimeout
        let start = ContinuousClock.now
        do {
            let channel = try await ClientBootstrap(group: self.eventLoopGroup)
                .connectTimeout(.nanoseconds(Int64(seconds(timeout) * 1e9)))
                .connect(to: address).get()
            let elapsed = ContinuousClock.now - start
            try? await channel.close()
            return .ok("tcp", "connect \(address.hostAndPort)", "connected in \(Self.milliseconds(elapsed)) ms")
        } catch {
            let text = "\(error)"
            let port = address.port ?? 0
            if case ChannelError.connectTimeout = error {
                return .failure(
                    "tcp", "connect \(address.hostAndPort)", "no answer within \(timeout.humanReadable)",
                    advice: "a firewall, security group or network allow-list probably drops port \(port); check the path from this host")
            }
            if text.lowercased().contains("refused") {
                return .failure(
                    "tcp", "connect \(address.hostAndPort)", "connection refused",
                    advice: "nothing listens on port \(port) there: check the port and that redis-server runs")
            }
            return .failure(
                "tcp", "connect \(address.hostAndPort)", "cannot connect: \(text.escapingControlCharacters)",
                advice: "check routing and firewalls between this host and \(address.hostAndPort)")
        }
    }

    // MARK: TLS

    private func tlsChecks(address: SocketAddress, tls: RedisConnectionConfiguration.TLS) async -> [DoctorCheck] {
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

    // MARK: host

    private func hostChecks() -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let tcp = self.target.multiplexer.connection.tcp
        let retries = HostCheck.sysctl("net.ipv4.tcp_retries2")
        let withoutUserTimeout = HostCheck.targetsWithoutUserTimeout([self.target])
        if HostCheck.warning(tcpRetries2: retries.flatMap { Int($0) }, targetsWithoutUserTimeout: withoutUserTimeout) != nil {
            checks.append(
                .warning(
                    "host", "tcp_retries2",
                    "net.ipv4.tcp_retries2 is \(retries ?? "?") and TCP_USER_TIMEOUT is off for this target: a connection whose peer vanished takes minutes to fail",
                    advice: "set tcp.user_timeout (for example 30s) on the target, or sysctl -w net.ipv4.tcp_retries2=5 (persist it in /etc/sysctl.d/)"))
        } else {
            let userTimeout = tcp.userTimeout.map { $0 > .zero ? $0.humanReadable : "off" } ?? "off"
            checks.append(
                .ok("host", "tcp_retries2", "net.ipv4.tcp_retries2=\(retries ?? "unreadable"), the target's TCP_USER_TIMEOUT \(userTimeout)"))
        }
        let keepaliveTime = HostCheck.sysctl("net.ipv4.tcp_keepalive_time") ?? "unreadable"
        if let idle = tcp.keepaliveIdle {
            if idle >= .seconds(600) {
                checks.append(
                    .warning(
                        "host", "keepalive", "tcp.keepalive_idle \(idle.humanReadable) is not below 600s",
                        advice: "set tcp.keepalive_idle below 600s (e.g. 15s): load balancers and managed Redis drop idle flows after 10 minutes or less"))
            } else {
                checks.append(
                    .ok(
                        "host", "keepalive",
                        "the target sets its own: idle \(idle.humanReadable), interval \(tcp.keepaliveProbeInterval.humanReadable), \(tcp.keepaliveCount) probes (net.ipv4.tcp_keepalive_time=\(keepaliveTime) is not used)"))
            }
        } else {
            checks.append(
                .warning(
                    "host", "keepalive", "TCP keepalive is off for this target (net.ipv4.tcp_keepalive_time=\(keepaliveTime) applies only to sockets that enable it)",
                    advice: "set tcp.keepalive_idle (for example 15s) so that the kernel too notices a silently dropped connection"))
        }
        return checks
    }

    // MARK: helpers

    static func advice(for error: RedisClientError) -> String {
        switch error.code {
        case .authentication:
            "check the user name and the password (--user, --password-file, or the target's username and password_file / password_credential); with ACLs the user must exist and be `on`"
        case .tls:
            "check tls.ca_file, tls.server_name and that the port speaks TLS"
        case .connectionRefused, .connectTimeout, .connectFailed, .dnsFailure:
            "check the host, the port and the network path (see the dns and tcp checks)"
        case .commandTimeout:
            "the server accepted the connection but did not answer: is it overloaded, paused or loading its data?"
        case .configuration:
            "fix the target's configuration (redis-healthd check-config)"
        default:
            "check the server's log and that it is a Redis server on this port"
        }
    }

    /// BoringSSL's error text without its source locations: `certificate verify failed` for
    /// `handshakeFailed(…CERTIFICATE_VERIFY_FAILED at /…/handshake.cc:320…)`.
    static func tlsText(_ text: String) -> String {
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "certificate verify failed" }
        if let reason = boringSSLReason(text) {
            return String(reason.lowercased().map { $0 == "_" ? " " : $0 })
        }
        return text
    }

    /// The reason of the first BoringSSL error code in `text` (`error:1000007d:SSL routines:OPENSSL_internal:
    /// CERTIFICATE_VERIFY_FAILED` → `CERTIFICATE_VERIFY_FAILED`): `error:`, hex digits, two fields without `:`, then
    /// upper-case letters and `_`.
    static func boringSSLReason(_ text: String) -> Substring? {
        var rest = text[...]
        while let start = rest.firstOccurrence(of: "error:") {
            rest = rest[start.upperBound...]
            let code = rest.prefix { $0.isASCII && $0.isHexDigit && !$0.isUppercase }
            guard !code.isEmpty, rest[code.endIndex...].first == ":" else { continue }
            let fields = rest[rest.index(after: code.endIndex)...].split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let reason = fields[2].prefix { ($0.isASCII && $0.isUppercase) || $0 == "_" }
            if !reason.isEmpty { return reason }
        }
        return nil
    }

    static func milliseconds(_ duration: Duration) -> String { (seconds(duration) * 1000).fixed(2) }
}
