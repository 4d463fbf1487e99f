import RedisTestSupport
import Synchronization
import Testing

@testable import RedisClient

/// Records a client's events with the time they arrived, and waits for one to happen.
final class EventRecorder: Sendable {
    private final class Box: Sendable {
        let events = Mutex<[(at: ContinuousClock.Instant, event: MultiplexerEvent)]>([])
    }
    private let box = Box()
    private let task: Task<Void, Never>

    init(_ client: ResilientRedisClient) {
        let stream = client.events()
        let box = self.box
        self.task = Task {
            for await event in stream { box.events.withLock { $0.append((.now, event)) } }
        }
    }

    deinit { self.task.cancel() }

    var all: [MultiplexerEvent] { self.box.events.withLock { $0.map(\.event) } }

    /// Every event with the time it arrived.
    var timeline: [(at: ContinuousClock.Instant, event: MultiplexerEvent)] { self.box.events.withLock { $0 } }

    /// The first event matching `predicate` that arrived at or after `since`, waiting up to `timeout` for it.
    func first(
        after since: ContinuousClock.Instant = .now - .seconds(3600), within timeout: Duration,
        where predicate: (MultiplexerEvent) -> Bool
    ) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let found = self.box.events.withLock { events in
                events.first { $0.at >= since && predicate($0.event) }?.at
            }
            if let found { return found }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The first event matching `predicate` that arrived at or after `since`, with its time, waiting up to `timeout`.
    func firstEvent(
        after since: ContinuousClock.Instant, within timeout: Duration, where predicate: (MultiplexerEvent) -> Bool
    ) async -> (at: ContinuousClock.Instant, event: MultiplexerEvent)? {
        guard let at = await self.first(after: since, within: timeout, where: predicate) else { return nil }
        return self.box.events.withLock { events in events.first { $0.at == at && predicate($0.event) } }
    }

    func count(where predicate: (MultiplexerEvent) -> Bool) -> Int {
        self.box.events.withLock { $0.filter { predicate($0.event) }.count }
    }
}

extension MultiplexerEvent {
    var isInteractiveConnected: Bool {
        if case .connected(.interactive, _, _, _) = self { return true }
        return false
    }
    var isInteractiveFailed: Bool {
        if case .connectionFailed(.interactive, _, _, _) = self { return true }
        return false
    }
    var isInteractiveConnecting: Bool {
        if case .connecting(.interactive, _, _) = self { return true }
        return false
    }
    var isInteractiveBackoff: Bool {
        if case .reconnectScheduled(.interactive, _, _) = self { return true }
        return false
    }
    var isUnresponsive: Bool {
        if case .unresponsive = self { return true }
        return false
    }
    var isSubscribed: Bool {
        if case .subscribed = self { return true }
        return false
    }
}

/// Something with a `run()` that lasts until `shutdown()`.
protocol Runnable: Sendable {
    func run() async
    func shutdown() async
}

extension ResilientRedisClient: Runnable {}
extension RedisClusterClient: Runnable {}

/// Runs `client` for the duration of `body`, then shuts it down (also when `body` throws).
func whileRunning<Client: Runnable, T>(_ client: Client, _ body: () async throws -> T) async throws -> T {
    let runner = Task { await client.run() }
    do {
        let result = try await body()
        await client.shutdown()
        await runner.value
        return result
    } catch {
        await client.shutdown()
        await runner.value
        throw error
    }
}

/// Runs a client for the duration of `body`, then shuts it down.
func withClient<T>(
    _ configuration: RedisMultiplexerConfiguration, _ body: (ResilientRedisClient, EventRecorder) async throws -> T
) async throws -> T {
    let client = try ResilientRedisClient(configuration: configuration)
    let recorder = EventRecorder(client)
    return try await whileRunning(client) { try await body(client, recorder) }
}
