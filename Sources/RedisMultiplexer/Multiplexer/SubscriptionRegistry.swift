import NIOCore
import RESP
import Synchronization

/// A message received on a subscribed channel.
public struct PubSubMessage: Sendable, Hashable {
    public var channel: String
    public var payload: ByteBuffer
}

/// The channels subscribed to, shared by the successive multiplexers of one client so that every new
/// subscriber connection re-subscribes to all of them; and the streams their messages go to.
public final class SubscriptionRegistry: Sendable {
    private struct State {
        var channels: [String: [Int: AsyncStream<PubSubMessage>.Continuation]] = [:]
        var nextID = 0
        var notEmptyWaiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many channels are subscribed.
    public var count: Int { self.state.withLock { $0.channels.count } }

    /// The channels subscribed, sorted.
    public var channels: [String] { self.state.withLock { $0.channels.keys.sorted() } }

    /// Adds a listener for `channel`; `isNew` when nobody listened to it before.
    func add(channel: String) -> (AsyncStream<PubSubMessage>, isNew: Bool) {
        let (stream, continuation) = AsyncStream.makeStream(of: PubSubMessage.self, bufferingPolicy: .bufferingNewest(1000))
        let (isNew, waiters) = self.state.withLock { state in
            let isNew = state.channels[channel] == nil
            let id = state.nextID
            state.nextID += 1
            state.channels[channel, default: [:]][id] = continuation
            let waiters = Array(state.notEmptyWaiters.values)
            state.notEmptyWaiters = [:]
            return (isNew, waiters)
        }
        for waiter in waiters { waiter.resume(returning: true) }
        return (stream, isNew)
    }

    /// SUBSCRIBEs to every channel on `connection`.
    func subscribeAll(on connection: RedisConnection) async throws(RedisClientError) {
        for channel in self.channels {
            _ = try await connection.send(RESPCommand("SUBSCRIBE", channel))
        }
    }

    /// Routes a pushed `message` to its listeners.
    func deliver(_ value: RESPValue) {
        guard let elements = value.elements, elements.count == 3, elements[0].string?.lowercased() == "message",
            let channel = elements[1].string, case .bulkString(let payload) = elements[2].withoutAttributes
        else { return }
        let listeners = self.state.withLock { Array(($0.channels[channel] ?? [:]).values) }
        for listener in listeners { listener.yield(PubSubMessage(channel: channel, payload: payload)) }
    }

    /// Returns true once at least one channel is subscribed; false when cancelled.
    func waitUntilNotEmpty() async -> Bool {
        if self.count > 0 { return true }
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let ready = self.state.withLock { state -> Bool in
                    if !state.channels.isEmpty || Task.isCancelled { return true }
                    state.notEmptyWaiters[id] = continuation
                    return false
                }
                if ready { continuation.resume(returning: self.count > 0) }
            }
        } onCancel: {
            self.state.withLock { $0.notEmptyWaiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }
}
