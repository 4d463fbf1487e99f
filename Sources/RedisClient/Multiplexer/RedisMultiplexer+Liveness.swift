/// The multiplexer as its ``LivenessMonitor``'s owner: the silence limit of its connections, when a connection
/// was last used, the probe timeout, and the monitor's reports handed on as events.
extension RedisMultiplexer {
    var silenceLimit: Duration {
        self.configuration.deadAfterSilence ?? self.configuration.connection.commandTimeout
    }
}

extension RedisMultiplexer: LivenessMonitor.Owner {
    /// When a caller's command last went on the interactive connection.
    var lastUsedAt: ContinuousClock.Instant { self.liveness.lastUse.instant }

    var probeTimeout: Duration { self.relaxed(self.configuration.probeTimeout) }

    func liveness(_ event: MultiplexerEvent, on connection: RedisConnection) {
        self.emit(event, ifCurrent: connection, role: .interactive)
    }
}
