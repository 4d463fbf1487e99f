/// Commands that callers off the event loop have handed over, waiting for the event-loop turn that writes them
/// all at once (auto-pipelining).
///
/// Hopping to the event loop once per command (`Channel.write` from another thread) costs a task, a lock and
/// often a wake-up of the loop each time; with many callers on one connection that, not Redis, was the limit.
/// Here commands join a batch, and the decision of when the loop must be asked to write it is made in one place:
///
/// - While the connection awaits replies, the loop comes back by itself: it writes the batch after every read
///   (and when its timer fires, at the earliest deadline in flight). A command joins the batch silently, unless
///   its own deadline comes before the loop is sure to be back. Replies come in order, so a command written now
///   could not be answered before the replies already owed: waiting for the next read costs it nothing, and
///   saves a wake-up of the loop and a write per command.
/// - Otherwise (nothing awaited) the first command of a batch asks for one drain; those that follow before it
///   runs only join the batch.
///
/// A pure value: the connection keeps it under a lock and acts on what ``append(_:deadline:)`` answers; the
/// event loop calls ``take(swappingWith:)`` and then says when it will be back with ``loopReturns(by:)``. Once
/// ``close(_:)`` has been called, nothing is taken in any more: what was waiting is handed back to be failed, and
/// later commands are refused with the same error. Nothing is ever stranded: an element either reaches
/// ``take(swappingWith:)`` or ``close(_:)``, or is refused, and none waits past its deadline for a drain.
struct OutboundBatch<Element, Deadline: Comparable> {
    /// What the caller of ``append(_:deadline:)`` must do.
    enum AppendAction {
        /// Schedule one drain on the event loop.
        case scheduleDrain
        /// Nothing: a drain is already scheduled, or the loop comes back in time by itself.
        case none
        /// The connection has ended: fail the commands with this error (they were not taken in).
        case refused(RedisClientError)
    }

    private(set) var elements: [Element] = []
    /// A drain has been asked for and has not taken the batch yet.
    private(set) var drainScheduled = false
    /// When the loop will drain at the latest without being asked (it awaits replies and has a timer); nil:
    /// it will not, so a command must ask.
    private(set) var loopReturnsBy: Deadline?
    /// Set by ``close(_:)``: the error later commands are refused with.
    private(set) var closedWith: RedisClientError?

    init() {}

    /// Adds `element`, which must be written by `deadline`.
    mutating func append(_ element: Element, deadline: Deadline) -> AppendAction {
        if let closedWith { return .refused(closedWith) }
        self.elements.append(element)
        return self.drainNeeded(by: deadline)
    }

    /// Adds `elements`, all to be written by `deadline`, next to one another: the drain writes them back to back,
    /// so nothing another caller sends can come between them (what `ASKING` + a command needs).
    mutating func append(contentsOf elements: some Collection<Element>, deadline: Deadline) -> AppendAction {
        if let closedWith { return .refused(closedWith) }
        guard !elements.isEmpty else { return .none }
        self.elements.append(contentsOf: elements)
        return self.drainNeeded(by: deadline)
    }

    private mutating func drainNeeded(by deadline: Deadline) -> AppendAction {
        if self.drainScheduled { return .none }
        if let loopReturnsBy, loopReturnsBy <= deadline { return .none }
        self.drainScheduled = true
        return .scheduleDrain
    }

    /// The drain: hands every waiting element over in `spare` (which must be empty) and keeps `spare`'s storage
    /// for the next batch, so that a steady stream of batches allocates nothing. Until the loop says again when
    /// it returns (``loopReturns(by:)``), the next command asks for a drain.
    mutating func take(swappingWith spare: inout [Element]) {
        precondition(spare.isEmpty, "the spare buffer of a drain must be empty")
        swap(&self.elements, &spare)
        self.drainScheduled = false
        self.loopReturnsBy = nil
    }

    /// Said by the loop right after a drain, in the same turn: it will drain again by `deadline` without being
    /// asked (nil: it will not). Commands added since the drain have asked for one already, so none is left
    /// relying on an earlier promise.
    mutating func loopReturns(by deadline: Deadline?) {
        guard self.closedWith == nil else { return }
        self.loopReturnsBy = deadline
    }

    /// The connection has ended with `error`: returns what was waiting (to be failed) and refuses every later
    /// command. The first error stands.
    mutating func close(_ error: RedisClientError) -> [Element] {
        if self.closedWith == nil { self.closedWith = error }
        let waiting = self.elements
        self.elements = []
        self.drainScheduled = false
        self.loopReturnsBy = nil
        return waiting
    }
}
