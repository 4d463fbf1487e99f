#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import RedisClient
import Synchronization

/// Where a target's credentials come from, asked at every connect and by every live connection before its
/// credentials expire (``RedisCredentialProvider``): a password file (or systemd credential) read again each
/// time, or a credential command whose JSON output gives a user, a password and an expiry (how a Microsoft Entra
/// ID token reaches the daemon). Its output is never logged; what it printed never appears in an error.
///
/// A command's fetch while a credential in hand still serves runs in ``run()`` (its target runs it); without
/// ``run()`` (the doctor), a caller with no usable credential runs the command itself.
public final class CredentialSource: Sendable {
    public enum Origin: Sendable, Hashable {
        /// A file holding only the password (`password_file`, or a systemd credential's file); `key` names the
        /// setting in messages.
        case file(path: String, key: String)
        /// `credential_command`: argv, run without a shell, within `timeout`.
        case command([String], timeout: Duration)
    }

    /// What the status shows (never the secret).
    public struct Summary: Sendable, Hashable {
        public var source: String
        public var obtainedAt: Double?
        public var expiresAt: Double?
        public var lastError: String?
    }

    public let origin: Origin
    /// The configured ACL user; the command's `username` replaces it.
    let username: String?
    /// When a credential that expires is fetched again (the same rule the connections re-authenticate by).
    let schedule: CredentialRefreshSchedule
    private let state: Mutex<State>
    /// Told of every credential obtained that differs from the last (to scrub it, to export its expiry).
    private let onNew: @Sendable (RedisCredentials) -> Void
    /// Told when fetching failed (the reason, never the output).
    private let onFailure: @Sendable (String) -> Void

    private struct State: Sendable {
        var current: RedisCredentials?
        var lastError: String?
        var failures = 0
        /// After a failure, the command runs again no sooner than this (seconds since 1970).
        var nextAttempt = 0.0
        /// A fetch under way (or asked of ``run()``): later callers wait for it (or keep the credential in hand)
        /// rather than run it again.
        var fetching = false
        /// The number of the latest fetch started, and the outcome of the latest finished.
        var fetchNumber = 0
        var finished: (number: Int, result: Result<RedisCredentials, RedisClientError>)?
        /// Callers waiting for the fetch under way.
        var waiters: [CheckedContinuation<Result<RedisCredentials, RedisClientError>, Never>] = []
        /// Whether ``run()`` is there to fetch while callers use the credential in hand.
        var runnerActive = false
        /// When the command last ran (seconds since 1970): runs are at least 10 s apart while a credential works.
        var lastRun = -Double.infinity
    }

    public init(
        origin: Origin, username: String?, schedule: CredentialRefreshSchedule, initial: RedisSecret? = nil,
        onNew: @escaping @Sendable (RedisCredentials) -> Void = { _ in },
        onFailure: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.origin = origin
        self.username = username
        self.schedule = schedule
        let now = Date().timeIntervalSince1970
        self.state = Mutex(State(current: initial.map { RedisCredentials(username: username, password: $0, expiresAt: nil, obtainedAt: now) }))
        self.onNew = onNew
        self.onFailure = onFailure
        (self.fetchRequests, self.fetchRequestsContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Fetches asked of ``run()``.
    private let fetchRequests: AsyncStream<Void>
    private let fetchRequestsContinuation: AsyncStream<Void>.Continuation

    /// Runs the credential command when a fetch is due, until cancelled; returns at once for a file. A fetch asked
    /// for and not run when it ends fails its waiters (the target is stopping).
    public func run() async {
        guard case .command(let argv, let timeout) = self.origin else { return }
        self.state.withLock { $0.runnerActive = true }
        for await _ in self.fetchRequests {
            self.completeFetch(await self.runCommand(argv, timeout: timeout))
        }
        let pending = self.state.withLock { state in
            state.runnerActive = false
            return state.fetching
        }
        if pending {
            self.completeFetch(
                .failure(RedisClientError(.authentication, message: "credential_command \(argv.first ?? "") was not run: the target is stopping")))
        }
    }

    /// Ends the fetch under way with `result`: its waiters get it.
    private func completeFetch(_ result: Result<RedisCredentials, RedisClientError>) {
        let waiters = self.state.withLock { state in
            state.fetching = false
            state.finished = (state.fetchNumber, result)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// The outcome of fetch `number`, once it has finished.
    private func waitForFetch(_ number: Int) async -> Result<RedisCredentials, RedisClientError> {
        await withCheckedContinuation { continuation in
            let done = self.state.withLock { state -> Result<RedisCredentials, RedisClientError>? in
                if let finished = state.finished, finished.number >= number { return finished.result }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    public var summary: Summary {
        let (current, error) = self.state.withLock { ($0.current, $0.lastError) }
        let source: String
        switch self.origin {
        case .file(let path, let key): source = "\(key) \(path)"
        case .command(let argv, _): source = "credential_command \(argv.first ?? "")"
        }
        return Summary(source: source, obtainedAt: current?.obtainedAt, expiresAt: current?.expiresAt, lastError: error)
    }

    /// The password in hand, to scrub it from what servers send back.
    var currentPassword: RedisSecret? { self.state.withLock { $0.current?.password } }

    /// The provider connections use.
    public var provider: RedisCredentialProvider {
        { () async throws(RedisClientError) -> RedisCredentials in try await self.credentials() }
    }

    /// The credentials to authenticate with now (see the type's description).
    public func credentials(now: Double = Date().timeIntervalSince1970) async throws(RedisClientError) -> RedisCredentials {
        switch self.origin {
        case .file(let path, let key):
            return try await self.readFile(path, key: key, now: now)
        case .command(let argv, let timeout):
            return try await self.fromCommand(argv, timeout: timeout, now: now)
        }
    }

    // MARK: a file

    private func readFile(_ path: String, key: String, now: Double) async throws(RedisClientError) -> RedisCredentials {
        // Reading a file blocks: on NIO's thread pool, never the task pool.
        let read: Result<String, CredentialError>
        do {
            read = try await NIOThreadPool.singleton.runIfActive { Self.readPassword(path, key: key) }
        } catch {
            read = .failure(CredentialError(message: "cannot read \(key) \(path): \(error)"))
        }
        switch read {
        case .success(let password):
            let fresh = RedisCredentials(username: self.username, password: RedisSecret(password), expiresAt: nil, obtainedAt: now)
            return self.adopt(fresh, keepObtainedAtIfSame: true)
        case .failure(let error):
            // A file being rewritten (or gone for a moment): the password read before still serves.
            let (current, isNew) = self.state.withLock { state -> (RedisCredentials?, Bool) in
                defer { state.lastError = error.message }
                return (state.current, state.lastError != error.message)
            }
            // Said once per problem, not at every look (every 10 s per connection).
            if isNew { self.onFailure(error.message) }
            if let current { return current }
            throw RedisClientError(.configuration, message: error.message)
        }
    }

    static func readPassword(_ path: String, key: String) -> Result<String, CredentialError> {
        passwordFileContents(path).mapError { problem in
            switch problem {
            case .unreadable(let reason): CredentialError(message: "cannot read \(key) \(path): \(reason)")
            case .empty: CredentialError(message: "\(key) \(path) is empty")
            }
        }
    }

    // MARK: a command

    private func fromCommand(_ argv: [String], timeout: Duration, now: Double) async throws(RedisClientError) -> RedisCredentials {
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
    private func runCommand(_ argv: [String], timeout: Duration) async -> Result<RedisCredentials, RedisClientError> {
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

    /// Makes `fresh` current; tells `onNew` when it authenticates differently. A file read again that holds the same
    /// password keeps its first time.
    private func adopt(_ fresh: RedisCredentials, keepObtainedAtIfSame: Bool) -> RedisCredentials {
        let (adopted, isNew) = self.state.withLock { state -> (RedisCredentials, Bool) in
            state.lastError = nil
            state.failures = 0
            state.nextAttempt = 0
            if let current = state.current, !current.differs(from: fresh), keepObtainedAtIfSame {
                return (current, false)
            }
            let isNew = state.current.map { $0.differs(from: fresh) || $0.expiresAt != fresh.expiresAt } ?? true
            state.current = fresh
            return (fresh, isNew)
        }
        if isNew { self.onNew(adopted) }
        return adopted
    }
}

struct CredentialError: Error, Sendable {
    var message: String
}

/// Why a password file gave no password.
enum PasswordFileProblem: Error {
    case unreadable(String)
    case empty
}

/// The password a file holds: its text without line breaks at either end. The configuration check and the
/// credential source read password files alike; each says a problem in its own words.
func passwordFileContents(_ path: String) -> Result<String, PasswordFileProblem> {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return .failure(.unreadable(unreadableFileReason(path))) }
    let password = text.trimming("\r\n")
    return password.isEmpty ? .failure(.empty) : .success(password)
}
