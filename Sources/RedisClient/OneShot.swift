import Synchronization

/// A value given once and awaited by one task with a time limit; a value can be staged first and given later
/// (connected, then answered a probe), or withdrawn (the connection failed before it answered).
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var staged: Value?
        var cancelled = false
        var waiter: CheckedContinuation<Value?, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Gives the value; the first one given wins.
    func fulfil(_ value: Value) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Value?, Never>? in
            guard state.value == nil, !state.cancelled else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// Keeps `value` to be given by ``fulfilStaged(_:)``.
    func stage(_ value: Value) {
        self.state.withLock { $0.staged = value }
    }

    /// Forgets the staged value.
    func unstage() {
        self.state.withLock { $0.staged = nil }
    }

    /// Gives the staged value, completed by `complete`; nothing when none is staged.
    func fulfilStaged(_ complete: (Value) -> Value) {
        guard let staged = self.state.withLock({ $0.staged }) else { return }
        self.fulfil(complete(staged))
    }

    /// Ends the wait with `nil`.
    func cancel() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Value?, Never>? in
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The value, or `nil` when it did not come within `timeout`, was cancelled, or the task was cancelled.
    func wait(timeout: Duration) async -> Value? {
        await withTaskGroup(of: Value?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                        let ready = self.state.withLock { state -> (Bool, Value?) in
                            if let value = state.value { return (true, value) }
                            if state.cancelled || Task.isCancelled { return (true, nil) }
                            state.waiter = continuation
                            return (false, nil)
                        }
                        if ready.0 { continuation.resume(returning: ready.1) }
                    }
                } onCancel: {
                    let waiter = self.state.withLock { state -> CheckedContinuation<Value?, Never>? in
                        defer { state.waiter = nil }
                        return state.waiter
                    }
                    waiter?.resume(returning: nil)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
