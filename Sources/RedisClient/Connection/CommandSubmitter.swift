import NIOCore
import RESP
import Synchronization

// How callers on any thread hand commands to a connection: where each reply goes, the command as queued, the
// submitter that appends to the shared batch, and the state other threads read without hopping to the event loop.

/// Where a command's reply goes.
enum ReplySink: Sendable {
    /// A caller suspended in `withUnsafeThrowingContinuation`: resumed straight from the event loop, with no
    /// future, callback or further hop in between. (Unchecked: the command queue resumes each sink exactly once —
    /// its timelines test that — and the checked kind cost an allocation per command.)
    case continuation(UnsafeContinuation<RESPValue, any Error>)
    /// A caller holding futures (the commands of a pipeline: one task cannot await several continuations).
    case promise(EventLoopPromise<RESPValue>)
    /// Code on the connection's event loop (the liveness monitor's probes): called there, with no task to resume.
    case callback(@Sendable (Result<RESPValue, RedisClientError>) -> Void)
    /// Nobody waits (an UNSUBSCRIBE on the way out): the reply is read and dropped.
    case discard

    func succeed(_ value: RESPValue) {
        switch self {
        case .continuation(let continuation): continuation.resume(returning: value)
        case .promise(let promise): promise.succeed(value)
        case .callback(let callback): callback(.success(value))
        case .discard: break
        }
    }

    func fail(_ error: RedisClientError) {
        switch self {
        case .continuation(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        case .callback(let callback): callback(.failure(error))
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

/// State other threads may read without hopping to the event loop.
final class ConnectionSharedState: Sendable {
    /// Set at the first terminal error: from then on the connection is never handed out again.
    let failed = Atomic<Bool>(false)
    /// Commands handed over by callers and not yet taken by the event loop; closed at the terminal error.
    let outbound = Mutex(OutboundBatch<QueuedCommand, NIODeadline>())

    /// Whether the connection has met a terminal error.
    var hasFailed: Bool { self.failed.load(ordering: .acquiring) }
}
