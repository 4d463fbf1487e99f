/// What a cluster client saw or did.
public enum ClusterEvent: Sendable {
    /// A topology was read (`command`: CLUSTER SHARDS or CLUSTER SLOTS) from `source`.
    case topologyRefreshed(ClusterTopology, source: RedisEndpoint, command: String, trigger: String)
    /// No candidate answered with a topology.
    case refreshFailed(trigger: String, message: String)
    /// A node's multiplexer was created (the node joined, or a redirection pointed to it).
    case nodeOpened(RedisEndpoint)
    /// A node's multiplexer was closed (the node left the topology or stopped serving as a primary).
    case nodeClosed(RedisEndpoint, reason: String)
    /// The dial policy forbids this endpoint: no connection is made to it.
    case nodeNotDialed(nodeID: String?, endpoint: RedisEndpoint, reason: String)
    /// A command was redirected.
    case redirected(ClusterRedirection)
    /// The topology lists more nodes than ``RedisClusterConfiguration/maxNodes`` (said once until it drops back).
    case tooManyNodes(count: Int, limit: Int)
    /// An event of one node's multiplexer.
    case node(RedisEndpoint, MultiplexerEvent)
}
