import Foundation
import NIOCore
import RESP

/// One node as a ``FakeRedisServer`` announces it in CLUSTER SHARDS, SLOTS and NODES.
///
/// Nothing is validated: ports may be 0 or 70000, ids and endpoints may hold control characters, slots may lie
/// outside 0…16383, a replica may name a primary that does not exist. That is the point.
public struct FakeClusterNode: Sendable, Hashable {
    public enum Role: Sendable, Hashable {
        case primary
        case replica

        /// As CLUSTER SHARDS spells it.
        var shardsName: String { self == .primary ? "master" : "replica" }
        /// As CLUSTER NODES spells it.
        var nodesFlag: String { self == .primary ? "master" : "slave" }
    }

    /// The node id (real ones are 40 hex characters: ``FakeClusterTopology/nodeID(_:)``).
    public var id: String
    /// The announced IP address (`ip` in SHARDS).
    public var ip: String
    /// The preferred endpoint (`endpoint` in SHARDS, the first element of a SLOTS node); nil: the ip.
    public var endpoint: String?
    /// The announced host name (`hostname` in SHARDS, `,hostname` in NODES, metadata in SLOTS); nil: none.
    public var hostname: String?
    /// The plain-TCP port; nil: not announced (SHARDS omits `port`; SLOTS and NODES fall back to `tlsPort`).
    public var port: Int?
    /// The TLS port; nil: not announced.
    public var tlsPort: Int?
    /// The cluster bus port in NODES; nil: port + 10000.
    public var busPort: Int?
    public var role: Role
    /// A replica's primary: it is listed in that primary's shard, and NODES names it.
    public var primaryID: String?
    /// `online`, `failed`, `fail`, `loading` (SHARDS); `fail`/`failed` also set the `fail` flag in NODES.
    public var health: String
    /// A primary's slots (a replica's are ignored: its shard's primary has them).
    public var slots: [ClosedRange<Int>]
    /// `replication-offset` in SHARDS.
    public var replicationOffset: Int
    /// Extra NODES flags (`handshake`, `noaddr`, `pfail`, …).
    public var extraFlags: [String]

    public init(
        id: String, ip: String = "127.0.0.1", endpoint: String? = nil, hostname: String? = nil, port: Int?,
        tlsPort: Int? = nil, busPort: Int? = nil, role: Role = .primary, primaryID: String? = nil,
        health: String = "online", slots: [ClosedRange<Int>] = [], replicationOffset: Int = 0, extraFlags: [String] = []
    ) {
        self.id = id
        self.ip = ip
        self.endpoint = endpoint
        self.hostname = hostname
        self.port = port
        self.tlsPort = tlsPort
        self.busPort = busPort
        self.role = role
        self.primaryID = primaryID
        self.health = health
        self.slots = slots
        self.replicationOffset = replicationOffset
        self.extraFlags = extraFlags
    }

    /// The endpoint clients are told to dial: `endpoint`, else `ip`.
    public var preferredEndpoint: String { self.endpoint ?? self.ip }

    /// The port SLOTS and NODES announce: the plain port, else the TLS port, else 0.
    public var announcedPort: Int { self.port ?? self.tlsPort ?? 0 }

    var isFailed: Bool { self.health == "fail" || self.health == "failed" }
}

/// A cluster as a ``FakeRedisServer`` announces it: any nodes, any slots, any endpoints.
///
/// Builds the replies of CLUSTER SHARDS (RESP3 maps, or RESP2 flat arrays), CLUSTER SLOTS, CLUSTER NODES and
/// CLUSTER INFO in the shapes Redis 7.0 sends.
public struct FakeClusterTopology: Sendable, Hashable {
    public var nodes: [FakeClusterNode]
    /// The node that answers (`myself` in NODES, CLUSTER MYID); nil: the first node.
    public var myselfID: String?

    public init(nodes: [FakeClusterNode], myselfID: String? = nil) {
        self.nodes = nodes
        self.myselfID = myselfID
    }

    /// A 40-hex-character node id made from `index` (`0000…0001` for 1).
    public static func nodeID(_ index: Int) -> String {
        let hex = String(index, radix: 16)
        return String(repeating: "0", count: max(0, 40 - hex.count)) + hex
    }

    /// `count` primaries on `host`, ports `basePort`, `basePort + 1`, …, the 16,384 slots split evenly (with
    /// more than 16,384 primaries the last ones serve none). Ids are ``nodeID(_:)`` of 1, 2, ….
    public static func primaries(_ count: Int, host: String = "127.0.0.1", basePort: Int = 7000) -> FakeClusterTopology
    {
        let nodes = (0..<count).map { index in
            let low = index * 16384 / count
            let high = (index + 1) * 16384 / count - 1
            return FakeClusterNode(
                id: nodeID(index + 1), ip: host, port: basePort + index, slots: low <= high ? [low...high] : [])
        }
        return FakeClusterTopology(nodes: nodes)
    }

    /// The answering node's id.
    public var myself: String? { self.myselfID ?? self.nodes.first?.id }

    /// Shards: each primary with the replicas that name it, in node order; replicas of unknown primaries form
    /// shards of their own (without slots).
    public var shards: [[FakeClusterNode]] {
        var result: [[FakeClusterNode]] = []
        let primaryIDs = Set(self.nodes.filter { $0.role == .primary }.map(\.id))
        for node in self.nodes where node.role == .primary {
            result.append([node] + self.nodes.filter { $0.role == .replica && $0.primaryID == node.id })
        }
        for node in self.nodes where node.role == .replica && !primaryIDs.contains(node.primaryID ?? "") {
            result.append([node])
        }
        return result
    }

    // MARK: replies

    /// CLUSTER SHARDS: an array of shards, each `slots` (flat `[start, end, …]` integers) and `nodes` (one map
    /// per node: id, port, tls-port, ip, endpoint, hostname, role, replication-offset, health; absent optional
    /// fields are left out, as Redis does). `resp2`: flat `[key, value, …]` arrays instead of maps.
    public func shardsReply(resp2: Bool = false) -> RESPValue {
        func map(_ pairs: [(String, RESPValue)]) -> RESPValue {
            resp2
                ? .array(pairs.flatMap { [RESPValue.bulkString($0.0), $0.1] })
                : .map(pairs.map { RESPMapEntry(key: .bulkString($0.0), value: $0.1) })
        }
        return .array(
            self.shards.map { shard in
                let primary = shard[0].role == .primary ? shard[0] : nil
                let slots = (primary?.slots ?? []).flatMap {
                    [RESPValue.integer(Int64($0.lowerBound)), .integer(Int64($0.upperBound))]
                }
                let nodes = shard.map { node in
                    var fields: [(String, RESPValue)] = [("id", .bulkString(node.id))]
                    if let port = node.port { fields.append(("port", .integer(Int64(port)))) }
                    if let tlsPort = node.tlsPort { fields.append(("tls-port", .integer(Int64(tlsPort)))) }
                    fields.append(("ip", .bulkString(node.ip)))
                    fields.append(("endpoint", .bulkString(node.preferredEndpoint)))
                    if let hostname = node.hostname { fields.append(("hostname", .bulkString(hostname))) }
                    fields.append(("role", .bulkString(node.role.shardsName)))
                    fields.append(("replication-offset", .integer(Int64(node.replicationOffset))))
                    fields.append(("health", .bulkString(node.health)))
                    return map(fields)
                }
                return map([("slots", .array(slots)), ("nodes", .array(nodes))])
            })
    }

    /// CLUSTER SLOTS: `[start, end, [endpoint, port, id, {hostname}], replica…]` per slot range of each primary.
    /// `resp2`: the metadata map as a flat array.
    public func slotsReply(resp2: Bool = false) -> RESPValue {
        func describe(_ node: FakeClusterNode) -> RESPValue {
            let metadata: [(String, RESPValue)] = node.hostname.map { [("hostname", RESPValue.bulkString($0))] } ?? []
            let metadataValue: RESPValue =
                resp2
                ? .array(metadata.flatMap { [RESPValue.bulkString($0.0), $0.1] })
                : .map(metadata.map { RESPMapEntry(key: .bulkString($0.0), value: $0.1) })
            return .array([
                .bulkString(node.preferredEndpoint), .integer(Int64(node.announcedPort)), .bulkString(node.id),
                metadataValue,
            ])
        }
        var ranges: [RESPValue] = []
        for shard in self.shards {
            guard shard[0].role == .primary else { continue }
            for range in shard[0].slots {
                ranges.append(
                    .array(
                        [.integer(Int64(range.lowerBound)), .integer(Int64(range.upperBound))] + shard.map(describe)))
            }
        }
        return .array(ranges)
    }

    /// CLUSTER NODES text: `<id> <ip:port@cport[,hostname]> <flags> <primary> 0 <pong> <epoch> <link> <slots>…`,
    /// one line per node, each ending in `\n`.
    public func nodesText() -> String {
        let myself = self.myself
        return self.nodes.enumerated().map { index, node in
            var flags = (node.id == myself ? ["myself"] : []) + [node.role.nodesFlag]
            if node.isFailed { flags.append("fail") }
            flags += node.extraFlags
            var address = "\(node.ip):\(node.announcedPort)@\(node.busPort ?? node.announcedPort + 10000)"
            if let hostname = node.hostname { address += ",\(hostname)" }
            let primary = node.role == .replica ? (node.primaryID ?? "-") : "-"
            let link = node.isFailed ? "disconnected" : "connected"
            let slots =
                node.role == .primary
                ? node.slots.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" } : []
            let fields =
                [node.id, address, flags.joined(separator: ","), primary, "0", "1700000000000", "\(index + 1)", link]
                + slots
            return fields.joined(separator: " ") + "\n"
        }.joined()
    }

    /// CLUSTER INFO text: state ok when every slot is served, counts of slots and nodes.
    public func infoText() -> String {
        var covered = Set<Int>()
        for node in self.nodes where node.role == .primary && !node.isFailed {
            for range in node.slots where range.lowerBound >= 0 && range.upperBound < 16384 { covered.formUnion(range) }
        }
        let primaries = self.nodes.filter { $0.role == .primary && !$0.slots.isEmpty }.count
        return [
            "cluster_state:\(covered.count == 16384 ? "ok" : "fail")", "cluster_slots_assigned:\(covered.count)",
            "cluster_slots_ok:\(covered.count)", "cluster_slots_pfail:0", "cluster_slots_fail:0",
            "cluster_known_nodes:\(self.nodes.count)", "cluster_size:\(primaries)",
            "cluster_current_epoch:\(self.nodes.count)",
            "cluster_my_epoch:1",
        ].joined(separator: "\r\n") + "\r\n"
    }
}
