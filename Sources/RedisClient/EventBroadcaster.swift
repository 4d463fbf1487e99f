import Synchronization

/// Hands every event to each observer: an `AsyncStream` (bounded: an observer that does not keep up loses the oldest
/// events, never blocks the sender), or a callback called where the event is published.
final class EventBroadcaster<Event: Sendable>: Sendable {
    private enum Observer {
        case stream(AsyncStream<Event>.Continuation)
        /// Called with each event, then with nil at the end.
        case callback(@Sendable (Event?) -> Void)
    }

    private let observers = Mutex<(next: Int, observers: [Int: Observer])>((0, [:]))

    /// A new stream of every event from now on.
    func stream() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = self.add(.stream(continuation))
        continuation.onTermination = { [weak self] _ in
            _ = self?.observers.withLock { $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Calls `callback` with every event from now on, on the thread that publishes it and in the order published
    /// (so it must only hand the event on, never block); with nil once the events end.
    func observe(_ callback: @escaping @Sendable (Event?) -> Void) {
        self.add(.callback(callback))
    }

    @discardableResult
    private func add(_ observer: Observer) -> Int {
        self.observers.withLock { observers in
            defer { observers.next += 1 }
            observers.observers[observers.next] = observer
            return observers.next
        }
    }

    func publish(_ event: Event) {
        let observers = self.observers.withLock { Array($0.observers.values) }
        for observer in observers {
            switch observer {
            case .stream(let continuation): continuation.yield(event)
            case .callback(let callback): callback(event)
            }
        }
    }

    /// Ends every stream and tells every callback.
    func finish() {
        let observers = self.observers.withLock { observers in
            defer { observers.observers = [:] }
            return Array(observers.observers.values)
        }
        for observer in observers {
            switch observer {
            case .stream(let continuation): continuation.finish()
            case .callback(let callback): callback(nil)
            }
        }
    }
}
