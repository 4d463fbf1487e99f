import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import RESP
import Testing

@testable import RedisClient

/// The command handler, byte-exact on an in-process channel whose clock the test moves: no sockets, no sleeps.
@Suite("Command handler on an embedded channel")
struct RedisCommandHandlerTests {
    /// A reply slot a test reads after the event loop has run.
    final class Reply: @unchecked Sendable {
        var result: Result<RESPValue, any Error>?
        var error: RedisClientError? {
            if case .failure(let error) = self.result { return error as? RedisClientError }
            return nil
        }
        var value: RESPValue? {
            if case .success(let value) = self.result { return value }
            return nil
        }
    }

    struct Harness {
        let channel: EmbeddedChannel
        let handler: RedisCommandHandler
        let shared: ConnectionSharedState
        let pushes: NIOLockedValueBox<[RESPValue]>
        /// The way in that RedisConnection uses: the shared batch and one drain per event-loop turn.
        var submitter: CommandSubmitter {
            CommandSubmitter(
                shared: self.shared, handler: NIOLoopBound(self.handler, eventLoop: self.channel.eventLoop),
                eventLoop: self.channel.eventLoop)
        }

        init(silence: SilenceRule = SilenceRule(limit: .seconds(3)), subscriber: Bool = false) throws {
            let channel = EmbeddedChannel()
            let shared = ConnectionSharedState()
            let pushes = NIOLockedValueBox<[RESPValue]>([])
            let handler = RedisCommandHandler(
                endpoint: "fake:6379", logger: Logger(label: "test"), subscriber: subscriber, silenceRule: silence,
                shared: shared, eventLoop: channel.eventLoop, onPush: { value in pushes.withLockedValue { $0.append(value) } })
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            self.channel = channel
            self.handler = handler
            self.shared = shared
            self.pushes = pushes
        }

        /// Writes `commands` as one request; returns their reply slots.
        func send(_ commands: [RESPCommand], timeout: TimeAmount = .seconds(1)) -> [Reply] {
            let replies = commands.map { _ in Reply() }
            let entries = zip(commands, replies).map { command, reply in
                let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
                promise.futureResult.whenComplete { reply.result = $0 }
                return (command: command, sink: ReplySink.promise(promise))
            }
            self.submitter.submit(together: entries, timeout: timeout)
            self.channel.embeddedEventLoop.run()
            return replies
        }

        func send(_ command: RESPCommand, timeout: TimeAmount = .seconds(1)) -> Reply {
            self.send([command], timeout: timeout)[0]
        }

        /// Every byte written to the server since the last call, and how many writes carried them.
        func written() throws -> (text: String, writes: Int) {
            var text = ""
            var writes = 0
            while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
                writes += 1
            }
            return (text, writes)
        }

        func serverSends(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }

        func advance(_ amount: TimeAmount) {
            self.channel.embeddedEventLoop.advanceTime(by: amount)
        }

        var terminalError: RedisClientError? { self.handler.closeReason }
    }

    @Test("replies are matched to commands in order")
    func inOrder() throws {
        let harness = try Harness()
        let ping = harness.send(RESPCommand("PING"))
        #expect(try harness.written().text == "*1\r\n$4\r\nPING\r\n")
        // A reply is owed: the GET joins the batch and goes out with the next read.
        let get = harness.send(RESPCommand("GET", "k"))
        #expect(try harness.written().writes == 0)
        try harness.serverSends("+PONG\r\n")
        #expect(ping.value == .simpleString("PONG"))
        #expect(try harness.written().text == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        try harness.serverSends("$1\r\nv\r\n")
        #expect(get.value == .bulkString(ByteBuffer(string: "v")))
    }

    /// Auto-pipelining: commands handed over while replies are owed wait for the next read and go out in one write.
    @Test("commands handed over while replies are owed go out together, in one write, at the next read")
    func coalescedUntilNextRead() throws {
        let harness = try Harness()
        let first = harness.send(RESPCommand("PING"))
        _ = try harness.written()
        let later = (0..<20).map { harness.send(RESPCommand("ECHO", "\($0)")) }
        #expect(try harness.written().writes == 0, "nothing written while the PING's reply is owed")
        try harness.serverSends("+PONG\r\n")
        #expect(first.value == .simpleString("PONG"))
        let written = try harness.written()
        #expect(written.writes == 1)
        #expect(written.text == (0..<20).map { "*2\r\n$4\r\nECHO\r\n$\(String($0).utf8.count)\r\n\($0)\r\n" }.joined())
        try harness.serverSends((0..<20).map { "$\(String($0).utf8.count)\r\n\($0)\r\n" }.joined())
        #expect(later.map(\.value) == (0..<20).map { .bulkString(ByteBuffer(string: "\($0)")) })
        // Nothing owed any more: the next command is written at once.
        _ = harness.send(RESPCommand("PING"))
        #expect(try harness.written().writes == 1)
    }

    /// Auto-pipelining never costs a command its timeout: it is written before its deadline even when no reply comes.
    @Test("a command due before the loop would be back is written at once; the others at the timer at the latest")
    func deferralBoundedByDeadlines() throws {
        let harness = try Harness(silence: SilenceRule(limit: nil))
        let slow = harness.send(RESPCommand("BLPOP", "q", "0"), timeout: .seconds(5))
        _ = try harness.written()
        // Due after the loop's timer (5 s): it waits for the next read or the timer.
        let patient = harness.send(RESPCommand("ECHO", "patient"), timeout: .seconds(10))
        #expect(try harness.written().writes == 0)
        // Due before the timer: written now.
        let urgent = harness.send(RESPCommand("ECHO", "urgent"), timeout: .seconds(1))
        let written = try harness.written().text
        #expect(written.contains("patient") && written.contains("urgent"), "the drain it asked for took both")
        harness.advance(.milliseconds(1_100))
        #expect(urgent.error?.code == .commandTimeout)
        // No reply ever comes: a command due after the timer is written when the timer fires, never later.
        let late = harness.send(RESPCommand("ECHO", "late"), timeout: .seconds(30))
        #expect(try harness.written().writes == 0)
        harness.advance(.seconds(4))
        #expect(slow.error?.code == .commandTimeout)
        #expect(try harness.written().text.contains("late"))
        #expect(patient.result == nil && late.result == nil)
    }

    /// Hardening (r): ASKING and its command must go out with nothing between them.
    @Test("a pipeline is one write: nothing can come between its commands")
    func pipelineIsOneWrite() throws {
        let harness = try Harness()
        let replies = harness.send([RESPCommand("ASKING"), RESPCommand("GET", "k")])
        let written = try harness.written()
        #expect(written.writes == 1)
        #expect(written.text == "*1\r\n$6\r\nASKING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        try harness.serverSends("+OK\r\n$1\r\nv\r\n")
        #expect(replies.map(\.value) == [.simpleString("OK"), .bulkString(ByteBuffer(string: "v"))])
    }

    @Test("a timed-out command keeps its place: its late reply is dropped, later replies still match")
    func lateReplyDropped() throws {
        let harness = try Harness(silence: SilenceRule(limit: nil))
        let first = harness.send(RESPCommand("PING"), timeout: .milliseconds(100))
        harness.advance(.milliseconds(150))
        #expect(first.error?.code == .commandTimeout)
        let second = harness.send(RESPCommand("ECHO", "x"))
        try harness.serverSends("+PONG\r\n$1\r\nx\r\n")
        #expect(second.value == .bulkString(ByteBuffer(string: "x")))
        #expect(harness.channel.isActive)
    }

    /// Hardening (i): pushes used to keep "last read" fresh, so a connection whose PINGs went unanswered was
    /// never declared dead.
    @Test("pushes are not replies: a connection that only pushes while PINGs go unanswered is dead")
    func pushesAreNotReplies() throws {
        let harness = try Harness(silence: SilenceRule(limit: .seconds(3)))
        var probes: [Reply] = []
        for second in 0..<10 {
            probes.append(harness.send(RESPCommand("PING"), timeout: .seconds(1)))
            for _ in 0..<4 {
                if harness.channel.isActive {
                    try harness.serverSends(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\nspam\r\n")
                }
                harness.advance(.milliseconds(250))
            }
            if harness.terminalError != nil {
                #expect(second >= 2 && second <= 3, "declared dead after \(second + 1) s of silence")
                break
            }
        }
        #expect(harness.terminalError?.code == .unresponsive)
        #expect(!harness.channel.isActive)
        #expect(harness.shared.hasFailed)
        #expect(harness.pushes.withLockedValue { $0.count } >= 8)
        #expect(probes.allSatisfy { $0.error != nil })
    }

    /// Hardening (i): bytes of a reply that never finishes are not a reply either.
    @Test("a reply drip-fed without end does not keep the connection alive")
    func dripFedReply() throws {
        let harness = try Harness(silence: SilenceRule(limit: .seconds(3)))
        let get = harness.send(RESPCommand("GET", "k"), timeout: .seconds(1))
        try harness.serverSends("$100000\r\n")
        var ticks = 0
        while harness.channel.isActive && ticks < 100 {
            try harness.serverSends("x")
            if ticks % 4 == 0 { _ = harness.send(RESPCommand("PING"), timeout: .seconds(1)) }
            harness.advance(.milliseconds(250))
            ticks += 1
        }
        #expect(get.error?.code == .commandTimeout)
        #expect(harness.terminalError?.code == .unresponsive)
        #expect(ticks <= 20, "closed after \(ticks) quarter seconds")
    }

    /// Hardening (i): timed-out commands used to pile up without bound while their replies never came.
    @Test("the queue of timed-out commands awaiting late replies is bounded")
    func unansweredBounded() throws {
        let harness = try Harness(silence: SilenceRule(limit: nil, maxUnansweredTimedOut: 10))
        for _ in 0..<10 {
            _ = harness.send(RESPCommand("PING"), timeout: .milliseconds(10))
            harness.advance(.milliseconds(20))
        }
        #expect(harness.channel.isActive, "10 unanswered timed-out commands are tolerated")
        _ = harness.send(RESPCommand("PING"), timeout: .milliseconds(10))
        harness.advance(.milliseconds(20))
        #expect(harness.terminalError?.code == .unresponsive)
        #expect(harness.terminalError?.message.contains("11 timed-out commands") == true)
    }

    @Test("a slow reply within the silence limit does not kill the connection")
    func slowButAlive() throws {
        let harness = try Harness(silence: SilenceRule(limit: .seconds(3)))
        let slow = harness.send(RESPCommand("PING"), timeout: .seconds(1))
        harness.advance(.seconds(2))
        #expect(slow.error?.code == .commandTimeout)
        try harness.serverSends("+PONG\r\n")  // late, but a reply: the server is alive
        let next = harness.send(RESPCommand("PING"), timeout: .seconds(1))
        harness.advance(.milliseconds(1500))
        #expect(next.error?.code == .commandTimeout)
        #expect(harness.channel.isActive, "owed a reply for only 1.5 s")
    }

    /// Hardening (j): a TLS peer closing without close_notify after the handshake has closed the connection;
    /// nothing is misconfigured.
    @Test("TLS unclean shutdown after the handshake is a closed connection, before it a TLS failure")
    func tlsClassification() throws {
        #expect(RedisClientError.classify(NIOSSLError.uncleanShutdown, endpoint: "e", tlsEstablished: true).code == .connectionClosed)
        #expect(RedisClientError.classify(NIOSSLError.uncleanShutdown, endpoint: "e", tlsEstablished: false).code == .tls)

        let harness = try Harness()
        let pending = harness.send(RESPCommand("PING"))
        harness.channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        harness.channel.pipeline.fireErrorCaught(NIOSSLError.uncleanShutdown)
        #expect(harness.terminalError?.code == .connectionClosed)
        #expect(pending.error?.code == .connectionClosed)
    }

    /// Hardening (k): the connection is marked failed, and whoever waits for its end is woken, at the failure:
    /// not when a TLS close finishes waiting for the peer.
    @Test("a terminal error marks the connection failed at once")
    func terminalAtOnce() throws {
        let harness = try Harness()
        let terminated = Reply()
        harness.handler.terminated.futureResult.whenSuccess { terminated.result = .success(.simpleString(ByteBuffer(string: "\($0.code)"))) }
        #expect(!harness.shared.hasFailed)
        harness.channel.pipeline.fireErrorCaught(IOError(errnoCode: 104, reason: "read"))
        #expect(harness.shared.hasFailed)
        #expect(terminated.value == .simpleString(ByteBuffer(string: "socket")))
        let late = harness.send(RESPCommand("PING"))
        #expect(late.error?.code == .socket, "a failed connection refuses new commands at once")
    }

    @Test("a reply nobody asked for is a protocol error")
    func unsolicited() throws {
        let harness = try Harness()
        try harness.serverSends("+SURPRISE\r\n")
        #expect(harness.terminalError?.code == .protocolError)
    }

    /// Hardening (a), end to end: a hostile attribute chain fails this connection with a protocol error.
    @Test("an attribute chain fails the connection with a protocol error")
    func attributeChain() throws {
        let harness = try Harness()
        let ping = harness.send(RESPCommand("PING"))
        try? harness.serverSends(String(repeating: "|0\r\n", count: 1_400) + "+PONG\r\n")
        #expect(ping.error?.code == .protocolError)
        #expect(harness.terminalError?.message.contains("nesting too deep") == true)
    }
}
