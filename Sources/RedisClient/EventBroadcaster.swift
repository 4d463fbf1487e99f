import Synchronization

/// Hands every event to each observer: an `AsyncStream` (bounded: an observer that does not keep up loses the oldest
/// events, never blocks the sender), or a callback called where the event is published.
final class EventBroadcaster<Event: Sendable>: Sendable {
    private enum Observer {
        case stream(AsyncStream<Event>.Continuation)
        /// Called with each event, then with nil at the end.
        case callback(@Sendable (Event?) -> Void)
    }

    /// In the order added; an array, so that publishing takes it with a retain, not a copy (every probe of every
    /// connection is an event).
    private let observers = Mutex<(next: Int, observers: [(id: Int, observer: Observer)])>((0, []))

    /// A new stream of every event from now on.
    func stream() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = self.add(.stream(continuation))
        continuation.onTermination = { [weak self] _ in
            self?.observers.withLock { $0.observers.removeAll { $0.id == id } }
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
            observers.observers.append((observers.next, observer))
            return observers.next
        }
    }

    func publish(_ event: Event) {
        let observers = self.observers.withLock { $0.observers }
        for (_, observer) in observers {
            switch observer {
            case .stream(let continuation): continuation.yield(event)
            case .callback(let callback): callback(event)
            }
        }
    }

    /// Ends every stream and tells every callback.
    func finish() {
        let observers = self.observers.withLock { observers in
            defer { observers.observers = [] }
            return observers.observers
        }
        for (_, observer) in observers {
            switch observer {
            case .stream(let continuation): continuation.finish()
            case .callback(let callback): callback(nil)
            }
        }
    }
}
