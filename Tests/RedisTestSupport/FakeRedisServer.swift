import NIOCore
import NIOPosix
import RESP
import Synchronization

/// A scriptable RESP server on 127.0.0.1, for what real servers never send: hostile replies, stalls mid-reply,
/// odd topologies, pushes at awkward moments.
///
/// It speaks enough Redis for a client's handshake and health checks by default (HELLO, AUTH, CLIENT SETNAME /
/// SETINFO / ID / GETNAME / INFO / LIST, PING, ECHO, SELECT, INFO, CLUSTER SHARDS / SLOTS / NODES / INFO / MYID,
/// (P)SUBSCRIBE, (P)UNSUBSCRIBE, PUBLISH, GET / SET / DEL / EXISTS, CONFIG GET / SET, READONLY, ASKING, QUIT), and
/// a ``Script`` overrides any command: reply anything, write raw bytes, drip-feed them, never answer, close.
/// Tests can also act on connections at any moment (``Connection/sendPush(_:)``, ``Connection/stall()``,
/// ``closeAll()``) and wait for what the server received (``waitForCommands(named:count:within:)``).
///
/// Commands must be RESP arrays, as clients send them; an inline command (`PING\r\n`) or any other malformed
/// input closes the connection.
///
/// Everything runs on NIO event loops and tasks that only suspend: nothing blocks the cooperative pool.
/// Always shut it down: ``withFakeRedisServer(_:_:)`` does.
///
/// ```swift
/// try await withFakeRedisServer(.respond { command, _ in
///     command.name == "PING" ? .raw("+PO") : .default
/// }) { server in
///     // connect a client to server.port …
///     _ = try await server.waitForCommands(named: "PING", within: .seconds(5))
/// }
/// ```
public final class FakeRedisServer: Sendable {
    /// The address it listens on: 127.0.0.1.
    public let host: String
    /// The port the kernel gave it.
    public let port: Int
    /// `127.0.0.1:port`.
    public var endpoint: String { "\(self.host):\(self.port)" }

    let core: Core
    private let listener: any Channel
    private let accepted: AsyncStream<Accepted>.Continuation
    private let runner: Mutex<Task<Void, Never>?>

    private init(
        host: String, port: Int, core: Core, listener: any Channel, accepted: AsyncStream<Accepted>.Continuation,
        runner: Task<Void, Never>
    ) {
        self.host = host
        self.port = port
        self.core = core
        self.listener = listener
        self.accepted = accepted
        self.runner = Mutex(runner)
    }

    /// Starts listening on 127.0.0.1 on a port the kernel picks.
    public static func start(script: Script = .standard) async throws -> FakeRedisServer {
        let core = Core(script: script)
        let (stream, continuation) = AsyncStream.makeStream(of: Accepted.self)
        let host = "127.0.0.1"
        let listener: any Channel
        do {
            listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in core.accept(channel, into: continuation) }
                .bind(host: host, port: 0).get()
        } catch {
            continuation.finish()
            throw TestFixtureError("the fake Redis server could not listen on \(host): \(error)")
        }
        guard let port = listener.localAddress?.port else {
            continuation.finish()
            try? await listener.close()
            throw TestFixtureError("the fake Redis server's listening socket has no port")
        }
        // One task serves every connection, each in a child task: commands of one connection in order.
        let runner = Task {
            await withDiscardingTaskGroup { group in
                for await connection in stream {
                    group.addTask { await core.serve(connection.connection, commands: connection.commands) }
                }
            }
        }
        return FakeRedisServer(
            host: host, port: port, core: core, listener: listener, accepted: continuation, runner: runner)
    }

    /// Stops listening, closes every connection and waits until nothing of the server runs any more.
    public func shutdown() async {
        guard let runner = self.runner.withLock({ $0.take() }) else { return }
        try? await self.listener.close()
        self.accepted.finish()
        await self.closeAll()
        // Handlers still waiting for something (a delay, the test) are cancelled.
        runner.cancel()
        await runner.value
    }

    // MARK: the script

    /// How the server behaves now.
    public var script: Script { self.core.settings.withLock { $0.script } }

    /// Changes how the server behaves, from the next command on (e.g. announce another topology).
    public func updateScript(_ change: (inout Script) -> Void) {
        self.core.settings.withLock { change(&$0.script) }
    }

    // MARK: what was received

    /// What the server has seen so far.
    public var snapshot: Snapshot { self.core.log.value }

    /// Every command received, in the order they arrived.
    public var commands: [Command] { self.snapshot.commands }

    /// The commands named `name` (`PING`, `CLUSTER SHARDS`).
    public func commands(named name: String) -> [Command] { self.snapshot.commands(named: name) }

    /// The commands received on one connection.
    public func commands(onConnection id: Int) -> [Command] { self.snapshot.commands.filter { $0.connectionID == id } }

    /// Connections accepted since the start.
    public var acceptedConnections: Int { self.snapshot.acceptedConnections }

    /// Connections open now.
    public var openConnections: Int { self.snapshot.openConnections }

    /// Every connection accepted, open or closed, by id.
    public var allConnections: [Connection] {
        self.core.settings.withLock { $0.connections.values.sorted { $0.id < $1.id } }
    }

    /// The connections open now, by id.
    public var connections: [Connection] { self.allConnections.filter(\.isOpen) }

    /// The connection with this id (1 for the first accepted).
    public func connection(_ id: Int) -> Connection? { self.core.settings.withLock { $0.connections[id] } }

    // MARK: waiting

    /// Waits until `condition` holds for what the server has seen, at most `timeout`; returns whether it held.
    /// Checked on every command and every connection opened or closed; no polling.
    public func waitUntil(within timeout: Duration, _ condition: @escaping @Sendable (Snapshot) -> Bool) async -> Bool {
        await self.core.log.wait(until: condition, within: timeout)
    }

    /// Waits until `count` commands named `name` have arrived (in all) and returns them.
    /// - Throws: when they have not within `timeout`, saying what did arrive.
    @discardableResult
    public func waitForCommands(named name: String, count: Int = 1, within timeout: Duration) async throws -> [Command]
    {
        let name = name.uppercased()
        guard await self.waitUntil(within: timeout, { $0.commands(named: name).count >= count }) else {
            let seen = self.commands.map(\.name)
            throw TestFixtureError(
                "the fake Redis server received \(self.commands(named: name).count) × \(name) within \(timeout), expected \(count); all it received: \(seen)"
            )
        }
        return self.commands(named: name)
    }

    /// Waits until `count` connections have been accepted since the start, and returns them (in order).
    @discardableResult
    public func waitForConnections(accepted count: Int, within timeout: Duration) async throws -> [Connection] {
        guard await self.waitUntil(within: timeout, { $0.acceptedConnections >= count }) else {
            throw TestFixtureError(
                "the fake Redis server accepted \(self.acceptedConnections) connections within \(timeout), expected \(count)"
            )
        }
        return self.allConnections
    }

    /// Waits until exactly `count` connections are open.
    public func waitForOpenConnections(_ count: Int, within timeout: Duration) async throws {
        guard await self.waitUntil(within: timeout, { $0.openConnections == count }) else {
            throw TestFixtureError(
                "the fake Redis server has \(self.openConnections) open connections after \(timeout), expected \(count)"
            )
        }
    }

    // MARK: acting on every connection

    /// Writes `bytes` exactly to every open connection.
    public func sendToAll(raw bytes: [UInt8]) async {
        for connection in self.connections { try? await connection.send(raw: bytes) }
    }

    /// Sends a push (RESP3 `>`, RESP2 array) to every open connection.
    public func sendPushToAll(_ elements: [RESPValue]) async {
        for connection in self.connections { try? await connection.sendPush(elements) }
    }

    /// Delivers a pub/sub message as PUBLISH would (`message` to subscribers of `channel`, `pmessage` to matching
    /// patterns); returns how many received it.
    @discardableResult
    public func publish(channel: String, message: String) async -> Int {
        await self.core.publish(channel: channel, message: message)
    }

    /// Closes every open connection.
    public func closeAll() async {
        for connection in self.connections { await connection.close() }
    }

    /// Stalls every connection, and connections accepted from now on, until ``resumeAll()``: commands are read
    /// and recorded, not answered (a SIGSTOPped server whose kernel still accepts connections and bytes).
    public func stallAll() {
        self.core.settings.withLock { settings in
            settings.stalled = true
            for connection in settings.connections.values { connection.stall() }
        }
    }

    /// Ends ``stallAll()``: every connection answers again, the commands that waited first.
    public func resumeAll() {
        self.core.settings.withLock { settings in
            settings.stalled = false
            for connection in settings.connections.values { connection.resume() }
        }
    }
}

/// Starts a fake server, runs `body`, and always shuts the server down.
public func withFakeRedisServer<T>(
    _ script: FakeRedisServer.Script = .standard, _ body: (FakeRedisServer) async throws -> T
) async throws -> T {
    let server = try await FakeRedisServer.start(script: script)
    do {
        let result = try await body(server)
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}

extension FakeRedisServer {
    struct Accepted: Sendable {
        var connection: Connection
        var commands: AsyncStream<Command>
    }

    /// Server state the connections share.
    struct Settings: Sendable {
        var script: Script
        var connections: [Int: Connection] = [:]
        var nextConnectionID = 0
        var stalled = false
        /// GET/SET/DEL's keys.
        var store: [String: String] = [:]
    }

    /// Everything of a server but its listening socket: the accept path, the per-connection loop, the defaults.
    final class Core: Sendable {
        let log = StateWatch(Snapshot())
        let settings: Mutex<Settings>

        init(script: Script) {
            self.settings = Mutex(Settings(script: script))
        }

        /// Sets up an accepted channel (on its event loop) and hands it to the serving task.
        func accept(_ channel: any Channel, into accepted: AsyncStream<Accepted>.Continuation) -> EventLoopFuture<Void>
        {
            channel.eventLoop.makeCompletedFuture {
                let (commands, commandsContinuation) = AsyncStream.makeStream(of: Command.self)
                let connection = self.settings.withLock { settings in
                    settings.nextConnectionID += 1
                    let connection = Connection(
                        id: settings.nextConnectionID, channel: channel,
                        authenticated: settings.script.password == nil, stalled: settings.stalled)
                    settings.connections[connection.id] = connection
                    return connection
                }
                let log = self.log
                let id = connection.id
                log.update {
                    $0.acceptedConnections += 1
                    $0.openConnections += 1
                }
                channel.closeFuture.whenComplete { _ in
                    commandsContinuation.finish()
                    connection.state.update { $0.open = false }
                    log.update { $0.openConnections -= 1 }
                }
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPValueDecoder()))
                try channel.pipeline.syncOperations.addHandler(
                    FakeRedisChannelHandler { value in
                        // Recorded on arrival, even while the connection is stalled.
                        let command = Command(value, connectionID: id)
                        log.update { $0.commands.append(command) }
                        commandsContinuation.yield(command)
                    })
                if case .terminated = accepted.yield(Accepted(connection: connection, commands: commands)) {
                    channel.close(promise: nil)
                }
            }
        }

        /// Answers one connection's commands in order until it closes.
        func serve(_ connection: Connection, commands: AsyncStream<Command>) async {
            for await command in commands {
                guard await connection.waitUntilAnswering() else { break }
                let handler = self.settings.withLock { $0.script.handler }
                let response = await handler?(command, connection) ?? .default
                await self.perform(response, for: command, on: connection)
                if Task.isCancelled { break }
            }
        }

        func perform(_ response: Response, for command: Command, on connection: Connection) async {
            switch response {
            case .reply(let value):
                await connection.write(RESPWireFormat.encode(value, protocolVersion: connection.protocolVersion))
            case .raw(let bytes):
                await connection.write(ByteBuffer(bytes: bytes))
            case .dripFeed(let bytes, let chunk, let interval):
                var offset = 0
                while offset < bytes.count {
                    if offset > 0 {
                        guard (try? await Task.sleep(for: interval)) != nil else { return }
                    }
                    let end = min(bytes.count, offset + max(1, chunk))
                    await connection.write(ByteBuffer(bytes: bytes[offset..<end]))
                    offset = end
                }
            case .noReply:
                break
            case .close:
                await connection.close()
            case .default:
                await self.perform(
                    await self.defaultResponse(to: command, on: connection), for: command, on: connection)
            case .delayed(let delay, let then):
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                await self.perform(then, for: command, on: connection)
            case .sequence(let responses):
                for response in responses { await self.perform(response, for: command, on: connection) }
            }
        }
    }
}
