import RESP

/// One node of a cluster as it announces itself.
public struct ClusterNode: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable {
        case primary, replica
    }

    /// The node's 40-character id.
    public var id: String
    /// Where clients are told to connect: the preferred endpoint (`cluster-preferred-endpoint-type`), else the
    /// IP, else the host the reply came from.
    public var host: String
    /// The announced IP address.
    public var ip: String?
    /// The announced host name, when the node has one.
    public var hostname: String?
    /// The announced plain-TCP port, when the node serves one.
    public var port: Int?
    /// The announced TLS port, when the node serves TLS.
    public var tlsPort: Int?
    public var role: Role
    /// `online`, `fail`/`failed`, `loading` (CLUSTER SHARDS only).
    public var health: String?
    /// The slots a primary serves (empty for replicas).
    public var slots: [ClosedRange<Int>]

    public init(
        id: String, host: String, ip: String? = nil, hostname: String? = nil, port: Int?, tlsPort: Int? = nil,
        role: Role, health: String? = nil, slots: [ClosedRange<Int>] = []
    ) {
        self.id = id
        self.host = host
        self.ip = ip
        self.hostname = hostname
        self.port = port
        self.tlsPort = tlsPort
        self.role = role
        self.health = health
        self.slots = slots
    }

    /// Where a client connects: the TLS port over TLS, the plain port otherwise (each falling back to the other).
    public func endpoint(tls: Bool) -> RedisEndpoint? {
        guard let port = tls ? (self.tlsPort ?? self.port) : (self.port ?? self.tlsPort) else { return nil }
        return RedisEndpoint(host: self.host, port: port)
    }

    /// Every endpoint the node announces (plain and TLS).
    public var announcedEndpoints: [RedisEndpoint] {
        [self.port, self.tlsPort].compactMap { $0 }.map { RedisEndpoint(host: self.host, port: $0) }
    }

    /// `host:port` and the TLS port when it has one: `10.0.0.5:6379 (tls 6380)`.
    public var announced: String {
        switch (self.port, self.tlsPort) {
        case (let port?, let tlsPort?): "\(RedisEndpoint(host: self.host, port: port)) (tls \(tlsPort))"
        case (let port?, nil): RedisEndpoint(host: self.host, port: port).description
        case (nil, let tlsPort?): "\(RedisEndpoint(host: self.host, port: tlsPort)) (tls)"
        case (nil, nil): "\(self.host) (no port)"
        }
    }

    /// Whether the cluster marked the node failed (`fail` in Redis 7.0, `failed` in the documentation and later).
    public var isFailed: Bool { Self.isFailed(health: self.health) }

    static func isFailed(health: String?) -> Bool { health == "fail" || health == "failed" }

    /// The first 8 characters of the id, as operators quote them.
    public var shortID: String { String(self.id.prefix(8)) }
}

/// A cluster's nodes and slot ownership as one node reported them.
public struct ClusterTopology: Sendable, Hashable, Codable {
    /// Primaries first, then replicas, each by id.
    public var nodes: [ClusterNode]

    public init(nodes: [ClusterNode]) {
        self.nodes = nodes.sorted { ($0.role == .primary ? 0 : 1, $0.id) < ($1.role == .primary ? 0 : 1, $1.id) }
    }

    public var primaries: [ClusterNode] { self.nodes.filter { $0.role == .primary } }

    public func node(id: String) -> ClusterNode? { self.nodes.first { $0.id == id } }

    /// The id of the primary serving each slot (nil: not covered).
    public func slotOwners() -> [String?] {
        var owners = [String?](repeating: nil, count: HashSlot.count)
        for node in self.nodes where node.role == .primary {
            for range in node.slots where range.lowerBound >= 0 && range.upperBound < HashSlot.count {
                for slot in range { owners[slot] = node.id }
            }
        }
        return owners
    }

    /// Slots no primary serves.
    public var uncoveredSlots: Int { self.slotOwners().lazy.filter { $0 == nil }.count }

    // MARK: parsing

    /// Parses a `CLUSTER SHARDS` reply (Redis 7+; maps in RESP3, flat key/value arrays in RESP2).
    /// - Parameter replyHost: the host the reply came from, for nodes that announce no address.
    public static func parseShards(_ reply: RESPValue, replyHost: String) throws(RedisClientError) -> ClusterTopology {
        guard let shards = reply.withoutAttributes.elements else {
            throw malformed("CLUSTER SHARDS", "expected an array of shards, got \(reply.typeName)")
        }
        var nodes: [ClusterNode] = []
        for (index, shard) in shards.enumerated() {
            let fields = try dictionary(shard, what: "shard \(index)")
            var slots: [ClosedRange<Int>] = []
            let bounds = fields["slots"]?.elements ?? []
            guard bounds.count % 2 == 0 else { throw malformed("CLUSTER SHARDS", "shard \(index) has an odd slot list") }
            for pair in stride(from: 0, to: bounds.count, by: 2) {
                guard let low = bounds[pair].int, let high = bounds[pair + 1].int, 0 <= low, low <= high,
                    high < HashSlot.count
                else { throw malformed("CLUSTER SHARDS", "shard \(index) has an invalid slot range") }
                slots.append(Int(low)...Int(high))
            }
            for (nodeIndex, nodeValue) in (fields["nodes"]?.elements ?? []).enumerated() {
                let node = try dictionary(nodeValue, what: "shard \(index) node \(nodeIndex)")
                guard let id = node["id"]?.string, !id.isEmpty else {
                    throw malformed("CLUSTER SHARDS", "shard \(index) node \(nodeIndex) has no id")
                }
                let role: ClusterNode.Role = node["role"]?.string == "master" || node["role"]?.string == "primary" ? .primary : .replica
                let ip = node["ip"]?.string.flatMap(usable)
                let hostname = node["hostname"]?.string.flatMap(usable)
                let endpoint = node["endpoint"]?.string.flatMap(usable)
                nodes.append(
                    ClusterNode(
                        id: id, host: endpoint ?? ip ?? replyHost, ip: ip, hostname: hostname,
                        port: node["port"]?.int.map(Int.init).flatMap(validPort),
                        tlsPort: node["tls-port"]?.int.map(Int.init).flatMap(validPort), role: role,
                        // A failed primary keeps role master until it is forgotten; its replacement serves the slots.
                        health: node["health"]?.string,
                        slots: role == .primary && !ClusterNode.isFailed(health: node["health"]?.string) ? slots : []))
            }
        }
        return ClusterTopology(nodes: nodes)
    }

    /// Parses a `CLUSTER SLOTS` reply: `[start, end, [host, port, id, …], replicas…]` per range.
    /// - Parameter tls: whether the reply's ports are TLS ports (the connection it came on used TLS).
    public static func parseSlots(_ reply: RESPValue, replyHost: String, tls: Bool) throws(RedisClientError) -> ClusterTopology {
        guard let ranges = reply.withoutAttributes.elements else {
            throw malformed("CLUSTER SLOTS", "expected an array of slot ranges, got \(reply.typeName)")
        }
        var byID: [String: ClusterNode] = [:]
        var order: [String] = []
        for (index, range) in ranges.enumerated() {
            guard let items = range.elements, items.count >= 3, let low = items[0].int, let high = items[1].int,
                0 <= low, low <= high, high < HashSlot.count
            else { throw malformed("CLUSTER SLOTS", "range \(index) is not [start, end, node, …]") }
            for (position, nodeValue) in items[2...].enumerated() {
                guard let node = nodeValue.elements, node.count >= 3, let port = node[1].int.map(Int.init).flatMap(validPort),
                    let id = node[2].string
                else { throw malformed("CLUSTER SLOTS", "range \(index) has a malformed node") }
                let ip = node[0].string.flatMap(usable)
                if byID[id] == nil {
                    order.append(id)
                    byID[id] = ClusterNode(
                        id: id, host: ip ?? replyHost, ip: ip, port: tls ? nil : port, tlsPort: tls ? port : nil,
                        role: position == 0 ? .primary : .replica)
                }
                if position == 0 { byID[id]?.slots.append(Int(low)...Int(high)) }
            }
        }
        return ClusterTopology(nodes: order.compactMap { byID[$0] })
    }
}

extension ClusterTopology {
    /// Parses a `CLUSTER NODES` reply: one line per node,
    /// `<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>…`.
    /// Nodes in handshake or without an address are left out; slots being migrated (`[…]`) are not counted.
    /// - Parameter tls: whether the reply's ports are TLS ports (the connection it came on used TLS).
    public static func parseNodes(_ reply: RESPValue, replyHost: String, tls: Bool) throws(RedisClientError) -> ClusterTopology {
        guard let text = reply.withoutAttributes.string else {
            throw malformed("CLUSTER NODES", "expected a text reply, got \(reply.typeName)")
        }
        var nodes: [ClusterNode] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.isEmpty {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8 else { throw malformed("CLUSTER NODES", "line \(index + 1) has \(fields.count) fields, expected 8 or more") }
            let flags = Set(fields[2].split(separator: ","))
            if flags.contains("handshake") || flags.contains("noaddr") { continue }
            // 10.0.0.5:6379@16379,redis-1.example
            // Empty pieces kept: a field of just "," or "@" must not leave nothing to index.
            let addressAndHost = fields[1].split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
            let address = addressAndHost[0].split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]).flatMap(validPort)
            else { throw malformed("CLUSTER NODES", "line \(index + 1) has no ip:port") }
            let ip = usable(String(address[..<colon]))
            let hostname = addressAndHost.count > 1 ? usable(String(addressAndHost[1])) : nil
            let role: ClusterNode.Role = flags.contains("master") ? .primary : .replica
            let failed = flags.contains("fail")
            var slots: [ClosedRange<Int>] = []
            if role == .primary && !failed {
                for field in fields.dropFirst(8) where !field.hasPrefix("[") {
                    let bounds = field.split(separator: "-").map { Int($0) }
                    guard let low = bounds.first ?? nil, let high = bounds.last ?? nil, bounds.count <= 2, 0 <= low, low <= high,
                        high < HashSlot.count
                    else { throw malformed("CLUSTER NODES", "line \(index + 1) has an invalid slot range") }
                    slots.append(low...high)
                }
            }
            nodes.append(
                ClusterNode(
                    id: String(fields[0]), host: ip ?? replyHost, ip: ip, hostname: hostname, port: tls ? nil : port,
                    tlsPort: tls ? port : nil, role: role, health: failed ? "fail" : "online", slots: slots))
        }
        return ClusterTopology(nodes: nodes)
    }
}

/// "?" and "" mean "unknown" in CLUSTER SHARDS/SLOTS.
private func usable(_ text: String) -> String? {
    text.isEmpty || text == "?" ? nil : text
}

private func validPort(_ port: Int) -> Int? {
    (1...65535).contains(port) ? port : nil
}

private func malformed(_ command: String, _ detail: String) -> RedisClientError {
    RedisClientError(.clusterTopology, command: command, message: "malformed reply: \(detail)")
}

/// A RESP3 map or a RESP2 flat `[key, value, …]` array as a dictionary.
private func dictionary(_ value: RESPValue, what: String) throws(RedisClientError) -> [String: RESPValue] {
    guard let entries = value.mapEntries else {
        if case .array = value.withoutAttributes { throw malformed("CLUSTER SHARDS", "\(what) has an odd number of fields") }
        throw malformed("CLUSTER SHARDS", "\(what) is a \(value.typeName), not a map")
    }
    var result: [String: RESPValue] = [:]
    for entry in entries {
        if let key = entry.key.string { result[key] = entry.value }
    }
    return result
}
