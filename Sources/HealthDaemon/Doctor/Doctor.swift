#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LogText
import Logging
import NIOCore
import NIOPosix
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
}
