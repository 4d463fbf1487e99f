/// Commands that callers off the event loop have handed over, waiting for the one event-loop turn that writes
/// them all (auto-pipelining).
///
/// Hopping to the event loop once per command (`Channel.write` from another thread) costs a task, a lock and
/// often a wake-up of the loop each time; with many callers on one connection that, not Redis, was the limit.
/// Here the first command of a batch asks for one drain; those that follow before it runs only join the batch.
/// The drain takes them all, writes them in one buffer and flushes once.
///
/// A pure value: the connection keeps it under a lock and acts on what ``append(_:)`` answers; the event loop
/// calls ``take(swappingWith:)``. Once ``close(_:)`` has been called, nothing is taken in any more: what was
/// waiting is handed back to be failed, and later commands are refused with the same error. Nothing is ever
/// dropped: every element either reaches ``take(swappingWith:)`` or ``close(_:)``, or is refused.
struct OutboundBatch<Element> {
    /// What the caller of ``append(_:)`` must do.
    enum AppendAction {
        /// The batch was empty: schedule one drain on the event loop.
        case scheduleDrain
        /// A drain is already scheduled and will take this command too.
        case none
        /// The connection has ended: fail the commands with this error (they were not taken in).
        case refused(RedisClientError)
    }

    private(set) var elements: [Element] = []
    /// A drain has been asked for and has not taken the batch yet.
    private(set) var drainScheduled = false
    /// Set by ``close(_:)``: the error later commands are refused with.
    private(set) var closedWith: RedisClientError?

    init() {}

    /// Adds `element` to the batch.
    mutating func append(_ element: Element) -> AppendAction {
        if let closedWith { return .refused(closedWith) }
        self.elements.append(element)
        return self.scheduleIfNeeded()
    }

    /// Adds `elements` to the batch, next to one another: the drain writes them back to back, so nothing another
    /// caller sends can come between them (what `ASKING` + a command needs).
    mutating func append(contentsOf elements: some Collection<Element>) -> AppendAction {
        if let closedWith { return .refused(closedWith) }
        guard !elements.isEmpty else { return .none }
        self.elements.append(contentsOf: elements)
        return self.scheduleIfNeeded()
    }

    private mutating func scheduleIfNeeded() -> AppendAction {
        guard !self.drainScheduled else { return .none }
        self.drainScheduled = true
        return .scheduleDrain
    }

    /// The drain: hands every waiting element over in `spare` (which must be empty) and keeps `spare`'s storage
    /// for the next batch, so that a steady stream of batches allocates nothing. The next append schedules a
    /// new drain.
    mutating func take(swappingWith spare: inout [Element]) {
        precondition(spare.isEmpty, "the spare buffer of a drain must be empty")
        swap(&self.elements, &spare)
        self.drainScheduled = false
    }

    /// The connection has ended with `error`: returns what was waiting (to be failed) and refuses every later
    /// command. The first error stands.
    mutating func close(_ error: RedisClientError) -> [Element] {
        if self.closedWith == nil { self.closedWith = error }
        let waiting = self.elements
        self.elements = []
        self.drainScheduled = false
        return waiting
    }
}
