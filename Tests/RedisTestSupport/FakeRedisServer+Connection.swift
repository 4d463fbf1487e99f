import NIOCore
import RESP

extension FakeRedisServer {
    /// One accepted client connection. Tests use it to act at any time: send bytes, values or pushes, stall,
    /// resume, close.
    public final class Connection: Sendable {
        struct State: Sendable {
            var protocolVersion = 2
            var name: String?
            var authenticated: Bool
            var stalled: Bool
            var open = true
            var channels: Set<String> = []
            var patterns: Set<String> = []
        }

        /// 1 for the first connection the server accepted, then 2, ….
        public let id: Int
        /// The client's address and port (`127.0.0.1:53712`).
        public let remoteAddress: String
        let channel: any Channel
        let state: StateWatch<State>

        init(id: Int, channel: any Channel, authenticated: Bool, stalled: Bool) {
            self.id = id
            self.channel = channel
            self.remoteAddress = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
            self.state = StateWatch(State(authenticated: authenticated, stalled: stalled))
        }

        /// 2 until the client sends `HELLO 3`, then 3.
        public var protocolVersion: Int { self.state.value.protocolVersion }
        /// The name the client gave (HELLO SETNAME, CLIENT SETNAME).
        public var clientName: String? { self.state.value.name }
        public var isOpen: Bool { self.state.value.open }
        public var isStalled: Bool { self.state.value.stalled }
        /// Channels subscribed with SUBSCRIBE.
        public var channels: Set<String> { self.state.value.channels }
        /// Patterns subscribed with PSUBSCRIBE.
        public var patterns: Set<String> { self.state.value.patterns }
        /// Whether the connection is subscribed to anything (in RESP2, subscriber mode).
        var isSubscribed: Bool { self.state.read { !$0.channels.isEmpty || !$0.patterns.isEmpty } }

        // MARK: acting from the test

        /// Writes `bytes` exactly.
        /// - Throws: when the connection is closed.
        public func send(raw bytes: [UInt8]) async throws {
            try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        }

        /// Writes `value` in the connection's protocol (see ``Response/reply(_:)``).
        public func send(_ value: RESPValue) async throws {
            try await self.channel.writeAndFlush(RESPWireFormat.encode(value, protocolVersion: self.protocolVersion))
                .get()
        }

        /// Writes a push: `>N` in RESP3, an array in RESP2 (how pub/sub messages look in each).
        public func sendPush(_ elements: [RESPValue]) async throws {
            try await self.send(.push(elements))
        }

        /// Stops answering: commands are still read and recorded, answers wait until ``resume()`` (like a
        /// SIGSTOPped server whose kernel still accepts bytes).
        public func stall() {
            self.state.update { $0.stalled = true }
        }

        /// Answers again, starting with the commands that waited.
        public func resume() {
            self.state.update { $0.stalled = false }
        }

        /// Closes the connection (a FIN; the client sees the end of the stream).
        public func close() async {
            try? await self.channel.close()
        }

        /// Waits until the connection has closed (either side), at most `timeout`; returns whether it has.
        public func waitUntilClosed(within timeout: Duration) async -> Bool {
            await self.state.wait(until: { !$0.open }, within: timeout)
        }

        // MARK: internal

        /// Waits while stalled; false once the connection has closed or the task is cancelled.
        func waitUntilAnswering() async -> Bool {
            guard await self.state.wait(until: { !$0.stalled || !$0.open }) else { return false }
            return self.isOpen
        }

        func write(_ buffer: ByteBuffer) async {
            try? await self.channel.writeAndFlush(buffer).get()
        }
    }
}

/// Hands each parsed value to the server; a protocol error closes the connection (as Redis does).
final class FakeRedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue

    private let received: @Sendable (RESPValue) -> Void

    init(received: @escaping @Sendable (RESPValue) -> Void) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received(Self.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
