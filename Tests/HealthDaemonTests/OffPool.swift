import RedisTestSupport

/// Runs blocking work (the control client's socket calls, a child process) on a thread of its own, so that a test
/// never holds a thread of the cooperative pool the in-process daemon needs to answer it.
@discardableResult
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onDedicatedThread(body)
}
