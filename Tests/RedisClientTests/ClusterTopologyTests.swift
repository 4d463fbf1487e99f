import NIOCore
import RESP
import Testing

@testable import RedisClient

private func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

/// A CLUSTER SHARDS node, as a RESP3 map or a RESP2 flat array.
private func shardNode(_ fields: [(String, RESPValue)], resp3: Bool) -> RESPValue {
    resp3
        ? .map(fields.map { RESPMapEntry(key: bulk($0.0), value: $0.1) })
        : .array(fields.flatMap { [bulk($0.0), $0.1] })
}

private func shards(resp3: Bool, port2: Int = 7001) -> RESPValue {
    func node(_ id: String, _ ip: String, _ port: Int, _ role: String) -> RESPValue {
        shardNode(
            [("id", bulk(id)), ("port", .integer(Int64(port))), ("ip", bulk(ip)), ("endpoint", bulk(ip)),
             ("role", bulk(role)), ("replication-offset", .integer(42)), ("health", bulk("online"))], resp3: resp3)
    }
    func shard(_ slots: [Int64], _ nodes: [RESPValue]) -> RESPValue {
        shardNode([("slots", .array(slots.map { .integer($0) })), ("nodes", .array(nodes))], resp3: resp3)
    }
    return .array([
        shard([0, 5460], [node("a" + String(repeating: "1", count: 39), "10.0.0.1", 7000, "master"),
                          node("d" + String(repeating: "4", count: 39), "10.0.0.4", 7003, "replica")]),
        shard([5461, 10922], [node("b" + String(repeating: "2", count: 39), "10.0.0.2", port2, "master")]),
        shard([10923, 16000, 16001, 16383], [node("c" + String(repeating: "3", count: 39), "10.0.0.3", 7002, "master")]),
    ])
}

@Suite("Cluster: hash slots, topology parsing, diffs, redirections, refresh schedule")
struct ClusterTopologyTests {
    @Test("hash slots match Redis (CRC16 XMODEM, hash tags)")
    func hashSlots() {
        #expect(HashSlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        #expect(HashSlot.slot(for: "foo") == 12182)
        #expect(HashSlot.slot(for: "bar") == 5061)
        #expect(HashSlot.slot(for: "{user1000}.following") == HashSlot.slot(for: "{user1000}.followers"))
        #expect(HashSlot.slot(for: "{user1000}.following") == HashSlot.slot(for: "user1000"))
        // An empty tag hashes the whole key.
        #expect(HashSlot.slot(for: "foo{}{bar}") == Int(HashSlot.crc16(Array("foo{}{bar}".utf8)[...]) % 16384))
        #expect(HashSlot.slot(for: "") == 0)
    }

    @Test("CLUSTER SHARDS parses the same in RESP2 and RESP3", arguments: [false, true])
    func parseShards(resp3: Bool) throws {
        let topology = try ClusterTopology.parseShards(shards(resp3: resp3), replyHost: "seed")
        #expect(topology.nodes.count == 4)
        #expect(topology.primaries.map(\.port) == [7000, 7001, 7002])
        let replica = try #require(topology.nodes.last)
        #expect(replica.role == .replica && replica.slots.isEmpty && replica.host == "10.0.0.4")
        #expect(topology.primaries[2].slots == [10923...16000, 16001...16383])
        #expect(topology.uncoveredSlots == 0)
        #expect(topology.primaries[0].endpoint(tls: false) == RedisEndpoint(host: "10.0.0.1", port: 7000))
        #expect(topology.primaries[0].health == "online")
    }

    @Test("a failed primary (still role master) serves no slots: its replacement does")
    func failedPrimary() throws {
        func node(_ id: String, _ port: Int64, _ health: String) -> RESPValue {
            shardNode([("id", bulk(id)), ("port", .integer(port)), ("ip", bulk("10.0.0.1")), ("role", bulk("master")), ("health", bulk(health))], resp3: true)
        }
        let reply: RESPValue = .array([
            shardNode([("slots", .array([.integer(0), .integer(16383)])), ("nodes", .array([node("old", 7000, "fail"), node("new", 7001, "online"), node("older", 7002, "failed")]))], resp3: true)
        ])
        let topology = try ClusterTopology.parseShards(reply, replyHost: "h")
        #expect(topology.node(id: "old")?.slots == [] && topology.node(id: "new")?.slots == [0...16383])
        #expect(topology.node(id: "older")?.slots == [] && topology.node(id: "older")?.isFailed == true)
        #expect(Set(topology.slotOwners()) == ["new"])
    }

    @Test("CLUSTER NODES parses (as Redis 7.0 prints it): roles, slots, failed primaries, host names, handshakes left out")
    func parseNodes() throws {
        let text = """
            bdc80bee9f8d0b188df1b850ed5deff9d7df644f 127.0.0.1:7101@17101 myself,master - 0 1795391768000 1 connected 0-5460
            cb762372175b8d7e93b7ee02065f5cd077ae5f50 127.0.0.1:7103@17103 master,fail - 1795391749542 1795391747531 3 disconnected 10923-16383
            aec584024d1cf5d2cbecb717b947ba3ef4e9581a 10.0.0.2:7102@17102,redis-2.example master - 0 1795391768653 2 connected 5461-10921 10922 [10922->-bdc80bee9f8d0b188df1b850ed5deff9d7df644f]
            r1r1r1r1r1 10.0.0.9:7109@17109 slave aec584024d1cf5d2cbecb717b947ba3ef4e9581a 0 1795391768653 2 connected
            h1h1h1h1h1 :0@0 master,noaddr - 0 0 0 disconnected
            """
        let topology = try ClusterTopology.parseNodes(.bulkString(ByteBuffer(string: text)), replyHost: "seed", tls: false)
        #expect(topology.nodes.map(\.id).sorted() == ["aec584024d1cf5d2cbecb717b947ba3ef4e9581a", "bdc80bee9f8d0b188df1b850ed5deff9d7df644f",
                                                         "cb762372175b8d7e93b7ee02065f5cd077ae5f50", "r1r1r1r1r1"])
        let second = try #require(topology.node(id: "aec584024d1cf5d2cbecb717b947ba3ef4e9581a"))
        #expect(second.slots == [5461...10921, 10922...10922] && second.hostname == "redis-2.example" && second.port == 7102)
        #expect(topology.node(id: "cb762372175b8d7e93b7ee02065f5cd077ae5f50")?.isFailed == true)
        #expect(topology.node(id: "cb762372175b8d7e93b7ee02065f5cd077ae5f50")?.slots == [])
        #expect(topology.node(id: "r1r1r1r1r1")?.role == .replica)
        #expect(topology.uncoveredSlots == 16384 - 10923)
        #expect(throws: RedisClientError.self) { try ClusterTopology.parseNodes(.bulkString(ByteBuffer(string: "id 1.2.3.4 master")), replyHost: "h", tls: false) }
        #expect(throws: RedisClientError.self) { try ClusterTopology.parseNodes(.integer(1), replyHost: "h", tls: false) }
        #expect(throws: RedisClientError.self) {
            try ClusterTopology.parseNodes(.bulkString(ByteBuffer(string: "a 1.2.3.4:1@2 master - 0 0 1 connected 9-x")), replyHost: "h", tls: false)
        }
    }

    @Test("CLUSTER SLOTS parses, an empty host meaning the host asked")
    func parseSlots() throws {
        let reply: RESPValue = .array([
            .array([.integer(0), .integer(8191), .array([bulk(""), .integer(7000), bulk("n1")]), .array([bulk("10.0.0.9"), .integer(7009), bulk("r1")])]),
            .array([.integer(8192), .integer(16383), .array([bulk("10.0.0.2"), .integer(7001), bulk("n2"), .array([])])]),
        ])
        let topology = try ClusterTopology.parseSlots(reply, replyHost: "seed.example", tls: true)
        #expect(topology.primaries.map(\.host) == ["seed.example", "10.0.0.2"])
        #expect(topology.primaries[0].tlsPort == 7000 && topology.primaries[0].port == nil)
        #expect(topology.node(id: "r1")?.role == .replica)
        #expect(topology.uncoveredSlots == 0)
    }

    @Test("malformed topology replies are clear errors, never crashes", arguments: [
        RESPValue.integer(3),
        .array([.integer(1)]),
        .array([.array([bulk("slots"), .array([.integer(0)]), bulk("nodes"), .array([])])]),
        .array([.array([bulk("slots"), .array([.integer(5), .integer(99999)]), bulk("nodes"), .array([])])]),
        .array([.array([bulk("nodes"), .array([.array([bulk("port"), .integer(1)])])])]),
        .array([.array([bulk("odd")])]),
    ])
    func malformedShards(reply: RESPValue) {
        #expect(throws: RedisClientError.self) { try ClusterTopology.parseShards(reply, replyHost: "h") }
        #expect(throws: RedisClientError.self) { try ClusterTopology.parseSlots(reply, replyHost: "h", tls: false) }
    }

    @Test("diff: endpoint changed, node added and removed, role, slots moved")
    func diff() throws {
        let before = try ClusterTopology.parseShards(shards(resp3: true), replyHost: "h")
        var after = try ClusterTopology.parseShards(shards(resp3: true, port2: 10226), replyHost: "h")
        #expect(TopologyChange.diff(from: before, to: before).isEmpty)
        let changes = TopologyChange.diff(from: before, to: after)
        #expect(changes.count == 1)
        #expect(changes.first?.kind == .endpointChanged)
        #expect(changes.first?.description == "node b2222222 endpoint 10.0.0.2:7001 -> 10.0.0.2:10226")

        // Slots 0-99 move from a… to c…, the replica is promoted, a node joins.
        after.nodes[0].slots = [100...5460]
        after.nodes[2].slots.insert(0...99, at: 0)
        after.nodes[3].role = .primary
        after.nodes.append(ClusterNode(id: "e5555555", host: "10.0.0.5", port: 7004, role: .primary))
        let more = TopologyChange.diff(from: before, to: after)
        #expect(more.contains { $0.kind == .slotsMoved && $0.slots == "0-99" && $0.from == "a1111111" && $0.to == "c3333333" })
        #expect(more.contains { $0.kind == .roleChanged && $0.from == "replica" && $0.to == "primary" })
        #expect(more.contains { $0.kind == .nodeAdded && $0.nodeID == "e5555555" })
        let removed = TopologyChange.diff(from: after, to: before)
        #expect(removed.contains { $0.kind == .nodeRemoved && $0.nodeID == "e5555555" })
        #expect(TopologyChange.diff(from: nil, to: before).allSatisfy { $0.kind == .nodeAdded })
    }

    @Test("MOVED and ASK redirections parse; anything else is not one", arguments: [
        ("MOVED 3999 127.0.0.1:6381", ClusterRedirection(kind: .moved, slot: 3999, endpoint: .init(host: "127.0.0.1", port: 6381))),
        ("ASK 1 10.0.0.5:10226", ClusterRedirection(kind: .ask, slot: 1, endpoint: .init(host: "10.0.0.5", port: 10226))),
        ("MOVED 7 :6380", ClusterRedirection(kind: .moved, slot: 7, endpoint: .init(host: "origin", port: 6380))),
        ("MOVED 7 [::1]:6380", ClusterRedirection(kind: .moved, slot: 7, endpoint: .init(host: "::1", port: 6380))),
        ("MOVED 16384 h:1", nil), ("MOVED x h:1", nil), ("ERR wrong", nil), ("MOVED 1 h:0", nil), ("ASK 1 h", nil),
    ] as [(String, ClusterRedirection?)])
    func redirections(message: String, expected: ClusterRedirection?) {
        #expect(ClusterRedirection(errorMessage: message, replyHost: "origin") == expected)
    }

    @Test("refresh schedule: initial at once, periodic, triggers rate-limited and coalesced")
    func schedule() {
        var schedule = TopologyRefreshSchedule<TestInstant>(interval: .seconds(60), minimumInterval: .seconds(5))
        #expect(schedule.startIfDue(now: .at(0)) == "initial")
        #expect(schedule.startIfDue(now: .at(1)) == nil)
        #expect(schedule.nextRefresh(now: .at(1)) == .at(60))
        // A MOVED 2 s after the refresh waits until 5 s; later triggers join it.
        #expect(schedule.triggered("moved", now: .at(2)) == .scheduled(.at(5)))
        #expect(schedule.triggered("connection-failed", now: .at(3)) == .coalesced(.at(5)))
        #expect(schedule.startIfDue(now: .at(4.999)) == nil)
        #expect(schedule.startIfDue(now: .at(5)) == "moved")
        // A trigger long after the last refresh runs at once.
        #expect(schedule.triggered("maintenance", now: .at(30)) == .scheduled(.at(30)))
        #expect(schedule.startIfDue(now: .at(30)) == "maintenance")
        #expect(schedule.startIfDue(now: .at(89)) == nil)
        #expect(schedule.startIfDue(now: .at(90)) == "periodic")
        // A hundred triggers within one minimum interval make one refresh.
        var refreshes = 0
        for step in 0..<100 {
            let now = TestInstant.at(90 + Double(step) * 0.04)
            _ = schedule.triggered("moved", now: now)
            if schedule.startIfDue(now: now) != nil { refreshes += 1 }
        }
        #expect(refreshes == 0)
        #expect(schedule.startIfDue(now: .at(95)) == "moved")
    }

    @Test("cluster mode detection from INFO cluster")
    func detection() {
        #expect(RedisClusterClient.isClusterEnabled(info: "# Cluster\r\ncluster_enabled:1\r\n"))
        #expect(!RedisClusterClient.isClusterEnabled(info: "# Cluster\r\ncluster_enabled:0\r\n"))
        #expect(!RedisClusterClient.isClusterEnabled(info: ""))
    }
}

/// SplitMix64: a seeded generator, so that a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Cluster replies from a hostile or broken server")
struct ClusterRandomInputTests {
    /// Random trees of the values CLUSTER SHARDS/SLOTS are made of, with the field names they use.
    private static func value(_ depth: Int, _ random: inout SeededGenerator) -> RESPValue {
        let words = ["slots", "nodes", "id", "port", "tls-port", "ip", "endpoint", "hostname", "role", "master", "replica",
                     "health", "online", "fail", "?", "", "127.0.0.1"]
        switch Int.random(in: 0..<(depth > 3 ? 3 : 6), using: &random) {
        case 0: return .integer(Int64.random(in: -3...70000, using: &random))
        case 1: return bulk(words.randomElement(using: &random)!)
        case 2: return .null
        case 3:
            return .array((0..<Int.random(in: 0...6, using: &random)).map { _ in value(depth + 1, &random) })
        case 4:
            return .map((0..<Int.random(in: 0...4, using: &random)).map { _ in
                RESPMapEntry(key: bulk(words.randomElement(using: &random)!), value: value(depth + 1, &random))
            })
        default:
            return .array([.integer(Int64.random(in: 0...16383, using: &random)), .integer(Int64.random(in: 0...16383, using: &random)),
                           .array([bulk("10.0.0.1"), .integer(Int64.random(in: 0...70000, using: &random)), bulk("id")])])
        }
    }

    @Test("20,000 random topology replies: parsed or rejected with an error, never a crash; slot ranges always valid")
    func randomReplies() async {
        var random = SeededGenerator(state: 0x5EED_C1A5)
        var parsed = 0
        for iteration in 0..<20_000 {
            if iteration % 200 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            let reply = Self.value(0, &random)
            for topology in [
                try? ClusterTopology.parseShards(reply, replyHost: "h"), try? ClusterTopology.parseSlots(reply, replyHost: "h", tls: false),
                try? ClusterTopology.parseNodes(reply, replyHost: "h", tls: false),
            ] {
                guard let topology else { continue }
                parsed += 1
                #expect(topology.nodes.allSatisfy { $0.slots.allSatisfy { 0 <= $0.lowerBound && $0.upperBound < HashSlot.count } })
                _ = topology.slotOwners()
                _ = TopologyChange.diff(from: nil, to: topology)
            }
        }
        #expect(parsed > 0, "some random replies are well-formed")
    }

    @Test("random redirection messages never crash")
    func randomRedirections() async {
        var random = SeededGenerator(state: 42)
        let pieces = ["MOVED", "ASK", " ", "1", "16384", ":", "[", "]", "::1", "host", "65536", "0", "-1", "x"]
        for iteration in 0..<20_000 {
            if iteration % 200 == 0 { await Task.yield() }  // CPU-bound: leave the shared task pool to others
            let message = (0..<Int.random(in: 0...8, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            if let redirection = ClusterRedirection(errorMessage: message, replyHost: "h") {
                #expect((0..<HashSlot.count).contains(redirection.slot) && (1...65535).contains(redirection.endpoint.port))
            }
        }
    }
}

/// Hardening (c): the CLUSTER NODES parser trapped (index out of range) on an address field of just `,` or `@`.
@Suite("CLUSTER NODES with hostile address fields")
struct ClusterNodesHostileAddressTests {
    @Test("an address of ',', '@' or other fragments is a malformed reply, not a crash", arguments: [
        ",", "@", ",,", "@@", ",@", "@,", ":", ":@", "@:6379", ",host", "1.2.3.4:@", "1.2.3.4:99999@1",
    ])
    func hostileAddress(address: String) {
        let line = "07c37dfeb235213a872192d90877d0cd55635b91 \(address) master - 0 0 1 connected 0-16383\n"
        #expect(throws: RedisClientError.self) {
            try ClusterTopology.parseNodes(.bulkString(ByteBuffer(string: line)), replyHost: "127.0.0.1", tls: false)
        }
    }

    @Test("a good line next to a hostile one: the reply is refused whole")
    func mixed() {
        let text = "aaaa 127.0.0.1:7000@17000 master - 0 0 1 connected 0-100\nbbbb , master - 0 0 1 connected 101-200\n"
        #expect(throws: RedisClientError.self) {
            try ClusterTopology.parseNodes(.bulkString(ByteBuffer(string: text)), replyHost: "127.0.0.1", tls: false)
        }
    }
}
