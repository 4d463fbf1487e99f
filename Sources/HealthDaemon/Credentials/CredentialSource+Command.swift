#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import RedisClient

/// Credentials from a command (`credential_command`): run with a timeout, its JSON output parsed, its failures
/// reported without quoting what it printed.
extension CredentialSource {
    func fromCommand(_ argv: [String], timeout: Duration, now: Double) async throws(RedisClientError) -> RedisCredentials {
        enum Step { case use(RedisCredentials), fail(String), lead, wait(Int) }
        var askRunner = false
        let step = self.state.withLock { state -> Step in
            var usable: RedisCredentials?
            if let current = state.current, current.expiresAt.map({ now < $0 }) ?? true {
                usable = current
                // Fetched again at the earliest point any connection re-authenticates at (each a little before the
                // latest), at most every 10 s, and not before a failure's backoff is over.
                let refreshAt = current.expiresAt.map { _ in self.schedule.refreshAt(current, jitter: 1) ?? now } ?? .infinity
                let ranLately = now - state.lastRun < 10 && (current.expiresAt ?? .infinity) - now > 20
                if now < refreshAt || now < state.nextAttempt || ranLately { return .use(current) }
            } else if now < state.nextAttempt, let error = state.lastError {
                // Nothing usable and the last attempt failed lately: say so again without running the command (a
                // reconnect loop must not run it, and warn, every few hundred milliseconds).
                return .fail(error)
            }
            if !state.fetching {
                // Without run() nothing fetches beside the callers: the credential in hand serves as long as it lasts.
                if let usable, !state.runnerActive { return .use(usable) }
                state.fetching = true
                state.fetchNumber += 1
                state.lastRun = now
                guard state.runnerActive else { return .lead }
                askRunner = true
            }
            // A credential in hand that still works serves while the fetch runs: nobody waits for the command.
            if let usable { return .use(usable) }
            return .wait(state.fetchNumber)
        }
        if askRunner { self.fetchRequestsContinuation.yield() }
        let result: Result<RedisCredentials, RedisClientError>
        switch step {
        case .use(let current):
            return current
        case .fail(let message):
            throw RedisClientError(.authentication, message: message)
        case .lead:
            result = await self.runCommand(argv, timeout: timeout)
            self.completeFetch(result)
        case .wait(let number):
            result = await self.waitForFetch(number)
        }
        switch result {
        case .success(let fresh):
            return fresh
        case .failure(let error):
            let current = self.state.withLock { $0.current }
            if let current, let expiry = current.expiresAt, Date().timeIntervalSince1970 < expiry { return current }
            throw error
        }
    }

    /// Runs the command once and adopts what it printed; a failure is recorded and backs the next attempt off.
    func runCommand(_ argv: [String], timeout: Duration) async -> Result<RedisCredentials, RedisClientError> {
        let outcome: HookProcess.Outcome
        do {
            outcome = try await HookProcess.run(argv, environment: [:], timeout: timeout)
        } catch {
            if Task.isCancelled { return Self.stopping(argv) }
            return self.failed("credential_command \(argv.first ?? "") cannot start: \(error)")
        }
        if outcome.timedOut {
            return self.failed("credential_command \(argv.first ?? "") printed no credential within \(timeout.humanReadable); it was killed")
        }
        if outcome.status != 0 {
            let how = outcome.signal.map { "was killed by signal \($0)" } ?? "exited with status \(outcome.status ?? -1)"
            return self.failed("credential_command \(argv.first ?? "") \(how)")
        }
        let now = Date().timeIntervalSince1970
        switch Self.parse(outcome.output, now: now) {
        case .success(var fresh):
            if fresh.username == nil { fresh.username = self.username }
            return .success(self.adopt(fresh, keepObtainedAtIfSame: false))
        case .failure(let error):
            return self.failed("credential_command \(argv.first ?? ""): \(error.message)")
        }
    }

    /// A run cut short because its task was cancelled (the target stopping): no failure to count or report.
    private static func stopping(_ argv: [String]) -> Result<RedisCredentials, RedisClientError> {
        .failure(RedisClientError(.authentication, message: "credential_command \(argv.first ?? "") was not waited for: the target is stopping"))
    }

    private func failed(_ message: String) -> Result<RedisCredentials, RedisClientError> {
        let now = Date().timeIntervalSince1970
        self.state.withLock { state in
            state.failures += 1
            state.lastError = message
            state.nextAttempt = now + min(60, pow(2, Double(min(state.failures, 6))))
        }
        self.onFailure(message)
        return .failure(RedisClientError(.authentication, message: message))
    }

    /// The JSON object the command printed (`{"username": …, "password": …, "expires_at": "RFC 3339"}`; username
    /// and expires_at optional). What it printed is never quoted back: it may hold the secret.
    static func parse(_ output: String, now: Double) -> Result<RedisCredentials, CredentialError> {
        let expected = "expected one JSON object {\"username\": …, \"password\": …, \"expires_at\": \"RFC 3339\"} on stdout"
        guard let start = output.firstIndex(of: "{"), let end = output.lastIndex(of: "}"), start < end,
            case .object(let object) = JSONValue.decode(Data(output[start...end].utf8))
        else { return .failure(CredentialError(message: "printed no JSON object; \(expected)")) }
        guard let password = object["password"]?.string, !password.isEmpty else {
            return .failure(CredentialError(message: "its JSON has no non-empty \"password\"; \(expected)"))
        }
        var username: String?
        if let value = object["username"] {
            guard let text = value.string, !text.isEmpty else {
                return .failure(CredentialError(message: "its \"username\" is not a non-empty string"))
            }
            username = text
        }
        var expiresAt: Double?
        if let value = object["expires_at"], value != .null {
            guard let text = value.string, let time = parseRFC3339(text) else {
                return .failure(CredentialError(message: "its \"expires_at\" is not an RFC 3339 time such as 2026-12-01T10:00:00Z"))
            }
            guard time > now else {
                return .failure(CredentialError(message: "the credential it printed expired at \(rfc3339(time))"))
            }
            expiresAt = time
        }
        return .success(RedisCredentials(username: username, password: RedisSecret(password), expiresAt: expiresAt, obtainedAt: now))
    }
}
