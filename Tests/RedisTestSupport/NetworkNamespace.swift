import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace joined to this one by a veth pair, for faults that need a real network path:
/// black-holing traffic with iptables so the client sees silence, not a reset.
///
/// Addresses are link-local (169.254.77.0/30) and exist only on this pair; nothing leaves the machine.
public final class NetworkNamespace: @unchecked Sendable {
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

    public init() throws {
        let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        self.name = "rh-\(suffix)"
        self.hostInterface = "rhh\(suffix.prefix(8))"
        let peer = "rhn\(suffix.prefix(8))"
        let ip = try which("ip")
        try run(ip, ["netns", "add", self.name])
        do {
            try run(ip, ["link", "add", self.hostInterface, "type", "veth", "peer", "name", peer])
            try run(ip, ["link", "set", peer, "netns", self.name])
            try run(ip, ["addr", "add", "\(self.hostAddress)/30", "dev", self.hostInterface])
            try run(ip, ["link", "set", self.hostInterface, "up"])
            try self.exec(ip, ["addr", "add", "\(self.address)/30", "dev", peer])
            try self.exec(ip, ["link", "set", peer, "up"])
            try self.exec(ip, ["link", "set", "lo", "up"])
        } catch {
            self.destroy()
            throw error
        }
    }

    /// Runs a command inside the namespace.
    @discardableResult
    public func exec(_ executable: String, _ arguments: [String]) throws -> String {
        try run(try which("ip"), ["netns", "exec", self.name, executable] + arguments)
    }

    /// Drops every packet to `port` inside the namespace: connections go silent (no RST, no FIN).
    public func blackHole(port: Int) throws {
        try self.exec(try which("iptables"), ["-I", "INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
    }

    /// Undoes ``blackHole(port:)``.
    public func restore(port: Int) throws {
        try self.exec(try which("iptables"), ["-D", "INPUT", "-p", "tcp", "--dport", "\(port)", "-j", "DROP"])
    }

    public func destroy() {
        guard let ip = try? which("ip") else { return }
        _ = try? run(ip, ["link", "del", self.hostInterface])
        _ = try? run(ip, ["netns", "del", self.name])
    }
}
