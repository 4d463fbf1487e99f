import Foundation
import HealthDaemon
import RedisTestSupport

/// Runs blocking work (the control client's socket calls, a child process) on a thread of its own, so that a test
/// never holds a thread of the cooperative pool the in-process daemon needs to answer it.
@discardableResult
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

extension ControlClient {
    /// ``request(_:_:body:)`` off the cooperative pool.
    func send(_ method: String, _ path: String, body: String = "") async throws -> Response {
        let client = self
        return try await offPool { try client.request(method, path, body: body) }
    }
}
