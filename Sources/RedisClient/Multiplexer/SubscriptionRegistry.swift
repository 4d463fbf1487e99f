import NIOCore
import RESP
import Synchronization

/// A message received on a subscribed channel.
public struct PubSubMessage: Sendable, Hashable {
    /// The channel the message was published on.
    public var channel: String
    /// The pattern it matched, for pattern subscriptions.
    public var pattern: String?
    public var payload: ByteBuffer
}

/// A channel (SUBSCRIBE) or a pattern (PSUBSCRIBE).
public struct Subscription: Sendable, Hashable, Comparable {
    public enum Kind: Int, Sendable, Hashable {
        case channel
        case pattern
    }

    public var kind: Kind
    public var name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// The command that establishes it.
    var command: RESPCommand { RESPCommand(self.kind == .channel ? "SUBSCRIBE" : "PSUBSCRIBE", self.name) }
    /// The command that ends it.
    var unsubscribeCommand: RESPCommand { RESPCommand(self.kind == .channel ? "UNSUBSCRIBE" : "PUNSUBSCRIBE", self.name) }

    public static func < (lhs: Subscription, rhs: Subscription) -> Bool {
        (lhs.kind.rawValue, lhs.name) < (rhs.kind.rawValue, rhs.name)
    }
}

/// The channels subscribed to, shared by the successive multiplexers of one client so that every new
/// subscriber connection re-subscribes to all of them; and the streams their messages go to.
public final class SubscriptionRegistry: Sendable {
    private struct State {
        var channels: [Subscription: [Int: AsyncStream<PubSubMessage>.Continuation]] = [:]
        var nextID = 0
        /// Called once: with true when the first channel is added (then all are dropped), with false by a wait that
        /// is given up (``waitUntilNotEmpty()`` cancelled).
        var notEmptyCallbacks: [Int: @Sendable (Bool) -> Void] = [:]
        /// The subscriber connection in use, told to UNSUBSCRIBE from a channel nobody listens to any more.
        var connection: RedisConnection?
    }

    private let state = Mutex(State())

    public init() {}

    /// How many channels are subscribed.
    public var count: Int { self.state.withLock { $0.channels.count } }

    /// The channels and patterns subscribed, sorted.
    public var subscriptions: [Subscription] { self.state.withLock { $0.channels.keys.sorted() } }

    /// Adds a listener for `channel`; `isNew` when nobody listened to it before.
    func add(_ channel: Subscription) -> (AsyncStream<PubSubMessage>, isNew: Bool) {
        let (stream, continuation) = AsyncStream.makeStream(of: PubSubMessage.self, bufferingPolicy: .bufferingNewest(1000))
        let (isNew, callbacks, id) = self.state.withLock { state in
            let isNew = state.channels[channel] == nil
            let id = state.nextID
            state.nextID += 1
            state.channels[channel, default: [:]][id] = continuation
            defer { state.notEmptyCallbacks = [:] }
            return (isNew, Array(state.notEmptyCallbacks.values), id)
        }
        // A consumer that goes away takes its listener with it; the last one takes the subscription.
        continuation.onTermination = { [weak self] _ in self?.remove(channel, listener: id) }
        for callback in callbacks { callback(true) }
        return (stream, isNew)
    }

    /// Calls `callback` once something is subscribed: at once when something is, else when the first channel is
    /// added (no task waits meanwhile). Returns the id that ``removeNotEmptyCallback(_:)`` takes, nil when called
    /// at once.
    public func whenNotEmpty(_ callback: @escaping @Sendable () -> Void) -> Int? {
        let id = self.state.withLock { state -> Int? in
            if !state.channels.isEmpty { return nil }
            defer { state.nextID += 1 }
            state.notEmptyCallbacks[state.nextID] = { _ in callback() }
            return state.nextID
        }
        if id == nil { callback() }
        return id
    }

    /// Forgets a callback of ``whenNotEmpty(_:)`` that is no longer wanted (its multiplexer was shut down).
    public func removeNotEmptyCallback(_ id: Int) {
        _ = self.state.withLock { $0.notEmptyCallbacks.removeValue(forKey: id) }
    }

    private func remove(_ channel: Subscription, listener id: Int) {
        self.state.withLock { state in
            guard state.channels[channel]?.removeValue(forKey: id) != nil else { return }
            guard state.channels[channel]?.isEmpty == true else { return }
            state.channels[channel] = nil
            // Written under the lock (it only enqueues): a SUBSCRIBE decided after this cannot overtake it.
            state.connection?.sendDetached(channel.unsubscribeCommand)
        }
    }

    /// The subscriber connection now in use (nil: none).
    func setConnection(_ connection: RedisConnection?, replacing previous: RedisConnection? = nil) {
        self.state.withLock { state in
            if connection != nil || previous == nil || state.connection === previous { state.connection = connection }
        }
    }

    /// SUBSCRIBEs to every channel on `connection`.
    func subscribeAll(on connection: RedisConnection) async throws(RedisClientError) {
        for subscription in self.subscriptions {
            _ = try await connection.send(subscription.command)
        }
    }

    /// Routes a pushed `message` to its listeners.
    func deliver(_ value: RESPValue) {
        guard let elements = value.elements, let kind = elements.first?.string?.lowercased() else { return }
        let key: Subscription
        let message: PubSubMessage
        switch (kind, elements.count) {
        case ("message", 3):
            guard let channel = elements[1].string, case .bulkString(let payload) = elements[2].withoutAttributes else { return }
            key = Subscription(kind: .channel, name: channel)
            message = PubSubMessage(channel: channel, pattern: nil, payload: payload)
        case ("pmessage", 4):
            guard let pattern = elements[1].string, let channel = elements[2].string,
                case .bulkString(let payload) = elements[3].withoutAttributes
            else { return }
            key = Subscription(kind: .pattern, name: pattern)
            message = PubSubMessage(channel: channel, pattern: pattern, payload: payload)
        default:
            return
        }
        let listeners = self.state.withLock { Array(($0.channels[key] ?? [:]).values) }
        for listener in listeners { listener.yield(message) }
    }

    /// Returns true once at least one channel is subscribed; false when cancelled.
    public func waitUntilNotEmpty() async -> Bool {
        if self.count > 0 { return true }
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let ready = self.state.withLock { state -> Bool in
                    if !state.channels.isEmpty || Task.isCancelled { return true }
                    state.notEmptyCallbacks[id] = { continuation.resume(returning: $0) }
                    return false
                }
                if ready { continuation.resume(returning: self.count > 0) }
            }
        } onCancel: {
            self.state.withLock { $0.notEmptyCallbacks.removeValue(forKey: id) }?(false)
        }
    }
}
