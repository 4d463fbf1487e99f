#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import RedisClient

/// Where a cluster may send clients: `allowed_ports` (ports and ranges) and `allowed_networks` (CIDRs). An
/// empty list means no rule of that kind.
public struct EndpointRules: Sendable, Hashable {
    /// An IPv4 or IPv6 network in CIDR form.
    public struct Network: Sendable, Hashable, CustomStringConvertible {
        public let address: [UInt8]
        public let prefixLength: Int
        public var description: String

        /// Parses `10.0.0.0/8` or `fd00::/8`; nil when it is not a CIDR.
        public init?(cidr: String) {
            let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let bits = Int(parts[1]), let address = ipAddressBytes(String(parts[0])),
                (0...(address.count * 8)).contains(bits)
            else { return nil }
            self.address = address
            self.prefixLength = bits
            self.description = cidr
        }

        /// Whether the address (4 or 16 bytes) lies in this network. IPv4 never matches an IPv6 network.
        public func contains(_ candidate: [UInt8]) -> Bool {
            guard candidate.count == self.address.count else { return false }
            var remaining = self.prefixLength
            for (a, b) in zip(self.address, candidate) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != b & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// One broken rule.
    public struct Violation: Sendable, Hashable, Codable {
        /// `allowed_ports` or `allowed_networks`.
        public var rule: String
        /// e.g. "port 10226 is outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]"
        public var detail: String
        /// The list broken, e.g. "[6379, 6380, 13000-13999, 15000-15999]".
        public var allowed: String
    }

    public var allowedPorts: [ClosedRange<Int>]
    public var allowedNetworks: [Network]

    public init(allowedPorts: [ClosedRange<Int>], allowedNetworks: [Network] = []) {
        self.allowedPorts = allowedPorts
        self.allowedNetworks = allowedNetworks
    }

    /// `[6379, 6380, 13000-13999]`
    public var portsDescription: String {
        "[" + self.allowedPorts.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ", ") + "]"
    }

    /// The rules `port` and `address` break. Pass the address that is (or would be) dialed, never another
    /// address the node announces. The network rule needs an IP address: a host name cannot be shown to be inside
    /// the networks (it may resolve anywhere, and differently later), so it breaks the rule and is not dialed on
    /// trust.
    public func violations(address: String?, port: Int) -> [Violation] {
        var violations: [Violation] = []
        if !self.allowedPorts.isEmpty && !self.allowedPorts.contains(where: { $0.contains(port) }) {
            violations.append(
                Violation(
                    rule: "allowed_ports", detail: "port \(port) is outside allowed_ports \(self.portsDescription)",
                    allowed: self.portsDescription))
        }
        if !self.allowedNetworks.isEmpty {
            let networks = "[\(self.allowedNetworks.map(\.description).joined(separator: ", "))]"
            if let address, let bytes = ipAddressBytes(address) {
                if !self.allowedNetworks.contains(where: { $0.contains(bytes) }) {
                    violations.append(
                        Violation(rule: "allowed_networks", detail: "address \(address) is outside allowed_networks \(networks)", allowed: networks))
                }
            } else {
                violations.append(
                    Violation(
                        rule: "allowed_networks",
                        detail: "host name \(address ?? "?") is not an IP address and cannot be checked against allowed_networks \(networks)",
                        allowed: networks))
            }
        }
        return violations
    }
}

extension EndpointRules {
    /// Why the cluster client must not dial `endpoint`, or nil when it may: the endpoint dialed is the one
    /// judged, whatever IP address the node also announces.
    public func dialRefusal(_ endpoint: RedisEndpoint) -> String? {
        let violations = self.violations(address: endpoint.host, port: endpoint.port)
        return violations.isEmpty ? nil : violations.map(\.detail).joined(separator: "; ")
    }

    /// The rules the configured endpoint itself breaks. Dialing it stays the operator's choice (it is dialed all the
    /// same); check-config warns and status notes it. The network rule is checked only when `host` is an IP address
    /// (a host name is resolved when connecting, not here).
    public func configuredEndpointViolations(host: String, port: Int) -> [Violation] {
        let isAddress = ipAddressBytes(host) != nil
        return self.violations(address: isAddress ? host : nil, port: port).filter { isAddress || $0.rule != "allowed_networks" }
    }
}

extension DaemonConfiguration.Target {
    /// "127.0.0.1:6390: port 6390 is outside allowed_ports [6379, 6380, 13000-13999, 15000-15999]", or nil when the
    /// configured endpoint is inside the allow-lists.
    public var configuredEndpointNote: String? {
        let endpoint = self.multiplexer.connection.endpoint
        let violations = self.endpointRules.configuredEndpointViolations(host: endpoint.host, port: endpoint.port)
        guard !violations.isEmpty else { return nil }
        return "\(endpoint): " + violations.map(\.detail).joined(separator: "; ")
    }
}

/// The bytes of an IPv4 (4) or IPv6 (16) literal; nil for anything else (host names included).
func ipAddressBytes(_ text: String) -> [UInt8]? {
    var host = text
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host.contains(":") {
        var address = in6_addr()
        guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
    var address = in_addr()
    guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
    return withUnsafeBytes(of: &address) { Array($0) }
}
