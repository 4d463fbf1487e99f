/// Credentials that may change while connections live: a password file rewritten, a token from a credential
/// command that expires (Microsoft Entra ID). A provider is asked at every connect; connections authenticated
/// with credentials that expire re-authenticate before they do (``CredentialRefreshSchedule``).
public struct RedisCredentials: Sendable, Equatable {
    /// ACL user name; nil: the connection's configured one (or `default`).
    public var username: String?
    public var password: RedisSecret
    /// When the credential stops working (seconds since 1970); nil: it does not expire.
    public var expiresAt: Double?
    /// When it was obtained (seconds since 1970).
    public var obtainedAt: Double

    public init(username: String?, password: RedisSecret, expiresAt: Double?, obtainedAt: Double) {
        self.username = username
        self.password = password
        self.expiresAt = expiresAt
        self.obtainedAt = obtainedAt
    }

    /// Whether `other` authenticates as something else (another user or password).
    public func differs(from other: RedisCredentials) -> Bool {
        self.username != other.username || self.password != other.password
    }
}

/// Gives the credentials to authenticate with now. It decides when to fetch new ones (a file is read every time;
/// a command runs again when its credential nears expiry) and throws when none can be had: never an expired one.
public typealias RedisCredentialProvider = @Sendable () async throws(RedisClientError) -> RedisCredentials

/// When a connection authenticated with credentials re-authenticates: at 75 % of their lifetime and at least
/// `margin` before they expire, a little earlier per connection (`jitter`, so that many connections do not
/// re-authenticate at once); credentials that do not expire are checked again every `checkInterval` (a password
/// file rewritten is then used without a reconnect). Pure: the time is passed in.
public struct CredentialRefreshSchedule: Sendable, Equatable {
    /// At least this long before expiry. [3 min]
    public var margin: Duration
    /// Credentials that do not expire are looked at again this often. [10 s]
    public var checkInterval: Duration
    /// Least wait between two attempts (a refresh that failed, or a point already past). [1 s]
    public var minimumWait: Duration

    public init(margin: Duration = .seconds(180), checkInterval: Duration = .seconds(10), minimumWait: Duration = .seconds(1)) {
        self.margin = margin
        self.checkInterval = checkInterval
        self.minimumWait = minimumWait
    }

    /// When to re-authenticate (seconds since 1970) a connection using `credentials`; `jitter` in 0…1 moves it up
    /// to 5 % of the lifetime (at most 30 s) earlier.
    public func refreshAt(_ credentials: RedisCredentials, jitter: Double) -> Double? {
        guard let expiry = credentials.expiresAt else { return nil }
        let lifetime = max(0, expiry - credentials.obtainedAt)
        let margin = Double(self.margin.components.seconds)
        let point = min(credentials.obtainedAt + 0.75 * lifetime, expiry - margin)
        return point - min(30, 0.05 * lifetime) * min(max(jitter, 0), 1)
    }

    /// How long to wait, at `now`, before looking at the credentials again.
    public func wait(_ credentials: RedisCredentials, now: Double, jitter: Double) -> Duration {
        guard let point = self.refreshAt(credentials, jitter: jitter) else { return self.checkInterval }
        let seconds = point - now
        let minimum = Double(self.minimumWait.components.seconds) + Double(self.minimumWait.components.attoseconds) / 1e18
        return .milliseconds(Int64(max(seconds, minimum) * 1000))
    }
}
