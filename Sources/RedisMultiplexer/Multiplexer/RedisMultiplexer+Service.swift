import ServiceLifecycle

/// A multiplexer is a `Service`: ``RedisMultiplexer/run()`` keeps its connections up and returns, with them closed,
/// when its task is cancelled or ``RedisMultiplexer/shutdown()`` is called.
///
/// Its owners (``ResilientRedisClient``, ``RedisClusterClient``) run it in their own task groups and shut it down
/// when a `ServiceGroup`'s graceful shutdown reaches them. On its own in a `ServiceGroup`, `run()` ends when the
/// group cancels it (it does not yet react to the graceful shutdown itself).
extension RedisMultiplexer: Service {}
