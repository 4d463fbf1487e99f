import RedisClient

/// The daemon's whole configuration, as read from `redis-healthd.yaml`. Defaults as in config/redis-healthd.yaml.
public struct DaemonConfiguration: Sendable {
    public struct Control: Sendable, Hashable, Equatable {
        /// Path of the control socket. [/run/redis-healthd/control.sock]
        public var socket: String = "/run/redis-healthd/control.sock"
        /// Its permissions. [0660]
        public var mode: UInt32 = 0o660
        /// Connections at once, time to send a request, keep-alive idle time. [64, 10 s, 60 s]
        public var limits = ConnectionLimits.control
    }

    public struct Target: Sendable {
        public enum ClusterMode: String, Sendable, Hashable, CaseIterable {
            case off, auto, on
        }

        public enum MaintenanceEvents: String, Sendable, Hashable, CaseIterable {
            case auto, on, off
        }

        public var name: String
        public var multiplexer: RedisMultiplexerConfiguration
        public var passwordFile: String?
        public var passwordCredential: String?
        public var cluster: ClusterMode = .auto
        public var allowedPorts: [ClosedRange<Int>] = [6379...6379, 6380...6380, 13000...13999, 15000...15999]
        public var allowedNetworks: [String] = []
        public var dialDisallowed = false
        public var maintenanceEvents: MaintenanceEvents = .auto
        /// While anything is subscribed, a canary is PUBLISHed on the daemon's heartbeat channel this often and
        /// must arrive on the subscriber connection within probe_timeout × probe_failures; zero: off. [30 s]
        public var canaryInterval: Duration = .seconds(30)
        /// Time between periodic topology refreshes of a cluster target. [60 s]
        public var topologyRefreshInterval: Duration = .seconds(60)
        /// Least time between two refreshes, however many triggers come. [5 s]
        public var topologyMinimumRefreshInterval: Duration = .seconds(5)
        /// Topology snapshots kept in the history. [50]
        public var topologyHistory = 50
        /// A topology listing more nodes than this is a warning (a real cluster rarely has that many; a broken or
        /// hostile one may announce thousands). [500]
        public var topologyMaxNodes = 500
        /// A TLS certificate (leaf or chain) expiring within this is a warning, repeated daily; the target stays
        /// healthy and its reason says so. [14 days]
        public var tlsExpiryWarning: Duration = .seconds(14 * 86_400)
        /// A command printing `{"username", "password", "expires_at"}` as JSON (rotating credentials such as
        /// Microsoft Entra ID tokens); excludes password_file and password_credential. [nil]
        public var credentialCommand: [String]?
        /// Time the credential command may take; then it is killed. [10 s]
        public var credentialTimeout: Duration = .seconds(10)
        /// Connections re-authenticate at least this long before their credential expires (and at 75 % of its
        /// lifetime, whichever comes first). [3 min]
        public var credentialRefreshMargin: Duration = .seconds(180)

        /// The allow-lists as rules (the CIDRs were validated when the file was read).
        public var endpointRules: EndpointRules {
            EndpointRules(allowedPorts: self.allowedPorts, allowedNetworks: self.allowedNetworks.compactMap { EndpointRules.Network(cidr: $0) })
        }

        /// Whether to subscribe to maintenance events (AzureRedisEvents): `on`, or `auto` on an Azure Cache host.
        public var subscribesToMaintenanceEvents: Bool {
            switch self.maintenanceEvents {
            case .on: true
            case .off: false
            case .auto: MaintenanceEvent.isAzureCacheHost(self.multiplexer.connection.endpoint.host)
            }
        }
    }

    public var control = Control()
    /// `host:port` of a Prometheus listener; nil: off.
    public var metricsListen: String?
    /// The metrics listener's connections at once, time to send a request, keep-alive idle time. [16, 10 s, 60 s]
    public var metricsLimits = ConnectionLimits.metrics
    /// trace, debug, info, notice, warning, error, critical. [info]
    public var logLevel = "info"
    public var targets: [Target] = []
    /// Commands run on state changes and other events (`hooks:`).
    public var hooks: [HookConfiguration] = []

    public init() {}
}

/// Everything wrong with a configuration file, each with its key path.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// e.g. `targets[0].keepalive_interval`
        public var path: String
        public var message: String
        public var description: String { self.path.isEmpty ? self.message : "\(self.path): \(self.message)" }

        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    public var file: String
    public var problems: [Problem]

    public init(file: String, problems: [Problem]) {
        self.file = file
        self.problems = problems
    }

    /// `/etc/redis-healthd/redis-healthd.yaml: 2 problems:` and one `  - path: message` line per problem.
    public var description: String {
        "\(self.file.isEmpty ? "configuration" : self.file): \(self.problems.count) problem\(self.problems.count == 1 ? "" : "s"):\n"
            + self.problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
