/// The multiplexer as its ``LivenessMonitor``'s owner: the silence limit of its connections, when a connection
/// was last used, the probe timeout, and the monitor's reports handed on as events.
extension RedisMultiplexer {
    var silenceLimit: Duration {
        self.configuration.deadAfterSilence ?? self.configuration.connection.commandTimeout
    }
}

extension RedisMultiplexer: LivenessMonitor.Owner {
    var lastUsedAt: ContinuousClock.Instant { self.state.withLock { $0.lastUsedAt } }

    var probeTimeout: Duration { self.relaxed(self.configuration.probeTimeout) }

    func liveness(_ event: MultiplexerEvent, on connection: RedisConnection) {
        self.emit(event, ifCurrent: connection, role: .interactive)
    }
}
