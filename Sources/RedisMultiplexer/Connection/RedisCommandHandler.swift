import Logging
import NIOCore
import NIOSSL
import RESP

/// What the I/O layer asks the handler to do: write a command and complete `promise` with its reply.
struct RedisRequest {
    var command: RESPCommand
    var promise: EventLoopPromise<RESPValue>
    var timeout: TimeAmount
}

/// Pipelines commands on one channel and matches replies to them in order.
///
/// - A command that times out fails with ``RedisClientError/Code-swift.struct/commandTimeout`` but keeps its
///   place in the queue: its late reply, if it ever comes, is read and dropped, so later replies still reach
///   the right callers.
/// - RESP3 push messages are handed to `onPush`, never matched to a command.
/// - Any error (socket, TLS, protocol) or EOF fails every command in flight with a typed error and closes.
/// - Writes made in one event-loop tick go out in one flush.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var command: RESPCommand
        var promise: EventLoopPromise<RESPValue>?
        var deadline: NIODeadline
        var timeout: TimeAmount
        /// The command's name, for errors and for matching (un)subscribe confirmations; computed when needed.
        var name: String { self.command.name }
    }

    let endpoint: String
    private let logger: Logger
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// One timer for all commands, set at the earliest deadline in flight (not one timer per command).
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var context: ChannelHandlerContext?
    private var flushScheduled = false
    /// Set once the channel is failing or closed; later writes fail with it at once.
    private var terminalError: RedisClientError?
    /// When the last byte-complete value arrived (or the connection became active).
    private(set) var lastReadAt: NIODeadline = .now()

    /// A subscriber connection: RESP2 `message`/`pmessage`/`smessage` arrays are pushes, not replies.
    private let subscriber: Bool
    /// The error the connection ended with, once it has ended.
    var closeReason: RedisClientError? { self.terminalError }

    init(endpoint: String, logger: Logger, subscriber: Bool, onPush: (@Sendable (RESPValue) -> Void)?) {
        self.endpoint = endpoint
        self.logger = logger
        self.subscriber = subscriber
        self.onPush = onPush
    }

    private static let messageKinds: Set<String> = ["message", "pmessage", "smessage"]
    private static let confirmationKinds: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
    ]

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.lastReadAt = .now()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if let terminalError {
            request.promise.fail(terminalError.forCommand(request.command.name))
            promise?.fail(terminalError)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        request.command.encode(into: &buffer)
        let deadline = NIODeadline.now() + request.timeout
        self.pending.append(
            Pending(command: request.command, promise: request.promise, deadline: deadline, timeout: request.timeout))
        if self.timerDeadline.map({ deadline < $0 }) ?? true {
            self.scheduleTimer(at: deadline, context: context)
        }
        context.write(self.wrapOutboundOut(buffer), promise: promise)
        self.scheduleFlush(context: context)
    }

    private func scheduleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timerDeadline = deadline
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            loopBound.value.timerFired()
        }
    }

    /// Fails every command past its deadline, then sets the timer for the next earliest deadline.
    private func timerFired() {
        self.timer = nil
        self.timerDeadline = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        for index in self.pending.indices where self.pending[index].promise != nil {
            if self.pending[index].deadline <= now {
                self.commandTimedOut(at: index)
            } else {
                next = min(next ?? self.pending[index].deadline, self.pending[index].deadline)
            }
        }
        if let next, let context = self.context {
            self.scheduleTimer(at: next, context: context)
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
    }

    /// Coalesces the writes of one event-loop tick into a single flush (one syscall for many callers).
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = loopBound.value
            handler.flushScheduled = false
            handler.context?.flush()
        }
    }

    private func commandTimedOut(at index: CircularBuffer<Pending>.Index) {
        guard let promise = self.pending[index].promise else { return }
        let name = self.pending[index].name
        let timeout = self.pending[index].timeout
        self.pending[index].promise = nil
        let silence = NIODeadline.now() - self.lastReadAt
        self.logger.debug(
            "Command timed out",
            metadata: [
                "redis.endpoint": "\(self.endpoint)", "redis.command": "\(name)",
                "redis.silence_ms": "\(silence.nanoseconds / 1_000_000)",
            ])
        promise.fail(
            RedisClientError(
                .commandTimeout, endpoint: self.endpoint, command: name,
                message: "no reply within \(Duration.nanoseconds(timeout.nanoseconds).humanReadable)"))
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = self.unwrapInboundIn(data)
        self.lastReadAt = .now()
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
        first.promise?.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(RedisClientError.classify(error, endpoint: self.endpoint), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error =
            self.terminalError
            ?? RedisClientError(.connectionClosed, endpoint: self.endpoint, message: "the server closed the connection")
        self.terminalError = error
        self.failPending(error)
        context.fireChannelInactive()
    }

    /// Closes the channel because the client decided so; in-flight commands fail with `error`.
    func closeWithError(_ error: RedisClientError) {
        guard let context else { return }
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
        context.close(promise: nil)
    }

    private func failPending(_ error: RedisClientError) {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        while let entry = self.pending.popFirst() {
            entry.promise?.fail(error.forCommand(entry.name))
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
    static func classify(_ error: any Error, endpoint: String) -> RedisClientError {
        switch error {
        case let error as RedisClientError:
            return error
        case let error as RESPParsingError:
            return RedisClientError(
                .protocolError, endpoint: endpoint, message: "\(error); is this port really a Redis server?",
                underlying: error)
        case let error as NIOSSLError:
            return RedisClientError(
                .tls, endpoint: endpoint,
                message: "TLS failed: \(error); check tls.ca_file, tls.server_name and that the port speaks TLS",
                underlying: error)
        case let error as NIOSSLExtraError:
            return RedisClientError(.tls, endpoint: endpoint, message: "TLS failed: \(error)", underlying: error)
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
