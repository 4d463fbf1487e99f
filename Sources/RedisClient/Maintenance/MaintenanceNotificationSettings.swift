/// Whether and how a multiplexer asks for maintenance push notifications (`CLIENT MAINT_NOTIFICATIONS ON
/// moving-endpoint-type <type>`, sent after the handshake of every RESP3 interactive connection).
public struct MaintenanceNotificationSettings: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Ask; a refusal (a server without the command) is expected and quiet. [default]
        case auto
        /// Ask; a refusal is a warning.
        case on
        /// Never ask.
        case off
    }

    /// What a MOVING notification names: the node's internal or external address or name, or nothing (reconnect to
    /// the same endpoint).
    public enum EndpointType: String, Sendable, Hashable, CaseIterable {
        case auto
        case internalIP = "internal-ip"
        case internalFQDN = "internal-fqdn"
        case externalIP = "external-ip"
        case externalFQDN = "external-fqdn"
        case none
    }

    public var mode: Mode
    public var endpointType: EndpointType
    /// Probe and command timeouts during a maintenance window are at least this. [10 s]
    public var relaxedTimeout: Duration

    public init(mode: Mode = .auto, endpointType: EndpointType = .auto, relaxedTimeout: Duration = .seconds(10)) {
        self.mode = mode
        self.endpointType = endpointType
        self.relaxedTimeout = relaxedTimeout
    }

    /// The type sent for a connection to `endpoint`: the configured one, or with `auto` a name when TLS is on or the
    /// host is a name (certificates name hosts), else an address; internal for private, loopback and link-local
    /// addresses, external otherwise.
    public func resolvedEndpointType(for endpoint: RedisEndpoint, tls: Bool) -> EndpointType {
        guard self.endpointType == .auto else { return self.endpointType }
        let isInternal = endpoint.hostIsIPAddress ? Self.isPrivateAddress(endpoint.host) : false
        if tls || !endpoint.hostIsIPAddress { return isInternal ? .internalFQDN : .externalFQDN }
        return isInternal ? .internalIP : .externalIP
    }

    static func isPrivateAddress(_ host: String) -> Bool {
        let lower = host.lowercased()
        if lower.contains(":") {
            return lower == "::1" || lower.hasPrefix("fc") || lower.hasPrefix("fd") || lower.hasPrefix("fe80")
        }
        let parts = lower.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return false }
        switch (parts[0], parts[1]) {
        case (10, _), (127, _), (192, 168), (169, 254): return true
        case (172, let second): return (16...31).contains(second)
        case (100, let second): return (64...127).contains(second)
        default: return false
        }
    }
}
