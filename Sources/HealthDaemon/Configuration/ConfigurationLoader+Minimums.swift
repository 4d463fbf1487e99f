/// Validation of durations: the least value accepted for each duration key, and why.
extension ConfigurationLoader {
    /// The least value accepted for each duration key (below it a setting only loads the server or the host, or the
    /// kernel cannot apply it), and why.
    public static let minimums: [String: Duration] = [
        "probe_interval": .milliseconds(100),
        "probe_timeout": .milliseconds(10),
        "command_timeout": .milliseconds(10),
        "connect_timeout": .milliseconds(10),
        "keepalive_interval": .seconds(1),
        "canary_interval": .milliseconds(100),
        "timeout": .milliseconds(100),
        "min_interval": .zero,
        "reconnect.backoff_base": .milliseconds(1),
        "reconnect.connect_timeout": .milliseconds(10),
        "reconnect.backoff_cap": .milliseconds(1),
        "topology.refresh_interval": .seconds(1),
        "topology.min_refresh_interval": .milliseconds(100),
        "tcp.keepalive_idle": .seconds(1),
        "tcp.keepalive_interval": .seconds(1),
        "tcp.user_timeout": .seconds(1),
        "control.request_timeout": .milliseconds(100),
        "control.idle_timeout": .milliseconds(100),
        "metrics.request_timeout": .milliseconds(100),
        "metrics.idle_timeout": .milliseconds(100),
    ]

    static let minimumReasons: [String: String] = [
        "probe_interval": "probes more often only load the server",
        "probe_timeout": "no round trip is that fast; every probe would fail",
        "command_timeout": "no round trip is that fast; every command would fail",
        "connect_timeout": "no connection is made that fast",
        "keepalive_interval": "a keepalive PING more often than once a second only loads the server",
        "canary_interval": "a canary PUBLISHed more often only loads the server",
        "reconnect.backoff_base": "reconnecting in a tight loop loads the server",
        "reconnect.connect_timeout": "no connection is made that fast",
        "reconnect.backoff_cap": "reconnecting in a tight loop loads the server",
        "topology.refresh_interval": "reading the topology more often only loads the cluster",
        "topology.min_refresh_interval": "refreshes triggered more often only load the cluster",
        "tcp.keepalive_idle": "the kernel counts it in whole seconds",
        "tcp.keepalive_interval": "the kernel counts it in whole seconds",
        "tcp.user_timeout": "a shorter TCP_USER_TIMEOUT drops healthy connections on any hiccup",
        "control.request_timeout": "no client sends a request that fast",
        "control.idle_timeout": "clients could not reuse a connection",
        "metrics.request_timeout": "no client sends a request that fast",
        "metrics.idle_timeout": "clients could not reuse a connection",
    ]
}
