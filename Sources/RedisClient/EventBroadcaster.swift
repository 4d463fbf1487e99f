import Synchronization

/// Hands every event to each observer's `AsyncStream` (bounded: an observer that does not keep up loses the
/// oldest events, never blocks the sender).
final class EventBroadcaster<Event: Sendable>: Sendable {
    private let observers = Mutex<(next: Int, continuations: [Int: AsyncStream<Event>.Continuation])>((0, [:]))

    /// A new stream of every event from now on.
    func stream() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = self.observers.withLock { observers in
            defer { observers.next += 1 }
            observers.continuations[observers.next] = continuation
            return observers.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.observers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ event: Event) {
        let continuations = self.observers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield(event) }
    }

    /// Ends every stream.
    func finish() {
        let continuations = self.observers.withLock { observers in
            defer { observers.continuations = [:] }
            return Array(observers.continuations.values)
        }
        for continuation in continuations { continuation.finish() }
    }
}
