#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
    let state: Mutex<State>
    /// Told of every credential obtained that differs from the last (to scrub it, to export its expiry).
    private let onNew: @Sendable (RedisCredentials) -> Void
    /// Told when fetching failed (the reason, never the output).
    let onFailure: @Sendable (String) -> Void

    struct State: Sendable {
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
    let fetchRequestsContinuation: AsyncStream<Void>.Continuation

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
    func completeFetch(_ result: Result<RedisCredentials, RedisClientError>) {
        let waiters = self.state.withLock { state in
            state.fetching = false
            state.finished = (state.fetchNumber, result)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// The outcome of fetch `number`, once it has finished.
    func waitForFetch(_ number: Int) async -> Result<RedisCredentials, RedisClientError> {
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

    /// Makes `fresh` current; tells `onNew` when it authenticates differently. A file read again that holds the same
    /// password keeps its first time.
    func adopt(_ fresh: RedisCredentials, keepObtainedAtIfSame: Bool) -> RedisCredentials {
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
