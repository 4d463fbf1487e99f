#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// A systemd drop-in for redis-healthd.service that lets the daemon reach only the addresses its configuration can
/// reach: `IPAddressDeny=any`, then `IPAddressAllow=` for localhost, every target's addresses (host names resolved
/// when the drop-in is generated), every `allowed_networks` CIDR, the name servers (when a target has a host
/// name) and any extra networks the operator names (a remote Prometheus scraping `metrics.listen`).
///
/// systemd drops the packets of any other address silently, so a TCP connect to it times out rather than failing at
/// once; the drop-in therefore also sets `REDIS_HEALTHD_IP_ADDRESS_ALLOW`, which the daemon names in its
/// connect-timeout errors. Pure: resolution is passed in (``resolve(_:)`` does it for real).
public struct UnitDropIn: Sendable {
    /// The addresses a host name resolved to, or why it did not resolve.
    public typealias Resolver = @Sendable (String) -> Result<[String], ResolutionError>

    public struct ResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// One `IPAddressAllow=` line and the comment that says where it comes from.
    public struct Allow: Sendable, Hashable {
        public var comment: String
        /// CIDRs (`10.0.0.5/32`) or systemd's `localhost`.
        public var addresses: [String]
    }

    /// The environment variable the drop-in sets: the allowed addresses, for the daemon's error messages.
    public static let environmentVariable = "REDIS_HEALTHD_IP_ADDRESS_ALLOW"

    public var allows: [Allow] = []
    /// Problems an operator must know about (unresolvable names, cluster targets without `allowed_networks`, a metrics
    /// listener that remote scrapers reach): comments in the drop-in, and on standard error.
    public var warnings: [String] = []
    /// Host names resolved, for the header: "cache.example.com → 10.0.0.5".
    public var resolved: [String] = []

    /// Builds the drop-in for `configuration`.
    /// - Parameters:
    ///   - extraAllow: further CIDRs or addresses (`--allow`), e.g. a Prometheus server scraping `metrics.listen`.
    ///   - nameServers: the `nameserver` addresses of /etc/resolv.conf; allowed when some target has a host name.
    ///   - resolve: resolves a host name to its addresses.
    public init(
        configuration: DaemonConfiguration, extraAllow: [String] = [], nameServers: [String], resolve: Resolver
    ) throws(ConfigurationError) {
        var seen: Set<String> = ["localhost"]
        var badExtras: [ConfigurationError.Problem] = []
        func add(_ comment: String, _ candidates: [String]) {
            let fresh = candidates.filter { !seen.contains($0) && !Self.isLoopback($0) }
            seen.formUnion(fresh)
            if !fresh.isEmpty { self.allows.append(Allow(comment: comment, addresses: fresh)) }
        }
        self.allows.append(Allow(comment: "loopback (127.0.0.0/8, ::1): local servers, a local Prometheus, a local resolver", addresses: ["localhost"]))

        var usesHostNames = false
        for target in configuration.targets {
            let host = target.multiplexer.connection.endpoint.host
            if let cidr = Self.hostCIDR(host) {
                add("target \(target.name): \(host)", [cidr])
            } else {
                usesHostNames = true
                switch resolve(host) {
                case .success(let addresses) where !addresses.isEmpty:
                    let cidrs = addresses.compactMap(Self.hostCIDR)
                    self.resolved.append("\(host) → \(addresses.joined(separator: ", "))")
                    add("target \(target.name): \(host), resolved now to \(addresses.joined(separator: ", "))", cidrs)
                case .success:
                    self.warnings.append("target \(target.name): \(host) resolved to no address; it is not allowed")
                case .failure(let error):
                    self.warnings.append("target \(target.name): cannot resolve \(host) (\(error)); it is not allowed")
                }
            }
            if !target.allowedNetworks.isEmpty {
                add("target \(target.name): allowed_networks (the cluster's nodes)", target.allowedNetworks)
            } else if target.cluster != .off {
                self.warnings.append(
                    "target \(target.name): cluster \(target.cluster.rawValue) and no allowed_networks: if it is a cluster, nodes "
                        + "at other addresses than \(host)'s are unreachable (connect timeouts); set allowed_networks to the "
                        + "cluster's networks, or cluster: off for a standalone server")
            }
        }
        if usesHostNames {
            let servers = nameServers.compactMap(Self.hostCIDR)
            add("name servers of /etc/resolv.conf: host names are resolved again at every connect", servers)
            if servers.isEmpty && !nameServers.isEmpty {
                self.warnings.append("no usable name server address in /etc/resolv.conf: \(nameServers.joined(separator: ", "))")
            }
        }
        for (index, extra) in extraAllow.enumerated() {
            if let cidr = Self.hostCIDR(extra) ?? (EndpointRules.Network(cidr: extra) != nil ? extra : nil) {
                add("--allow \(extra)", [cidr])
            } else {
                badExtras.append(.init(path: "--allow[\(index)]", message: "\"\(extra)\" is not an IP address or a CIDR"))
            }
        }
        if !badExtras.isEmpty { throw ConfigurationError(file: "", problems: badExtras) }
        if let listen = configuration.metricsListen, !Self.listenIsLoopback(listen), extraAllow.isEmpty {
            self.warnings.append(
                "metrics.listen is \(listen): a Prometheus server on another host cannot scrape it unless its address is "
                    + "allowed too (--allow ADDRESS)")
        }
    }

    /// Every address allowed, in order (what `IPAddressAllow=` lists).
    public var addresses: [String] { self.allows.flatMap(\.addresses) }

    /// The drop-in's text. `command` is how it was generated, for its header.
    public func render(command: String, generatedAt: Date) -> String {
        let timestamp = rfc3339Seconds(generatedAt.timeIntervalSince1970)
        var lines = [
            "# redis-healthd: reach only the addresses the configuration needs (systemd.resource-control(5)).",
            "# Generated by `\(command)` at \(timestamp).",
            "# Install: save as /etc/systemd/system/redis-healthd.service.d/ip-address-allow.conf, then",
            "#   systemctl daemon-reload && systemctl restart redis-healthd",
            "# Packets to any other address are dropped: a connect to it times out (the status names IPAddressAllow=).",
        ]
        if !self.resolved.isEmpty {
            lines.append("# Host names were resolved when this was generated (\(self.resolved.joined(separator: "; "))):")
            lines.append("# when their addresses change, generate the drop-in again.")
        }
        for warning in self.warnings { lines.append("# WARNING: \(warning)") }
        lines.append("[Service]")
        lines.append("IPAddressDeny=any")
        for allow in self.allows {
            lines.append("# \(allow.comment)")
            lines.append("IPAddressAllow=\(allow.addresses.joined(separator: " "))")
        }
        lines.append("# libdispatch's worker threads set their priority with setpriority(2); refused with EPERM they carry on.")
        lines.append("# The unit allows it (SIGSYS otherwise); refusing it here keeps @resources out of the filter.")
        lines.append("SystemCallFilter=~setpriority:EPERM")
        lines.append("# Named in the daemon's connect-timeout errors.")
        lines.append("Environment=\(Self.environmentVariable)=\(self.addresses.joined(separator: ","))")
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: helpers

    /// `10.0.0.5` → `10.0.0.5/32`, `fd00::1` → `fd00::1/128`; nil for a host name.
    static func hostCIDR(_ host: String) -> String? {
        var address = host
        if address.hasPrefix("[") && address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        guard let bytes = ipAddressBytes(address) else { return nil }
        return "\(address)/\(bytes.count * 8)"
    }

    /// 127.0.0.0/8 and ::1 are already covered by `localhost`.
    static func isLoopback(_ cidr: String) -> Bool {
        let address = String(cidr.split(separator: "/").first ?? "")
        guard let bytes = ipAddressBytes(address) else { return false }
        if bytes.count == 4 { return bytes[0] == 127 && (cidr.split(separator: "/").last.flatMap { Int($0) } ?? 32) >= 8 }
        return bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Whether `host:port` listens on loopback only.
    static func listenIsLoopback(_ listen: String) -> Bool {
        guard let colon = listen.lastIndex(of: ":") else { return false }
        let host = String(listen[..<colon])
        return host == "localhost" || Self.hostCIDR(host).map(Self.isLoopback) == true
    }

    /// The `nameserver` lines of a resolv.conf.
    public static func nameServers(resolvConf text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            // A scoped IPv6 address (fe80::1%eth0) cannot be written in IPAddressAllow=: keep the address.
            return String(fields[1].split(separator: "%").first ?? fields[1])
        }
    }

    /// Resolves a host name with getaddrinfo (blocking: call it from a command-line tool, never from the daemon).
    public static func resolve(_ host: String) -> Result<[String], ResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else { return .failure(ResolutionError(String(cString: gai_strerror(status)))) }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var cursor = list
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = entry.pointee.ai_addr,
                getnameinfo(address, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0
            {
                let text = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return .success(addresses)
    }
}
