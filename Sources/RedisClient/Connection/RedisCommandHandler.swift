import Logging
import NIOCore
import NIOTLS
import RESP

/// Pipelines commands on one channel and matches replies to them in order: the driver of
/// ``CommandQueueStateMachine``, which holds the rules (order, timeouts, silence, pushes, the end). The handler only
/// runs what the state machine answers, on the event loop: it writes, parses, sets its one timer, resumes callers
/// and closes the channel.
///
/// - Any error (socket, TLS, protocol) or EOF fails every command in flight with a typed error and closes.
///   ``terminated`` completes at that moment, without waiting for the channel to finish closing (a TLS
///   close may wait for the peer's close_notify).
/// - Commands arrive through ``CommandSubmitter`` (not `Channel.write`): callers append to a shared batch, and one
///   event-loop turn per batch encodes them all into one buffer and flushes once (auto-pipelining).
/// - Replies are parsed here, from the bytes read, rather than by a decoder in front: a decoder hands each value
///   on through the pipeline boxed and type-checked, which cost more than parsing a short reply.
/// - Every time here is the event loop's (`EventLoop.now`), so tests on an embedded loop move it at will.
final class RedisCommandHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let endpoint: String
    private let logger: Logger
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let shared: ConnectionSharedState
    private var queue: CommandQueueStateMachine<ReplySink>
    /// Commands awaiting their replies, those that timed out not counted.
    var commandsInFlight: Int { self.queue.commandsInFlight }
    /// When the last complete value (reply or push) arrived, or the connection became active.
    var lastReadAt: NIODeadline { self.queue.lastReadAt }
    /// The error the connection ended with, once it has ended.
    var closeReason: RedisClientError? { self.queue.closeReason }
    /// One timer for all commands, set where the state machine says (the earliest deadline in flight), rounded up
    /// to the millisecond and shared with the loop's other connections (``LoopTimers``).
    private var timer: LoopTimers.Token?
    private let timers: LoopTimers
    private var context: ChannelHandlerContext?
    private var parser: RESPParser
    /// Bytes of a reply not complete yet, kept for the next read (the parser resumes where it stopped).
    private var unparsed: ByteBuffer?
    /// Replies parsed from the current read, handed to their callers once the read is parsed (see channelRead).
    private var completed: [(sink: ReplySink, value: RESPValue)] = []
    /// The batch taken by the last drain, kept empty between drains so that its storage is reused.
    private var drained: [QueuedCommand] = []
    /// Callers waiting until no command awaits its reply (a connection handed off drains before it closes).
    private var idleWaiters: [Int: EventLoopPromise<Void>] = [:]
    private var nextIdleWaiter = 0
    /// Completed with the terminal error at the moment the connection fails or closes.
    let terminated: EventLoopPromise<RedisClientError>
    private var terminatedSignalled = false
    /// Whether the TLS handshake has completed: a peer going away without close_notify after it has closed the
    /// connection, nothing is misconfigured.
    private var tlsEstablished = false
    /// Whether the Redis handshake (HELLO/AUTH) has completed: TLS errors after it are connection failures. (A
    /// TLS 1.3 server refusing a client certificate does so after the client's TLS handshake, before this.)
    private var established = false

    init(
        endpoint: String, logger: Logger, subscriber: Bool, silenceRule: SilenceRule = SilenceRule(),
        parserLimits: RESPParser.Limits = RESPParser.Limits(),
        shared: ConnectionSharedState = ConnectionSharedState(), eventLoop: any EventLoop,
        onPush: (@Sendable (RESPValue) -> Void)?
    ) {
        self.endpoint = endpoint
        self.logger = logger
        self.shared = shared
        self.onPush = onPush
        self.parser = RESPParser(limits: parserLimits)
        self.queue = CommandQueueStateMachine(endpoint: endpoint, silenceRule: silenceRule, subscriber: subscriber, now: eventLoop.now)
        self.terminated = eventLoop.makePromise(of: RedisClientError.self)
        self.timers = LoopTimers.on(eventLoop)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.queue.activated(now: context.eventLoop.now)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        let action = self.queue.fail(RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "connection closed"))
        self.ended(action)
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
            let returnsBy = self.queue.loopReturnsBy
            self.shared.outbound.withLock { $0.loopReturns(by: returnsBy) }
        }
        guard !self.drained.isEmpty else { return }
        let now = self.context?.eventLoop.now ?? .now()
        let written = self.drained.lazy.map {
            CommandQueueStateMachine<ReplySink>.Pending(command: $0.command, sink: $0.sink, deadline: $0.deadline, timeout: $0.timeout)
        }
        guard let context else {
            // The batch is closed at the end, before the context goes: only a drain racing the handler's removal
            // gets here.
            let error = self.queue.closeReason ?? RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "connection closed")
            for command in self.drained { command.fail(error) }
            return
        }
        switch self.queue.write(written, now: now) {
        case .refuse(let error):
            for command in self.drained { command.fail(error) }
            return
        case .write(let setTimerAt):
            if let setTimerAt { self.setTimer(at: setTimerAt, context: context) }
        }
        var buffer = context.channel.allocator.buffer(capacity: 64 * self.drained.count)
        for queued in self.drained { queued.command.encode(into: &buffer) }
        // One promise per batch, not per command: a write the channel refuses fails the connection, and with it
        // every command queued (a socket error closes it anyway; this covers a refusal that does not).
        let promise = context.eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenFailure { error in loopBound.value.writeFailed(error) }
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: promise)
    }

    private func writeFailed(_ error: any Error) {
        guard let context, self.queue.closeReason == nil else { return }
        self.fail(self.classify(error), context: context)
    }

    private func setTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        if let timer = self.timer { self.timers.cancel(timer) }
        self.timer = self.timers.schedule(at: deadline.roundedUpToMillisecond) { [self] in self.timerFired() }
    }

    private func timerFired() {
        self.timer = nil
        let action = self.queue.timerFired(now: self.context?.eventLoop.now ?? .now())
        for expired in action.expired {
            self.logger.debug(
                "Command timed out",
                metadata: [
                    "redis.endpoint": "\(self.endpoint)", "redis.command": "\(expired.error.command ?? "")",
                    "redis.owing_ms": "\(expired.owing.nanoseconds / 1_000_000)",
                ])
            expired.sink.fail(expired.error)
        }
        if let close = action.close, let context {
            self.logger.debug("Closing silent connection", metadata: ["redis.endpoint": "\(self.endpoint)", "error": "\(close)"])
            self.fail(close, context: context)
            return
        }
        if let setTimerAt = action.setTimerAt, let context { self.setTimer(at: setTimerAt, context: context) }
        self.wakeIdleWaiters()
        // The batch may rely on this turn (see OutboundBatch): what waits in it is written now.
        self.writeQueued()
    }

    /// Succeeds once no command awaits its reply (the connection's end counts), or at `deadline`.
    func whenIdle(by deadline: NIODeadline) -> EventLoopFuture<Void> {
        let eventLoop = self.terminated.futureResult.eventLoop
        guard self.queue.commandsInFlight > 0, self.queue.closeReason == nil else { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        let id = self.nextIdleWaiter
        self.nextIdleWaiter += 1
        self.idleWaiters[id] = promise
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(deadline: deadline) { loopBound.value.idleWaiters.removeValue(forKey: id)?.succeed() }
        return promise.futureResult
    }

    private func wakeIdleWaiters() {
        guard !self.idleWaiters.isEmpty, self.queue.commandsInFlight == 0 || self.queue.closeReason != nil else { return }
        let waiters = self.idleWaiters
        self.idleWaiters = [:]
        for promise in waiters.values { promise.succeed() }
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Once failed, the connection is closing: what still arrives is not read.
        guard self.queue.closeReason == nil else { return }
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
            while self.queue.closeReason == nil, let value = try self.parser.parse(&bytes) {
                switch self.queue.read(value, now: now) {
                case .succeed(let sink, let value): self.completed.append((sink, value))
                case .push(let value): self.onPush?(value)
                case .none: break
                case .close(let error): self.fail(error, context: context)
                }
            }
        } catch {
            self.errorCaught(context: context, error: error)
            return
        }
        if bytes.readableBytes > 0, self.queue.closeReason == nil {
            // Bytes already parsed are dropped; the unfinished reply's stay where the parser expects them (at
            // the reader index).
            bytes.discardReadBytes()
            self.unparsed = bytes
        }
    }

    /// Replies in one read from which their callers' next commands are written in two batches (see
    /// ``deliverCompleted()``).
    static let splitDeliveryAt = 16

    /// Hands the replies of the read to their callers, in order. Replies read before a failure are delivered too:
    /// they had already left the queue that the failure empties.
    private func deliverCompleted() {
        guard !self.completed.isEmpty else { return }
        // Many replies in one read: a drain goes between the first half of the callers and the second. Callers
        // that run on this loop (``EventLoopTaskExecutor``) run in the order they are resumed, so the commands of
        // the first half are written while the second half still runs, and the server works on them meanwhile,
        // where one write after everybody left it idle for all that time.
        let half = self.completed.count >= Self.splitDeliveryAt ? self.completed.count / 2 : -1
        for (index, (sink, value)) in self.completed.enumerated() {
            sink.succeed(value)
            if index == half, let eventLoop = self.context?.eventLoop {
                let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
                eventLoop.execute { loopBound.value.writeQueued() }
            }
        }
        self.completed.removeAll(keepingCapacity: true)
        if self.completed.capacity > 4_096 { self.completed = [] }
        self.wakeIdleWaiters()
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
        self.fail(self.classify(error), context: context)
    }

    private func classify(_ error: any Error) -> RedisClientError {
        RedisClientError.classify(error, endpoint: self.endpoint, tlsEstablished: self.tlsEstablished, established: self.established)
    }

    /// The Redis handshake succeeded: the connection is in use.
    func handshakeCompleted() {
        self.established = true
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ended(self.queue.fail(RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "the server closed the connection")))
        context.fireChannelInactive()
    }

    /// Closes the channel because the client decided so; in-flight commands fail with `error`.
    func closeWithError(_ error: RedisClientError) {
        guard let context else {
            self.ended(self.queue.fail(error))
            return
        }
        self.fail(error, context: context)
    }

    private func fail(_ error: RedisClientError, context: ChannelHandlerContext) {
        let action = self.queue.fail(error)
        if action.ended {
            self.logger.debug(
                "Connection failed",
                metadata: ["redis.endpoint": "\(self.endpoint)", "error.kind": "\(error.code)", "error": "\(error)"])
        }
        self.ended(action)
        context.close(promise: nil)
    }

    /// Runs the end: the timer cancelled, the callers in flight failed, the connection marked failed for everybody
    /// (never handed out again), what waited in the batch failed, whoever waits for the end woken.
    private func ended(_ action: CommandQueueStateMachine<ReplySink>.FailAction) {
        if let timer = self.timer { self.timers.cancel(timer) }
        self.timer = nil
        for (sink, error) in action.failed { sink.fail(error) }
        self.wakeIdleWaiters()
        guard !self.terminatedSignalled else { return }
        self.terminatedSignalled = true
        self.shared.failed.store(true, ordering: .releasing)
        // Commands handed over but not yet written fail with the same error; later ones are refused with it.
        let waiting = self.shared.outbound.withLock { $0.close(action.error) }
        for command in waiting { command.fail(action.error) }
        self.terminated.succeed(action.error)
    }
}
