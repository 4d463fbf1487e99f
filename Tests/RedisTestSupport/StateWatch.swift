import Synchronization

/// A value behind a lock that tasks can wait on: ``wait(until:within:)`` suspends (no polling, no thread held)
/// until an ``update(_:)`` makes the condition true, the time runs out, or the waiting task is cancelled.
///
/// The building block of the fixtures' waits: a child process's exit, a fake server's received commands.
public final class StateWatch<State: Sendable>: Sendable {
    private struct Waiter {
        var condition: @Sendable (State) -> Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct Storage {
        var value: State
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        /// Ids whose task was cancelled before its continuation was stored.
        var cancelled: Set<Int> = []
    }

    private let storage: Mutex<Storage>

    public init(_ value: State) {
        self.storage = Mutex(Storage(value: value))
    }

    /// The current value.
    public var value: State { self.storage.withLock { $0.value } }

    /// Reads the value under the lock.
    public func read<R>(_ body: (State) throws -> R) rethrows -> R {
        try self.storage.withLock { try body($0.value) }
    }

    /// Changes the value and wakes every waiter whose condition now holds.
    @discardableResult
    public func update<R>(_ body: (inout State) throws -> R) rethrows -> R {
        var woken: [CheckedContinuation<Bool, Never>] = []
        let result = try self.storage.withLock { storage in
            let result = try body(&storage.value)
            for (id, waiter) in storage.waiters where waiter.condition(storage.value) {
                storage.waiters[id] = nil
                woken.append(waiter.continuation)
            }
            return result
        }
        for continuation in woken { continuation.resume(returning: true) }
        return result
    }

    /// Waits until `condition` holds; returns `false` only when the task was cancelled first.
    public func wait(until condition: @escaping @Sendable (State) -> Bool) async -> Bool {
        let id = self.storage.withLock { storage in
            storage.nextID += 1
            return storage.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = self.storage.withLock { storage in
                    if storage.cancelled.remove(id) != nil { return false }
                    if condition(storage.value) { return true }
                    storage.waiters[id] = Waiter(condition: condition, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = self.storage.withLock { storage in
                guard let waiter = storage.waiters.removeValue(forKey: id) else {
                    storage.cancelled.insert(id)
                    return CheckedContinuation<Bool, Never>?.none
                }
                return waiter.continuation
            }
            continuation?.resume(returning: false)
        }
    }

    /// Waits until `condition` holds, at most `timeout`; returns whether it held.
    public func wait(until condition: @escaping @Sendable (State) -> Bool, within timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(until: condition) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            // The condition may have come true just as the time ran out.
            return first || self.read(condition)
        }
    }
}
