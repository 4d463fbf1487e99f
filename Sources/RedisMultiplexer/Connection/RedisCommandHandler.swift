import Logging
import NIOCore
import NIOSSL
import NIOTLS
import RESP
import Synchronization

/// Where a command's reply goes.
enum ReplySink: Sendable {
    /// A caller suspended in `withCheckedThrowingContinuation`: resumed straight from the event loop, with no
    /// future, callback or further hop in between.
    case continuation(CheckedContinuation<RESPValue, any Error>)
    /// A caller holding futures (the commands of a pipeline: one task cannot await several continuations).
    case promise(EventLoopPromise<RESPValue>)
    /// Nobody waits (an UNSUBSCRIBE on the way out): the reply is read and dropped.
    case discard

    func succeed(_ value: RESPValue) {
        switch self {
        case .continuation(let continuation): continuation.resume(returning: value)
        case .promise(let promise): promise.succeed(value)
        case .discard: break
        }
    }

    func fail(_ error: RedisClientError) {
        switch self {
        case .continuation(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        case .discard: break
        }
    }
}

/// A command handed to the handler, with where its reply goes and how long it may take.
struct QueuedCommand: Sendable {
    var command: RESPCommand
    var sink: ReplySink
    var timeout: TimeAmount
    /// When it was handed over, plus `timeout`: the time in the batch counts toward its timeout.
    var deadline: NIODeadline

    func fail(_ error: RedisClientError) {
        self.sink.fail(error.forCommand(self.command.name))
    }
}

/// How callers on any thread hand commands to a connection's handler: into the shared batch, asking the event
/// loop for a drain only when ``OutboundBatch`` says so (not once per command).
struct CommandSubmitter: Sendable {
    let shared: ConnectionSharedState
    let handler: NIOLoopBound<RedisCommandHandler>
    let eventLoop: any EventLoop

    func submit(_ command: RESPCommand, sink: ReplySink, timeout: TimeAmount) {
        let deadline = self.eventLoop.now + timeout
        let queued = QueuedCommand(command: command, sink: sink, timeout: timeout, deadline: deadline)
        let action = self.shared.outbound.withLock { $0.append(queued, deadline: deadline) }
        self.act(on: action, refusing: CollectionOfOne(queued))
    }

    /// Submits `commands` together: they are written back to back, with nothing another caller sends between them.
    func submit(together commands: [(command: RESPCommand, sink: ReplySink)], timeout: TimeAmount) {
        let deadline = self.eventLoop.now + timeout
        let queued = commands.map { QueuedCommand(command: $0.command, sink: $0.sink, timeout: timeout, deadline: deadline) }
        let action = self.shared.outbound.withLock { $0.append(contentsOf: queued, deadline: deadline) }
        self.act(on: action, refusing: queued)
    }

    private func act(on action: OutboundBatch<QueuedCommand, NIODeadline>.AppendAction, refusing commands: some Collection<QueuedCommand>) {
        switch action {
        case .none:
            break
        case .scheduleDrain:
            let handler = self.handler
            self.eventLoop.execute { handler.value.writeQueued() }
        case .refused(let error):
            for command in commands { command.fail(error) }
        }
    }
}

/// How the handler decides that a connection whose replies stopped is dead.
struct SilenceRule: Sendable {
    /// A command timing out after the connection has owed a reply for this long, with none arriving, closes
    /// it. `nil`: never.
    var limit: TimeAmount?
    /// At most this many commands that timed out may still await their late replies; one more closes the
    /// connection (the server is not answering, whatever else it sends).
    var maxUnansweredTimedOut: Int = 1_000
}

/// State other threads may read without hopping to the event loop.
final class ConnectionSharedState: Sendable {
    /// Set at the first terminal error: from then on the connection is never handed out again.
    let failed = Atomic<Bool>(false)
    /// Commands handed over by callers and not yet taken by the event loop; closed at the terminal error.
    let outbound = Mutex(OutboundBatch<QueuedCommand, NIODeadline>())

    /// Whether the connection has met a terminal error.
    var hasFailed: Bool { self.failed.load(ordering: .acquiring) }
}

/// Pipelines commands on one channel and matches replies to them in order.
///
/// - A command that times out fails with ``RedisClientError/Code-swift.struct/commandTimeout`` but keeps its
///   place in the queue: its late reply, if it ever comes, is read and dropped, so later replies still reach
///   the right callers.
/// - Silence is judged here, on the event loop: when a command times out and the connection has owed a reply
///   for the silence limit without sending one, it is dead. Pushes and bytes of an unfinished reply are not
///   replies: a server that sends pub/sub messages, or drips a reply byte by byte, while never answering
///   is silent.
/// - RESP3 push messages are handed to `onPush`, never matched to a command.
/// - Any error (socket, TLS, protocol) or EOF fails every command in flight with a typed error and closes.
///   ``terminated`` completes at that moment, without waiting for the channel to finish closing (a TLS
///   close may wait for the peer's close_notify).
/// - Commands arrive through ``CommandSubmitter`` (not `Channel.write`): callers append to a shared batch, and one
///   event-loop turn per batch encodes them all into one buffer and flushes once (auto-pipelining).
/// - Replies are parsed here, from the bytes read, rather than by a decoder in front: a decoder hands each value
///   on through the pipeline boxed and type-checked, which cost more than parsing a short reply.
final class RedisCommandHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var command: RESPCommand
        /// Nil once the command timed out: its late reply is read and dropped.
        var sink: ReplySink?
        var deadline: NIODeadline
        var timeout: TimeAmount
        /// The command's name, for errors and for matching (un)subscribe confirmations; computed when needed.
        var name: String { self.command.name }
    }

    let endpoint: String
    private let logger: Logger
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let silenceRule: SilenceRule
    private let shared: ConnectionSharedState
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Commands in `pending` that timed out and still await their late reply.
    private var unansweredTimedOut = 0
    /// Commands awaiting their replies, those that timed out not counted.
    var commandsInFlight: Int { max(0, self.pending.count - self.unansweredTimedOut) }
    /// One timer for all commands, set at the earliest deadline in flight (not one timer per command).
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var context: ChannelHandlerContext?
    private var parser: RESPParser
    /// Bytes of a reply not complete yet, kept for the next read (the parser resumes where it stopped).
    private var unparsed: ByteBuffer?
    /// Replies parsed from the current read, handed to their callers once the read is parsed (see channelRead).
    private var completed: [(sink: ReplySink, value: RESPValue)] = []
    /// The batch taken by the last drain, kept empty between drains so that its storage is reused.
    private var drained: [QueuedCommand] = []
    /// Set once the channel is failing or closed; later writes fail with it at once.
    private var terminalError: RedisClientError?
    /// Completed with the terminal error at the moment the connection fails or closes.
    let terminated: EventLoopPromise<RedisClientError>
    private var terminatedSignalled = false
    /// When the last complete value (reply or push) arrived, or the connection became active. Every time here is
    /// the event loop's (`EventLoop.now`), so tests on an embedded loop move it at will.
    private(set) var lastReadAt: NIODeadline = .now()
    /// Since when the connection owes a reply without having sent one: set when a command is written while none
    /// is pending, moved on by every reply, cleared when nothing is pending.
    private var owingSince: NIODeadline?
    /// Whether the TLS handshake has completed: a peer going away without close_notify after it has closed the
    /// connection, nothing is misconfigured.
    private var tlsEstablished = false
    /// Whether the Redis handshake (HELLO/AUTH) has completed: TLS errors after it are connection failures. (A
    /// TLS 1.3 server refusing a client certificate does so after the client's TLS handshake, before this.)
    private var established = false

    /// A subscriber connection: RESP2 `message`/`pmessage`/`smessage` arrays are pushes, not replies.
    private let subscriber: Bool
    /// The error the connection ended with, once it has ended.
    var closeReason: RedisClientError? { self.terminalError }

    init(
        endpoint: String, logger: Logger, subscriber: Bool, silenceRule: SilenceRule = SilenceRule(),
        parserLimits: RESPParser.Limits = RESPParser.Limits(),
        shared: ConnectionSharedState = ConnectionSharedState(), eventLoop: any EventLoop,
        onPush: (@Sendable (RESPValue) -> Void)?
    ) {
        self.endpoint = endpoint
        self.logger = logger
        self.subscriber = subscriber
        self.silenceRule = silenceRule
        self.shared = shared
        self.onPush = onPush
        self.parser = RESPParser(limits: parserLimits)
        self.terminated = eventLoop.makePromise(of: RedisClientError.self)
    }

    private static let messageKinds: Set<String> = ["message", "pmessage", "smessage"]
    private static let confirmationKinds: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
    ]

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.lastReadAt = context.eventLoop.now
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.terminate(
            self.terminalError
                ?? RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "connection closed"))
    }

    // MARK: outbound

    /// The drain of the shared batch (on the event loop: when asked, after every read, and when the timer fires):
    /// encodes every command into one buffer, queues them for their replies and flushes once. Then tells the
    /// batch when the loop will be back by itself.
    func writeQueued() {
        self.shared.outbound.withLock { $0.take(swappingWith: &self.drained) }
        defer {
            self.drained.removeAll(keepingCapacity: true)
            // One burst of thousands of callers should not pin that much memory for the connection's lifetime.
            if self.drained.capacity > 4_096 { self.drained = [] }
            // Replies still owed bring the loop back at the next read, or at the latest when the timer fires (it is
            // set whenever a command still awaits its reply). With none owed, the next command must ask.
            let returnsBy = self.commandsInFlight > 0 ? self.timerDeadline : nil
            self.shared.outbound.withLock { $0.loopReturns(by: returnsBy) }
        }
        guard !self.drained.isEmpty else { return }
        guard let context, self.terminalError == nil else {
            // The batch is closed at the terminal error, before the context goes: only a drain racing the
            // handler's removal gets here.
            let error = self.terminalError ?? RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "connection closed")
            for command in self.drained { command.fail(error) }
            return
        }
        if self.pending.isEmpty { self.owingSince = context.eventLoop.now }
        var buffer = context.channel.allocator.buffer(capacity: 64 * self.drained.count)
        var earliest: NIODeadline?
        for queued in self.drained {
            queued.command.encode(into: &buffer)
            self.pending.append(Pending(command: queued.command, sink: queued.sink, deadline: queued.deadline, timeout: queued.timeout))
            earliest = min(earliest ?? queued.deadline, queued.deadline)
        }
        if let earliest, self.timerDeadline.map({ earliest < $0 }) ?? true {
            self.scheduleTimer(at: earliest, context: context)
        }
        // One promise per batch, not per command: a write the channel refuses fails the connection, and with it
        // every command queued (a socket error closes it anyway; this covers a refusal that does not).
        let written = context.eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenFailure { error in loopBound.value.writeFailed(error) }
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: written)
    }

    private func writeFailed(_ error: any Error) {
        guard let context, self.terminalError == nil else { return }
        self.fail(
            RedisClientError.classify(error, endpoint: self.endpoint, tlsEstablished: self.tlsEstablished, established: self.established),
            context: context)
    }

    private func scheduleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timerDeadline = deadline
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.timerFired()
        }
    }

    /// Fails every command past its deadline, judges silence, then sets the timer for the next earliest deadline.
    private func timerFired() {
        self.timer = nil
        self.timerDeadline = nil
        let now = self.context?.eventLoop.now ?? .now()
        var next: NIODeadline?
        var timedOut = false
        for index in self.pending.indices where self.pending[index].sink != nil {
            if self.pending[index].deadline <= now {
                self.commandTimedOut(at: index, now: now)
                timedOut = true
            } else {
                next = min(next ?? self.pending[index].deadline, self.pending[index].deadline)
            }
        }
        if timedOut, self.judgeSilence(now: now) { return }
        if let next, let context = self.context {
            self.scheduleTimer(at: next, context: context)
        }
        // The batch may rely on this turn (see OutboundBatch): what waits in it is written now.
        self.writeQueued()
    }

    /// After a command timed out: closes the connection when it has owed a reply for the silence limit, or
    /// when too many timed-out commands still await replies. Returns whether it closed.
    private func judgeSilence(now: NIODeadline) -> Bool {
        guard let context = self.context else { return false }
        if let limit = self.silenceRule.limit, let owingSince = self.owingSince, now - owingSince >= limit {
            let silence = Duration.nanoseconds((now - owingSince).nanoseconds)
            self.logger.debug(
                "Closing silent connection",
                metadata: ["redis.endpoint": "\(self.endpoint)", "redis.silence": "\(silence.humanReadable)"])
            self.fail(
                RedisClientError(
                    .unresponsive, endpoint: self.endpoint,
                    message: "no reply for \(silence.humanReadable) while commands went unanswered; connection declared dead"),
                context: context)
            return true
        }
        if self.unansweredTimedOut > self.silenceRule.maxUnansweredTimedOut {
            self.fail(
                RedisClientError(
                    .unresponsive, endpoint: self.endpoint,
                    message: "\(self.unansweredTimedOut) timed-out commands still unanswered; connection declared dead"),
                context: context)
            return true
        }
        return false
    }

    private func commandTimedOut(at index: CircularBuffer<Pending>.Index, now: NIODeadline) {
        guard let sink = self.pending[index].sink else { return }
        let name = self.pending[index].name
        let timeout = self.pending[index].timeout
        self.pending[index].sink = nil
        self.unansweredTimedOut += 1
        let owing = self.owingSince.map { now - $0 } ?? .zero
        self.logger.debug(
            "Command timed out",
            metadata: [
                "redis.endpoint": "\(self.endpoint)", "redis.command": "\(name)",
                "redis.owing_ms": "\(owing.nanoseconds / 1_000_000)",
            ])
        sink.fail(
            RedisClientError(
                .commandTimeout, endpoint: self.endpoint, command: name,
                message: "no reply within \(Duration.nanoseconds(timeout.nanoseconds).humanReadable)"))
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Once failed, the connection is closing: what still arrives is not read.
        guard self.terminalError == nil else { return }
        var bytes = self.unwrapInboundIn(data)
        if var unparsed = self.unparsed.take() {
            // The parser left off inside a reply: the new bytes continue it.
            unparsed.writeBuffer(&bytes)
            bytes = unparsed
        }
        let now = context.eventLoop.now
        // Callers are resumed together once the read is parsed, not one by one in between: a burst of resumptions
        // keeps the threads running the callers busy, where resuming one at a time let each fall asleep and be
        // woken again (a futex wake-up per reply).
        defer { self.deliverCompleted() }
        do {
            while self.terminalError == nil, let value = try self.parser.parse(&bytes) {
                self.received(value, now: now, context: context)
            }
        } catch {
            self.errorCaught(context: context, error: error)
            return
        }
        if bytes.readableBytes > 0, self.terminalError == nil {
            // Bytes already parsed are dropped; the unfinished reply's stay where the parser expects them (at
            // the reader index).
            bytes.discardReadBytes()
            self.unparsed = bytes
        }
    }

    private func received(_ value: RESPValue, now: NIODeadline, context: ChannelHandlerContext) {
        self.lastReadAt = now
        switch value.withoutAttributes {
        case .push(let elements):
            // RESP3 sends (un)subscribe confirmations as pushes: they answer the (UN)SUBSCRIBE at the head.
            let kind = elements.first?.string?.lowercased() ?? ""
            if Self.confirmationKinds.contains(kind), let head = self.pending.first, head.name.lowercased() == kind {
                break
            }
            self.onPush?(value)
            return
        case .array(let elements) where self.subscriber:
            if let kind = elements.first?.string?.lowercased(), Self.messageKinds.contains(kind) {
                self.onPush?(value)
                return
            }
        default:
            break
        }
        guard let first = self.pending.popFirst() else {
            self.fail(
                RedisClientError(
                    .protocolError, endpoint: self.endpoint,
                    message: "the server sent a \(value.typeName) nobody asked for"),
                context: context)
            return
        }
        self.owingSince = self.pending.isEmpty ? nil : now
        if let sink = first.sink {
            self.completed.append((sink, value))
        } else {
            self.unansweredTimedOut -= 1
        }
    }

    /// Hands the replies of the read to their callers, in order. Replies read before a failure are delivered too:
    /// they had already left the queue that the failure empties.
    private func deliverCompleted() {
        guard !self.completed.isEmpty else { return }
        for (sink, value) in self.completed { sink.succeed(value) }
        self.completed.removeAll(keepingCapacity: true)
        if self.completed.capacity > 4_096 { self.completed = [] }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Commands handed over while replies were owed waited for this (see OutboundBatch): one write for all.
        self.writeQueued()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.tlsEstablished = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(
            RedisClientError.classify(
                error, endpoint: self.endpoint, tlsEstablished: self.tlsEstablished, established: self.established),
            context: context)
    }

    /// The Redis handshake succeeded: the connection is in use.
    func handshakeCompleted() {
        self.established = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error =
            self.terminalError
            ?? RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "the server closed the connection")
        self.terminalError = error
        self.failPending(error)
        self.terminate(error)
        context.fireChannelInactive()
    }

    /// Closes the channel because the client decided so; in-flight commands fail with `error`.
    func closeWithError(_ error: RedisClientError) {
        guard let context else {
            self.terminate(error)
            return
        }
        self.fail(error, context: context)
    }

    private func fail(_ error: RedisClientError, context: ChannelHandlerContext) {
        if self.terminalError == nil {
            self.terminalError = error
            self.logger.debug(
                "Connection failed",
                metadata: ["redis.endpoint": "\(self.endpoint)", "error.kind": "\(error.code)", "error": "\(error)"])
        }
        self.failPending(self.terminalError!)
        self.terminate(self.terminalError!)
        context.close(promise: nil)
    }

    /// Marks the connection failed for everybody (never handed out again) and wakes whoever waits for its end.
    private func terminate(_ error: RedisClientError) {
        guard !self.terminatedSignalled else { return }
        self.terminatedSignalled = true
        self.shared.failed.store(true, ordering: .releasing)
        // Commands handed over but not yet written fail with the same error; later ones are refused with it.
        let waiting = self.shared.outbound.withLock { $0.close(error) }
        for command in waiting { command.fail(error) }
        self.terminated.succeed(error)
    }

    private func failPending(_ error: RedisClientError) {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        self.owingSince = nil
        self.unansweredTimedOut = 0
        while let entry = self.pending.popFirst() {
            entry.sink?.fail(error.forCommand(entry.name))
        }
    }
}

extension RedisClientError {
    /// The same error, attributed to `command`.
    func forCommand(_ command: String) -> RedisClientError {
        var copy = self
        copy.command = command
        return copy
    }

    /// Turns whatever NIO, NIOSSL or the parser threw into a typed error that says what to do.
    ///
    /// - Parameters:
    ///   - tlsEstablished: the TLS handshake had completed. A peer that then goes away without close_notify
    ///     (kill -9, a proxy) has closed the connection; nothing is misconfigured.
    ///   - established: the Redis handshake had completed too: any TLS error is a failure of the connection.
    static func classify(
        _ error: any Error, endpoint: String, tlsEstablished: Bool = false, established: Bool = false
    ) -> RedisClientError {
        switch error {
        case let error as RedisClientError:
            return error
        case is CancellationError:
            return RedisClientError(.cancelled, endpoint: endpoint, message: "cancelled by the caller")
        case let error as RESPParsingError:
            return RedisClientError(
                .protocolError, endpoint: endpoint, message: "\(error); is this port really a Redis server?",
                underlying: error)
        case NIOSSLError.uncleanShutdown where tlsEstablished:
            return RedisClientError(
                .connectionClosed, endpoint: endpoint,
                message: "the server closed the connection (without TLS close_notify)", underlying: error)
        case let error as NIOSSLError where established:
            return RedisClientError(
                .socket, endpoint: endpoint, message: "TLS error on an established connection: \(error)", underlying: error)
        case let error as NIOSSLError:
            return RedisClientError(
                .tls, endpoint: endpoint,
                message: "TLS failed: \(error); is this a TLS port? (a plain port does not answer TLS) Else check tls.ca_file and tls.server_name",
                underlying: error)
        case let error as NIOSSLExtraError:
            return RedisClientError(.tls, endpoint: endpoint, message: "TLS failed: \(error)", underlying: error)
        case let error as BoringSSLError where established:
            return RedisClientError(
                .socket, endpoint: endpoint, message: "TLS error on an established connection: \(error)", underlying: error)
        case let error as BoringSSLError:
            return RedisClientError(.tls, endpoint: endpoint, message: "TLS failed: \(error)", underlying: error)
        case let error as IOError:
            return RedisClientError(.socket, endpoint: endpoint, message: "socket error: \(error)", underlying: error)
        case let error as ChannelError where error == .eof || error == .ioOnClosedChannel || error == .alreadyClosed:
            return RedisClientError(.connectionClosed, endpoint: endpoint, message: "connection closed", underlying: error)
        default:
            return RedisClientError(.socket, endpoint: endpoint, message: "\(error)", underlying: error)
        }
    }
}
