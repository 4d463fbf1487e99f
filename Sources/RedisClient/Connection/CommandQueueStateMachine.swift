import NIOCore
import RESP

/// How the command queue decides that a connection whose replies stopped is dead.
struct SilenceRule: Sendable {
    /// A command timing out after the connection has owed a reply for this long, with none arriving, closes
    /// it. `nil`: never.
    var limit: TimeAmount?
    /// At most this many commands that timed out may still await their late replies; one more closes the
    /// connection (the server is not answering, whatever else it sends).
    var maxUnansweredTimedOut: Int = 1_000
}

/// The rules of one connection's command queue, as a value: events in (commands written, a value read, the timer
/// reached, the connection failed), actions out (hand a reply to its caller, fail a caller, set the timer, close).
/// It reads no clock (every event says when it happens) and does no I/O: ``RedisCommandHandler`` runs what it
/// answers on the event loop, and the tests drive it through timelines.
///
/// The rules:
/// - Replies are matched to commands in the order the commands were written.
/// - A command that times out fails at once but keeps its place: its late reply, if it ever comes, is read and
///   dropped, so later replies still reach the right callers.
/// - Silence: when a command times out and the connection has owed a reply for the silence limit without sending
///   one, it is dead. Pushes are not replies: a server that sends pub/sub messages while never answering is
///   silent. Too many timed-out commands still unanswered close it too.
/// - RESP3 pushes are pushes, except an (un)subscribe confirmation that answers the (UN)SUBSCRIBE at the head of
///   the queue; on a subscriber connection, RESP2 `message`/`pmessage`/`smessage` arrays are pushes too.
/// - A reply nobody asked for is a protocol error that closes the connection.
/// - The first failure is the connection's end: every command in flight fails with it (attributed to its own
///   command), and later ones are refused with it.
///
/// `Sink` is where a reply goes (a continuation in the handler, a number in the tests).
struct CommandQueueStateMachine<Sink> {
    /// A command written and awaiting its reply.
    struct Pending {
        var command: RESPCommand
        /// Nil once the command timed out: its late reply is read and dropped.
        var sink: Sink?
        var deadline: NIODeadline
        var timeout: TimeAmount
    }

    /// What the driver does after a write.
    enum WriteAction {
        /// Write the commands' bytes; set the timer at this deadline first when given (it replaces the one set).
        case write(setTimerAt: NIODeadline?)
        /// The connection has ended: fail the commands with this error, write nothing.
        case refuse(RedisClientError)
    }

    /// What the driver does with a value read.
    enum ReadAction {
        /// Hand the reply to its caller.
        case succeed(Sink, RESPValue)
        /// Hand the push to the push handler.
        case push(RESPValue)
        /// Nothing: the late reply of a command that timed out, or a value read after the end.
        case none
        /// Close the connection with this error (see ``fail(_:)``).
        case close(RedisClientError)
    }

    /// A caller whose command timed out.
    struct Expired {
        var sink: Sink
        var error: RedisClientError
        /// How long the connection had owed a reply when the command timed out.
        var owing: TimeAmount
    }

    /// What the driver does when its timer fires.
    struct TimerAction {
        /// Fail these callers with their errors.
        var expired: [Expired] = []
        /// Then close the connection with this error (the silence rule), or else set the timer at `setTimerAt`.
        var close: RedisClientError?
        var setTimerAt: NIODeadline?
    }

    /// What the driver does at the connection's end.
    struct FailAction {
        /// The connection's error: the first failure's, whatever failed it later.
        var error: RedisClientError
        /// Whether this event ended the connection (false: it had ended already).
        var ended: Bool
        /// Fail these callers, each with the error attributed to its command.
        var failed: [(sink: Sink, error: RedisClientError)]
    }

    let endpoint: String
    let silenceRule: SilenceRule
    /// A subscriber connection: RESP2 message arrays are pushes.
    let subscriber: Bool

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Commands in `pending` that timed out and still await their late reply.
    private var unansweredTimedOut = 0
    /// Since when the connection owes a reply without having sent one: set when a command is written while none
    /// is pending, moved on by every reply, cleared when nothing is pending.
    private var owingSince: NIODeadline?
    /// Where the driver's one timer is set: the earliest deadline in flight when it was set (nil: no timer).
    private(set) var timerDeadline: NIODeadline?
    /// The error the connection ended with, once it has ended.
    private(set) var closeReason: RedisClientError?
    /// When the last complete value (reply or push) arrived, or the connection became active.
    private(set) var lastReadAt: NIODeadline

    init(endpoint: String, silenceRule: SilenceRule, subscriber: Bool, now: NIODeadline) {
        self.endpoint = endpoint
        self.silenceRule = silenceRule
        self.subscriber = subscriber
        self.lastReadAt = now
    }

    /// Commands awaiting their replies, those that timed out not counted.
    var commandsInFlight: Int { max(0, self.pending.count - self.unansweredTimedOut) }

    /// When the event loop comes back by itself at the latest (its timer, while a reply is owed): what the outbound
    /// batch needs to know. Nil: only a new command brings it back.
    var loopReturnsBy: NIODeadline? { self.commandsInFlight > 0 ? self.timerDeadline : nil }

    // MARK: events

    /// The connection became active at `now`.
    mutating func activated(now: NIODeadline) {
        self.lastReadAt = now
    }

    /// `commands` are about to be written, in this order, at `now`.
    mutating func write(_ commands: some Sequence<Pending>, now: NIODeadline) -> WriteAction {
        if let closeReason { return .refuse(closeReason) }
        if self.pending.isEmpty { self.owingSince = now }
        var earliest: NIODeadline?
        for command in commands {
            self.pending.append(command)
            earliest = min(earliest ?? command.deadline, command.deadline)
        }
        guard let earliest, self.timerDeadline.map({ earliest < $0 }) ?? true else { return .write(setTimerAt: nil) }
        self.timerDeadline = earliest
        return .write(setTimerAt: earliest)
    }

    /// A complete value was read at `now`.
    mutating func read(_ value: RESPValue, now: NIODeadline) -> ReadAction {
        guard self.closeReason == nil else { return .none }
        self.lastReadAt = now
        switch value.withoutAttributes {
        case .push(let elements):
            // RESP3 sends (un)subscribe confirmations as pushes: they answer the (UN)SUBSCRIBE at the head.
            let kind = elements.first?.string?.lowercased() ?? ""
            guard PubSubKinds.confirmations.contains(kind), let head = self.pending.first, head.command.name.lowercased() == kind
            else { return .push(value) }
        case .array(let elements) where self.subscriber:
            if let kind = elements.first?.string?.lowercased(), PubSubKinds.messages.contains(kind) { return .push(value) }
        default:
            break
        }
        guard let first = self.pending.popFirst() else {
            return .close(
                RedisClientError(.protocolError, endpoint: self.endpoint, message: "the server sent a \(value.typeName) nobody asked for"))
        }
        self.owingSince = self.pending.isEmpty ? nil : now
        guard let sink = first.sink else {
            self.unansweredTimedOut -= 1
            return .none
        }
        return .succeed(sink, value)
    }

    /// The timer set at ``timerDeadline`` fired at `now`: every command past its deadline fails, silence is judged,
    /// and the timer goes to the next earliest deadline.
    mutating func timerFired(now: NIODeadline) -> TimerAction {
        self.timerDeadline = nil
        var action = TimerAction()
        guard self.closeReason == nil else { return action }
        var next: NIODeadline?
        for index in self.pending.indices {
            guard let sink = self.pending[index].sink else { continue }
            let deadline = self.pending[index].deadline
            guard deadline <= now else {
                next = min(next ?? deadline, deadline)
                continue
            }
            self.pending[index].sink = nil
            self.unansweredTimedOut += 1
            let command = self.pending[index]
            action.expired.append(
                Expired(
                    sink: sink,
                    error: RedisClientError(
                        .commandTimeout, endpoint: self.endpoint, command: command.command.name,
                        message: "no reply within \(Duration.nanoseconds(command.timeout.nanoseconds).humanReadable)"),
                    owing: self.owingSince.map { now - $0 } ?? .zero))
        }
        if !action.expired.isEmpty, let error = self.silence(now: now) {
            action.close = error
            return action
        }
        self.timerDeadline = next
        action.setTimerAt = next
        return action
    }

    /// After a command timed out: the error that closes the connection when it has owed a reply for the silence
    /// limit, or when too many timed-out commands still await replies.
    private func silence(now: NIODeadline) -> RedisClientError? {
        if let limit = self.silenceRule.limit, let owingSince = self.owingSince, now - owingSince >= limit {
            let silence = Duration.nanoseconds((now - owingSince).nanoseconds)
            return RedisClientError(
                .unresponsive, endpoint: self.endpoint,
                message: "no reply for \(silence.humanReadable) while commands went unanswered; connection declared dead")
        }
        if self.unansweredTimedOut > self.silenceRule.maxUnansweredTimedOut {
            return RedisClientError(
                .unresponsive, endpoint: self.endpoint,
                message: "\(self.unansweredTimedOut) timed-out commands still unanswered; connection declared dead")
        }
        return nil
    }

    /// The connection failed or closed with `error` (a socket or protocol error, EOF, the client's decision).
    mutating func fail(_ error: RedisClientError) -> FailAction {
        let ended = self.closeReason == nil
        let reason = self.closeReason ?? error
        self.closeReason = reason
        self.timerDeadline = nil
        self.owingSince = nil
        self.unansweredTimedOut = 0
        var failed: [(sink: Sink, error: RedisClientError)] = []
        while let entry = self.pending.popFirst() {
            if let sink = entry.sink { failed.append((sink, reason.forCommand(entry.command.name))) }
        }
        return FailAction(error: reason, ended: ended, failed: failed)
    }
}

/// The first element of pub/sub arrays and pushes that the command queue tells apart.
private enum PubSubKinds {
    static let messages: Set<String> = ["message", "pmessage", "smessage"]
    static let confirmations: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
    ]
}
