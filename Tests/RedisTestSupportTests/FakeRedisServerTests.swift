import NIOCore
import NIOPosix
import RESP
import RedisClient
import RedisTestSupport
import Testing

/// A bare TCP client that records every read with its arrival time: it sees bytes exactly as the server wrote them.
final class RawClient: Sendable {
    typealias Read = (at: ContinuousClock.Instant, bytes: [UInt8])

    private let channel: any Channel
    /// Every read so far.
    let reads: StateWatch<[Read]>
    /// Whether the server closed the connection.
    let closed = StateWatch(false)

    private init(channel: any Channel, reads: StateWatch<[Read]>) {
        self.channel = channel
        self.reads = reads
        let closed = self.closed
        channel.closeFuture.whenComplete { _ in closed.update { $0 = true } }
    }

    static func connect(to server: FakeRedisServer) async throws -> RawClient {
        let reads = StateWatch<[Read]>([])
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Collector { bytes in reads.update { $0.append((.now, bytes)) } })
                }
            }
            .connect(host: server.host, port: server.port).get()
        return RawClient(channel: channel, reads: reads)
    }

    /// Sends a command as an array of bulk strings.
    func send(_ words: String...) async throws {
        var buffer = ByteBuffer()
        RESPCommand(arguments: words.map { ByteBuffer(string: $0) }).encode(into: &buffer)
        try await self.channel.writeAndFlush(buffer).get()
    }

    /// Every byte received so far.
    var bytes: [UInt8] { self.reads.value.flatMap(\.bytes) }

    /// Waits until at least `count` bytes have arrived.
    func waitForBytes(_ count: Int, within timeout: Duration) async -> Bool {
        await self.reads.wait(until: { $0.reduce(0) { $0 + $1.bytes.count } >= count }, within: timeout)
    }

    func close() async { try? await self.channel.close() }
}

/// Collects inbound bytes.
final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let record: @Sendable ([UInt8]) -> Void
    init(_ record: @escaping @Sendable ([UInt8]) -> Void) { self.record = record }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.record(Array(buffer: Self.unwrapInboundIn(data)))
    }
}

func connectionConfiguration(
    _ server: FakeRedisServer, password: String? = nil, commandTimeout: Duration = .seconds(10)
) -> RedisConnectionConfiguration {
    RedisConnectionConfiguration(
        endpoint: RedisEndpoint(host: server.host, port: server.port), password: password.map(RedisSecret.init),
        clientName: "kit-test", commandTimeout: commandTimeout)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("The fake RESP server")
struct FakeRedisServerTests {
    @Test("default handshake: HELLO 3 with SETNAME, RESP3, PING, commands recorded per connection")
    func defaultHandshake() async throws {
        try await withFakeRedisServer { server in
            #expect(server.endpoint == "127.0.0.1:\(server.port)")
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            #expect(connection.protocolVersion == .resp3)
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            #expect(try await connection.send(RESPCommand("SET", "k", "v")) == .simpleString("OK"))
            #expect(try await connection.send(RESPCommand("GET", "k")) == .bulkString("v"))
            #expect(try await connection.send(RESPCommand("GET", "missing")) == .null)
            let info = try await connection.send(RESPCommand("INFO", "cluster"))
            #expect(info.string?.contains("cluster_enabled:0") == true)
            let refused = await #expect(throws: RedisClientError.self) {
                try await connection.send(RESPCommand("CLUSTER", "SHARDS"))
            }
            #expect(refused?.code == .errorReply)
            #expect(refused?.description.contains("ERR This instance has cluster support disabled") == true)

            let hello = try #require(server.commands(named: "HELLO").first)
            #expect(hello.connectionID == 1)
            #expect(hello.arguments.first == "3")
            #expect(hello.words.contains("kit-test"))
            #expect(server.connection(1)?.clientName == "kit-test")
            #expect(server.connection(1)?.protocolVersion == 3)
            #expect(
                server.commands(onConnection: 1).map(\.name) == [
                    "HELLO", "PING", "SET", "GET", "GET", "INFO", "CLUSTER SHARDS",
                ])
            #expect(server.commands(named: "cluster shards").first?.arguments == [])
            #expect(server.acceptedConnections == 1 && server.openConnections == 1)

            await connection.close()
            try await server.waitForOpenConnections(0, within: .seconds(5))
            _ = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            let hellos = try await server.waitForCommands(named: "HELLO", count: 2, within: .seconds(5))
            #expect(hellos.map(\.connectionID) == [1, 2])
            #expect(server.acceptedConnections == 2)
        }
    }

    @Test("RESP2 fallback: HELLO unknown, password required: AUTH then CLIENT SETNAME")
    func resp2WithPassword() async throws {
        try await withFakeRedisServer(.init(password: "s3cret", helloSupported: false)) { server in
            let connection = try await RedisConnection.connect(
                configuration: connectionConfiguration(server, password: "s3cret"))
            #expect(connection.protocolVersion == .resp2)
            #expect(server.commands.map(\.name) == ["HELLO", "AUTH", "CLIENT SETNAME"])
            #expect(server.commands(named: "AUTH").first?.arguments == ["s3cret"])
            // RESP2 replies: maps become flat arrays.
            let config = try await connection.send(RESPCommand("CONFIG", "GET", "timeout"))
            #expect(config == .array([.bulkString("timeout"), .bulkString("0")]))

            let refused = await #expect(throws: RedisClientError.self) {
                try await RedisConnection.connect(configuration: connectionConfiguration(server, password: "wrong"))
            }
            #expect(refused?.code == .authentication)
        }
    }

    @Test("a scripted raw reply arrives byte-exact")
    func rawReplyIsExact() async throws {
        let hostile: [UInt8] = bytes("+PO") + [0x00, 0xff, 0x0d] + bytes("\r\n$-7\r\n|0\r\n")
        try await withFakeRedisServer(.respond { command, _ in command.name == "PING" ? .raw(hostile) : .default }) {
            server in
            let client = try await RawClient.connect(to: server)
            try await client.send("PING")
            #expect(await client.waitForBytes(hostile.count, within: .seconds(5)))
            #expect(client.bytes == hostile)
            // Nothing else follows.
            try await client.send("ECHO", "x")
            #expect(await client.waitForBytes(hostile.count + 7, within: .seconds(5)))
            #expect(client.bytes == hostile + bytes("$1\r\nx\r\n"))
            await client.close()
        }
    }

    @Test("a drip-fed reply arrives in pieces, spread over time, and parses whole")
    func dripFeed() async throws {
        let reply = bytes("$10\r\n0123456789\r\n")
        let script = FakeRedisServer.Script.respond { command, _ in
            command.name == "GET" ? .dripFeed(reply, chunk: 2, every: .milliseconds(30)) : .default
        }
        try await withFakeRedisServer(script) { server in
            let client = try await RawClient.connect(to: server)
            let sent = ContinuousClock.now
            try await client.send("GET", "k")
            #expect(await client.waitForBytes(reply.count, within: .seconds(15)))
            let reads = client.reads.value
            #expect(client.bytes == reply)
            // 9 pieces, 8 gaps of 30 ms.
            #expect(reads.count >= 5, "\(reads.count) reads")
            #expect(sent.duration(to: reads.last!.at) >= .milliseconds(8 * 30))

            // A real client puts the pieces back together.
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            #expect(try await connection.send(RESPCommand("GET", "k")) == .bulkString("0123456789"))
        }
    }

    @Test("no reply and stall: the command is recorded and never answered; resume answers what waited")
    func stall() async throws {
        let script = FakeRedisServer.Script.respond { command, _ in
            command.arguments.first == "black-hole" ? .noReply : .default
        }
        try await withFakeRedisServer(script) { server in
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisClientError.self) {
                try await connection.send(RESPCommand("GET", "black-hole"), timeout: .milliseconds(300))
            }
            #expect(error?.code == .commandTimeout)
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(server.commands(named: "GET").first?.arguments == ["black-hole"])

            // A stalled connection reads and records, answers nothing until resumed.
            let raw = try await RawClient.connect(to: server)
            try await server.waitForConnections(accepted: 2, within: .seconds(5))
            let fake = try #require(server.connection(2))
            fake.stall()
            try await raw.send("PING")
            try await server.waitForCommands(named: "PING", within: .seconds(5))
            #expect(await !raw.waitForBytes(1, within: .milliseconds(300)))
            #expect(raw.bytes.isEmpty)
            fake.resume()
            #expect(await raw.waitForBytes(7, within: .seconds(5)))
            #expect(raw.bytes == bytes("+PONG\r\n"))

            // stallAll holds new connections too.
            server.stallAll()
            let late = try await RawClient.connect(to: server)
            try await late.send("PING")
            try await server.waitForCommands(named: "PING", count: 2, within: .seconds(5))
            #expect(await !late.waitForBytes(1, within: .milliseconds(300)))
            server.resumeAll()
            #expect(await late.waitForBytes(7, within: .seconds(5)))
        }
    }

    @Test("close closes: the client sees the connection end, the server counts it")
    func close() async throws {
        try await withFakeRedisServer(.respond { command, _ in command.name == "GET" ? .close : .default }) { server in
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            let error = await #expect(throws: RedisClientError.self) {
                try await connection.send(RESPCommand("GET", "k"))
            }
            #expect(error?.code == .connectionClosed)
            try await server.waitForOpenConnections(0, within: .seconds(5))
            #expect(server.connection(1)?.isOpen == false)

            // Closed from the test at any moment.
            let raw = try await RawClient.connect(to: server)
            try await server.waitForOpenConnections(1, within: .seconds(5))
            await server.closeAll()
            #expect(await raw.closed.wait(until: { $0 }, within: .seconds(5)))
            #expect(server.acceptedConnections == 2)
        }
    }

    @Test("pushes from the test reach the client: RESP3 push, RESP2 array; PUBLISH reaches subscribers")
    func pushes() async throws {
        try await withFakeRedisServer { server in
            let pushes = StateWatch<[RESPValue]>([])
            let connection = try await RedisConnection.connect(
                configuration: connectionConfiguration(server), onPush: { push in pushes.update { $0.append(push) } })
            let fake = try #require(server.connection(1))
            try await fake.sendPush([.bulkString("invalidate"), .array([.bulkString("k")])])
            #expect(await pushes.wait(until: { $0.count == 1 }, within: .seconds(5)))
            #expect(pushes.value.first == .push([.bulkString("invalidate"), .array([.bulkString("k")])]))
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))

            // RESP2: a push is an array on the wire.
            let raw = try await RawClient.connect(to: server)
            try await server.waitForOpenConnections(2, within: .seconds(5))
            await server.sendPushToAll([.bulkString("message"), .bulkString("c"), .bulkString("m")])
            let expected = bytes("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n")
            #expect(await raw.waitForBytes(expected.count, within: .seconds(5)))
            #expect(raw.bytes == expected)
            #expect(await pushes.wait(until: { $0.count == 2 }, within: .seconds(5)))

            // SUBSCRIBE is confirmed; PUBLISH delivers.
            let subscriber = try await RawClient.connect(to: server)
            try await subscriber.send("SUBSCRIBE", "news")
            let confirmation = bytes("*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
            #expect(await subscriber.waitForBytes(confirmation.count, within: .seconds(5)))
            #expect(await server.publish(channel: "news", message: "hi") == 1)
            let message = bytes("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n")
            #expect(await subscriber.waitForBytes(confirmation.count + message.count, within: .seconds(5)))
            #expect(subscriber.bytes == confirmation + message)
        }
    }

    @Test("a handler may wait for the test before answering; shutdown ends it")
    func handlerWaitsForTest() async throws {
        let gate = StateWatch(false)
        let script = FakeRedisServer.Script.respond { command, _ in
            guard command.name == "GET" else { return .default }
            _ = await gate.wait(until: { $0 })
            return .bulk("late")
        }
        try await withFakeRedisServer(script) { server in
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            async let reply = connection.send(RESPCommand("GET", "k"))
            try await server.waitForCommands(named: "GET", within: .seconds(5))
            gate.update { $0 = true }
            #expect(try await reply == .bulkString("late"))
        }
        // A handler that never returns does not keep shutdown waiting.
        let server = try await FakeRedisServer.start(
            script: .respond { _, _ in
                _ = await StateWatch(false).wait(until: { $0 })
                return .noReply
            })
        let raw = try await RawClient.connect(to: server)
        try await raw.send("PING")
        try await server.waitForCommands(named: "PING", within: .seconds(5))
        await server.shutdown()
        #expect(await raw.closed.wait(until: { $0 }, within: .seconds(5)))
    }

    @Test("waiting for commands that never come fails on time, saying what came")
    func waitTimesOut() async throws {
        try await withFakeRedisServer { server in
            _ = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            let started = ContinuousClock.now
            do {
                try await server.waitForCommands(named: "PING", within: .milliseconds(200))
                Issue.record("no PING was sent")
            } catch {
                #expect("\(error)".contains("HELLO"))
            }
            #expect(ContinuousClock.now - started < .seconds(5), "a 200 ms wait, with room for a busy machine")
        }
    }
}

@Suite("Fake cluster topologies")
struct FakeClusterTopologyTests {
    static let primaryID = FakeClusterTopology.nodeID(1)
    static let replicaID = FakeClusterTopology.nodeID(2)

    /// A primary whose ip is in an allowed network but whose endpoint is 127.0.0.1 on a forbidden port, with a
    /// hostname and a TLS port, and its replica.
    static let topology = FakeClusterTopology(nodes: [
        FakeClusterNode(
            id: primaryID, ip: "10.1.2.3", endpoint: "127.0.0.1", hostname: "redis-1.example", port: 10226,
            tlsPort: 16380,
            slots: [0...100, 200...16383]),
        FakeClusterNode(
            id: replicaID, ip: "10.1.2.4", port: 7001, role: .replica, primaryID: primaryID, health: "loading"),
    ])

    @Test("CLUSTER SHARDS in RESP3 and RESP2 parse to the announced nodes", arguments: [false, true])
    func shards(resp2: Bool) throws {
        let parsed = try ClusterTopology.parseShards(Self.topology.shardsReply(resp2: resp2), replyHost: "seed")
        let primary = try #require(parsed.node(id: Self.primaryID))
        #expect(primary.host == "127.0.0.1" && primary.ip == "10.1.2.3" && primary.hostname == "redis-1.example")
        #expect(primary.port == 10226 && primary.tlsPort == 16380 && primary.role == .primary)
        #expect(primary.slots == [0...100, 200...16383])
        let replica = try #require(parsed.node(id: Self.replicaID))
        #expect(replica.role == .replica && replica.host == "10.1.2.4" && replica.health == "loading")
        #expect(parsed.uncoveredSlots == 99)
    }

    @Test("CLUSTER SLOTS and CLUSTER NODES parse to the same primaries and slots")
    func slotsAndNodes() throws {
        let slots = try ClusterTopology.parseSlots(Self.topology.slotsReply(), replyHost: "seed", tls: false)
        #expect(slots.primaries.map(\.id) == [Self.primaryID])
        #expect(slots.primaries.first?.slots == [0...100, 200...16383])
        #expect(slots.primaries.first?.host == "127.0.0.1" && slots.primaries.first?.port == 10226)
        #expect(slots.node(id: Self.replicaID)?.role == .replica)

        let text = Self.topology.nodesText()
        #expect(text.hasPrefix("\(Self.primaryID) 10.1.2.3:10226@20226,redis-1.example myself,master - 0 "))
        let nodes = try ClusterTopology.parseNodes(.bulkString(text), replyHost: "seed", tls: false)
        #expect(nodes.primaries.first?.slots == [0...100, 200...16383])
        #expect(nodes.node(id: Self.replicaID)?.role == .replica)
    }

    @Test("a thousand primaries, control characters in ids and endpoints, bogus ports: served as given")
    func hostileTopologies() async throws {
        let thousand = FakeClusterTopology.primaries(1000, basePort: 20000)
        #expect(thousand.nodes.count == 1000)
        let parsed = try ClusterTopology.parseShards(thousand.shardsReply(), replyHost: "seed")
        #expect(parsed.primaries.count == 1000 && parsed.uncoveredSlots == 0)

        var odd = FakeClusterTopology.primaries(2)
        odd.nodes[0].id = "evil\u{1b}[31m\nid"
        odd.nodes[0].endpoint = "127.0.0.1\r\n+OK"
        odd.nodes[1].port = 70000
        try await withFakeRedisServer(.init(topology: odd)) { server in
            let connection = try await RedisConnection.connect(configuration: connectionConfiguration(server))
            let reply = try await connection.send(RESPCommand("CLUSTER", "SHARDS"))
            #expect(reply == odd.shardsReply())
            let info = try await connection.send(RESPCommand("INFO", "cluster"))
            #expect(info.string?.contains("cluster_enabled:1") == true)
            let parsed = try ClusterTopology.parseShards(reply, replyHost: server.host)
            #expect(parsed.nodes.contains { $0.host == "127.0.0.1\r\n+OK" })
            #expect(parsed.nodes.first { $0.id == odd.nodes[1].id }?.port == nil, "port 70000 is not a port")

            // Another topology from the next command on.
            server.updateScript { $0.topology = Self.topology }
            #expect(try await connection.send(RESPCommand("CLUSTER", "SHARDS")) == Self.topology.shardsReply())
            #expect(try await connection.send(RESPCommand("CLUSTER", "MYID")) == .bulkString(Self.primaryID))
        }
    }
}
