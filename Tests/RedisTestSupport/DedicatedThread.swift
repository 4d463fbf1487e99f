import Foundation

/// Runs blocking `body` (a blocking socket read, a synchronous client) on a new thread of its own and suspends
/// until it returns, so that it never holds a thread of the Swift cooperative pool that the code under test
/// needs, in this process, to answer it.
public func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = "test-blocking-call"
        thread.start()
    }
}
