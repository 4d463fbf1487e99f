import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A network namespace joined to this one by a veth pair, for faults that need a real network path:
/// black-holing traffic with iptables so the client sees silence, not a reset.
///
/// Addresses are link-local (169.254.77.0/30) and exist only on this pair; nothing leaves the machine.
/// Always destroy it: ``withNetworkNamespace(_:)`` does.
public final class NetworkNamespace: Sendable {
    public let name: String
    private let hostInterface: String
    /// The host side's address.
    public let hostAddress = "169.254.77.1"
    /// The namespace side's address: servers inside bind here.
    public let address = "169.254.77.2"

    /// Why namespaces cannot be used here, or nil when they can (root, `ip` and `iptables` present).
    public static var unavailableReason: String? {
        if getuid() != 0 { return "network namespaces need root" }
        guard (try? which("ip")) != nil else { return "the ip command (iproute2) is missing" }
        guard (try? which("iptables")) != nil else { return "the iptables command is missing" }
        return nil
    }

    private init(suffix: String) {
        self.name = "rh-\(suffix)"
        self.hostInterface = "rhh\(suffix.prefix(8))"
    }

    /// Creates the namespace and the veth pair, both ends up and addressed.
    public static func create() async throws -> NetworkNamespace {
        let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        let namespace = NetworkNamespace(suffix: suffix)
        let peer = "rhn\(suffix.prefix(8))"
        let ip = try which("ip")
        try await run(ip, ["netns", "add", namespace.name])
        do {
            try await run(ip, ["link", "add", namespace.hostInterface, "type", "veth", "peer", "name", peer])
            try await run(ip, ["link", "set", peer, "netns", namespace.name])
            try await run(ip, ["addr", "add", "\(namespace.hostAddress)/30", "dev", namespace.hostInterface])
            try await run(ip, ["link", "set", namespace.hostInterface, "up"])
            try await namespace.exec(ip, ["addr", "add", "\(namespace.address)/30", "dev", peer])
            try await namespace.exec(ip, ["link", "set", peer, "up"])
            try await namespace.exec(ip, ["link", "set", "lo", "up"])
        } catch {
            await namespace.destroy()
            throw error
        }
        return namespace
    }

    /// Runs a command inside the namespace.
    @discardableResult
    public func exec(_ executable: String, _ arguments: [String]) async throws -> String {
        try await run(try which("ip"), ["netns", "exec", self.name, executable] + arguments)
    }

    /// Drops every packet to `port` inside the namespace: connections go silent (no RST, no FIN).
    public func blackHole(port: Int) async throws {
        try await self.exec(try which("iptables"), ["-I", "INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
    }

    /// Undoes ``blackHole(port:)``.
    public func restore(port: Int) async throws {
        try await self.exec(try which("iptables"), ["-D", "INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
    }

    /// Removes the veth pair and the namespace.
    public func destroy() async {
        guard let ip = try? which("ip") else { return }
        _ = try? await run(ip, ["link", "del", self.hostInterface])
        _ = try? await run(ip, ["netns", "del", self.name])
    }
}

/// Creates a namespace, runs `body`, and always destroys the namespace.
public func withNetworkNamespace<T>(_ body: (NetworkNamespace) async throws -> T) async throws -> T {
    let namespace = try await NetworkNamespace.create()
    do {
        let result = try await body(namespace)
        await namespace.destroy()
        return result
    } catch {
        await namespace.destroy()
        throw error
    }
}
