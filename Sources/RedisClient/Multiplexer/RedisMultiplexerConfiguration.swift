/// Everything a multiplexer needs. Every default is documented on its property and in the README.
public struct RedisMultiplexerConfiguration: Sendable {
    /// What to do with a command issued while no connection is up.
    public enum BacklogPolicy: String, Sendable, Hashable {
        /// Wait for the connection, within the command's timeout. [default]
        case queue
        /// Fail at once with `.notConnected`.
        case failFast = "fail-fast"
    }

    public var connection: RedisConnectionConfiguration
    /// Time between liveness probes (PING) on the interactive connection; `nil` turns probes off. [1 s]
    public var probeInterval: Duration?
    /// Deadline of one probe. [1 s]
    public var probeTimeout: Duration
    /// When connections authenticated with credentials from a provider re-authenticate. [75 % of the lifetime, at
    /// least 3 min early; 10 s checks for credentials that do not expire]
    public var credentialRefresh = CredentialRefreshSchedule()
    /// Consecutive probe misses before the multiplexer reports itself unresponsive. [2]
    public var probeFailures: Int
    /// A Redis `PING` goes on any connection idle this long, so that the server (managed Redis: 10 minutes) never
    /// closes it as idle. Configuration key `keepalive_interval`; not the kernel's TCP keepalive
    /// (``RedisConnectionConfiguration/TCPOptions``, keys `tcp.keepalive_*`). Must be below 600 s. [60 s]
    public var idlePingInterval: Duration
    /// A connection from which nothing was read for this long, while a command or probe went unanswered, is
    /// dead and closed. `nil` means the command timeout. [command timeout]
    public var deadAfterSilence: Duration?
    /// Level-1 reconnect backoff. [100 ms … 2 s, full jitter]
    public var backoff: Backoff
    /// The largest wait between attempts while a connection of this role has never come up; `nil`: the backoff's
    /// cap. Cluster nodes that never answered back off further (30 s) so that a topology full of unreachable
    /// nodes does not keep the host redialing. [nil]
    public var neverConnectedBackoffCap: Duration? = nil
    /// TCP connect timeout of reconnect attempts (the first attempt uses the connect timeout). Bounded attempts
    /// recover fast when a black-holed path returns: a fresh SYN goes out instead of waiting for the kernel's
    /// next retransmission (1 s, 3 s, 7 s after the first). The smaller of this and the connect timeout. [1.5 s]
    public var reconnectConnectTimeout: Duration
    /// A connection that stayed up this long resets the backoff to its first step. [5 s]
    public var healthyPeriod: Duration
    public var backlogPolicy: BacklogPolicy
    /// Most commands waiting for a connection at once; more fail with `.backlogFull`. [1000]
    public var maxBacklog: Int
    /// Level-2 reconnect guard.
    public var forceReconnect: ForceReconnectGuard<ContinuousClock.Instant>.Configuration
    /// Maintenance push notifications (RESP3): asked for on every interactive connection unless off. [auto]
    public var maintenanceNotifications = MaintenanceNotificationSettings()

    public init(
        connection: RedisConnectionConfiguration,
        probeInterval: Duration? = .seconds(1),
        probeTimeout: Duration = .seconds(1),
        probeFailures: Int = 2,
        idlePingInterval: Duration = .seconds(60),
        deadAfterSilence: Duration? = nil,
        backoff: Backoff = Backoff(),
        reconnectConnectTimeout: Duration = .milliseconds(1500),
        healthyPeriod: Duration = .seconds(5),
        backlogPolicy: BacklogPolicy = .queue,
        maxBacklog: Int = 1000,
        forceReconnect: ForceReconnectGuard<ContinuousClock.Instant>.Configuration = .init()
    ) {
        self.connection = connection
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.probeFailures = probeFailures
        self.idlePingInterval = idlePingInterval
        self.deadAfterSilence = deadAfterSilence
        self.backoff = backoff
        self.reconnectConnectTimeout = reconnectConnectTimeout
        self.healthyPeriod = healthyPeriod
        self.backlogPolicy = backlogPolicy
        self.maxBacklog = maxBacklog
        self.forceReconnect = forceReconnect
    }

    /// The backoff between attempts: while no connection of the role has ever come up, its cap is raised to
    /// ``neverConnectedBackoffCap`` (when set).
    public func reconnectBackoff(everConnected: Bool) -> Backoff {
        var backoff = self.backoff
        if !everConnected, let cap = self.neverConnectedBackoffCap { backoff.cap = max(backoff.cap, cap) }
        return backoff
    }

    /// Managed Redis (Azure, ElastiCache) closes connections idle for 10 minutes.
    public static let managedIdleTimeout: Duration = .seconds(600)

    /// Every problem with this configuration, each naming the setting, its value and what to do.
    public func validate() -> [String] {
        var problems: [String] = []
        if self.idlePingInterval >= Self.managedIdleTimeout {
            problems.append(
                "keepalive_interval \(self.idlePingInterval.humanReadable) must be below 600s: managed Redis closes idle connections after 10 minutes"
            )
        }
        if self.idlePingInterval <= .zero { problems.append("keepalive_interval must be positive") }
        if let probeInterval = self.probeInterval, probeInterval <= .zero {
            problems.append("probe_interval \(probeInterval.humanReadable) must be positive")
        }
        if self.probeTimeout <= .zero { problems.append("probe_timeout must be positive") }
        if self.probeFailures < 1 { problems.append("probe_failures \(self.probeFailures) must be at least 1") }
        if self.connection.connectTimeout <= .zero { problems.append("connect_timeout must be positive") }
        if self.connection.commandTimeout <= .zero { problems.append("command_timeout must be positive") }
        if self.backoff.base <= .zero || self.backoff.cap < self.backoff.base {
            problems.append(
                "reconnect.backoff_base \(self.backoff.base.humanReadable) must be positive and at most backoff_cap \(self.backoff.cap.humanReadable)"
            )
        }
        if self.maintenanceNotifications.relaxedTimeout <= .zero { problems.append("relaxed_timeout must be positive") }
        if self.maxBacklog < 0 { problems.append("max_backlog \(self.maxBacklog) must not be negative") }
        if self.forceReconnect.minimumInterval < .zero || self.forceReconnect.errorThreshold < .zero {
            problems.append("reconnect.min_interval and reconnect.error_threshold must not be negative")
        }
        return problems
    }
}
