/// An endpoint the cluster client is about to dial, for the dial policy to judge.
public struct DialCandidate: Sendable, Hashable {
    public var endpoint: RedisEndpoint
    /// The node's id, when the topology names it (not for a redirection to an unknown node).
    public var nodeID: String?
    /// The IP address the node announces, when known: the endpoint's host may be a name.
    public var announcedIP: String?

    public init(endpoint: RedisEndpoint, nodeID: String? = nil, announcedIP: String? = nil) {
        self.endpoint = endpoint
        self.nodeID = nodeID
        self.announcedIP = announcedIP
    }
}
