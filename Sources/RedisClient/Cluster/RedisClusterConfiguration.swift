/// Settings of a cluster client. Every default is documented on its property.
public struct RedisClusterConfiguration: Sendable {
    /// The template of every node's multiplexer (probes, timeouts, TLS, credentials); its endpoint is ignored.
    public var node: RedisMultiplexerConfiguration
    /// Where discovery starts when no node connection is up.
    public var seeds: [RedisEndpoint]
    /// Time between periodic topology refreshes. [60 s]
    public var refreshInterval: Duration
    /// Least time between two refreshes, however many triggers (MOVED, ASK, failures) come. [5 s]
    public var minimumRefreshInterval: Duration
    /// MOVED/ASK redirections one command may follow. [5]
    public var maxRedirects: Int
    /// A topology with more nodes than this is reported (``ClusterEvent/tooManyNodes(count:limit:)``): a real
    /// cluster rarely has that many, a broken or hostile one may announce thousands. [500]
    public var maxNodes: Int = 500
    /// Largest wait between attempts to a node that never answered. [30 s]
    public var unreachableNodeBackoffCap: Duration = .seconds(30)
    /// Least time between two connection attempts across all of the cluster's nodes. [50 ms]
    public var dialInterval: Duration = .milliseconds(50)

    public init(
        node: RedisMultiplexerConfiguration, seeds: [RedisEndpoint], refreshInterval: Duration = .seconds(60),
        minimumRefreshInterval: Duration = .seconds(5), maxRedirects: Int = 5
    ) {
        self.node = node
        self.seeds = seeds
        self.refreshInterval = refreshInterval
        self.minimumRefreshInterval = minimumRefreshInterval
        self.maxRedirects = maxRedirects
    }
}
