import RedisClient

/// One change to a target's status, whatever its source. Each source hands its events to the supervisor's one
/// stream (``TargetSupervisor/submit(_:)``) in the order it emits them; one loop folds them all.
enum TargetEvent: Sendable {
    /// An event of the target's own connections (its client's multiplexer).
    case multiplexer(MultiplexerEvent)
    /// An event of the cluster client: topology refreshes, node connections.
    case cluster(ClusterEvent)
    /// A message on the maintenance pub/sub channel (``MaintenanceEvent/channel``).
    case maintenanceMessage(String)
    /// The replicas whose announced host name does not resolve (endpoint → why), after a check.
    case replicaProblems([String: String])
    /// standalone, cluster, detecting or off.
    case topologyMode(String)
    /// What the pub/sub canary saw.
    case canary(CanaryChange)
    /// The first subscription of the target's client: the folding loop tells the supervisor's task, which starts the
    /// canary (it runs only while something is subscribed). Nothing to fold.
    case subscribed
}

/// What the pub/sub canary tells the status (times: seconds since 1970; round trips: seconds).
enum CanaryChange: Sendable {
    case started(TargetStatus.CanaryStatus)
    case arrived(roundTrip: Double, at: Double)
    case missed(at: Double)
    case disabled(String)
}
