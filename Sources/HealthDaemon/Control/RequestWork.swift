/// The work of requests the backend answers asynchronously: queued by the handlers (on their event loops), run by
/// ``ControlServer/run()``.
final class RequestWork: Sendable {
    typealias Item = @Sendable () async -> Void
    let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init() {
        (self.items, self.continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues `item`; false when the server is stopping (nothing runs it any more).
    func submit(_ item: @escaping Item) -> Bool {
        if case .terminated = self.continuation.yield(item) { return false }
        return true
    }

    func finish() { self.continuation.finish() }
}
