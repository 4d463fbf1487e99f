import ServiceLifecycle

/// Why ``gracefulShutdownTime(of:bound:ready:)`` could not measure.
public struct ServicesNeverReady: Error, CustomStringConvertible {
    public var description: String { "the services never came up within 20 s" }
}

/// Runs `group` until `ready` holds, triggers its graceful shutdown, and returns how long `run()` took to return
/// after that; nil when it did not within `bound` (the group is then cancelled).
public func gracefulShutdownTime(
    of group: ServiceGroup, bound: Duration, ready: @escaping @Sendable () async -> Bool
) async throws -> Duration? {
    try await withThrowingTaskGroup(of: ContinuousClock.Instant?.self) { tasks in
        tasks.addTask {
            try await group.run()
            return .now
        }
        guard await eventually(within: .seconds(20), { await ready() }) else {
            tasks.cancelAll()
            throw ServicesNeverReady()
        }
        let triggered = ContinuousClock.now
        await group.triggerGracefulShutdown()
        tasks.addTask {
            try await Task.sleep(for: bound)
            return nil
        }
        let first = try await tasks.next() ?? nil
        tasks.cancelAll()
        return first.map { triggered.duration(to: $0) }
    }
}

/// Names in CLIENT LIST starting with `prefix` (our connections, as the server sees them); a failed CLIENT LIST shows
/// as the name "CLIENT LIST failed".
public func ourClients(_ server: RedisServer, _ prefix: String) async -> [String] {
    ((try? await clientNames(server)) ?? ["CLIENT LIST failed"]).filter { $0.hasPrefix(prefix) || $0 == "CLIENT LIST failed" }
}
