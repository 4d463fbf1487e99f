import ServiceLifecycle

/// A multiplexer is a `Service`: ``RedisMultiplexer/run()`` keeps its connections up and returns, with them closed,
/// when its task is cancelled, when its service group shuts down gracefully, or when ``RedisMultiplexer/shutdown()``
/// is called. Its owners (``ResilientRedisClient``, ``RedisClusterClient``) run it in their own task groups.
extension RedisMultiplexer: Service {}
