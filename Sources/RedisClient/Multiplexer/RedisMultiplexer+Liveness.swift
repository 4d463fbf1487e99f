/// The multiplexer as its ``LivenessMonitor``'s owner: the silence limit of its connections, the probe timeout, and
/// the monitor's reports handed on as events (when a connection was last used, the monitor reads from its
/// ``LastUse``, which the multiplexer writes).
extension RedisMultiplexer {
    var silenceLimit: Duration {
        self.configuration.deadAfterSilence ?? self.configuration.connection.commandTimeout
    }
}

extension RedisMultiplexer: LivenessMonitor.Owner {
    var probeTimeout: Duration { self.relaxed(self.configuration.probeTimeout) }

    func liveness(_ event: MultiplexerEvent, on connection: RedisConnection) {
        self.emit(event, ifCurrent: connection, role: .interactive)
    }
}
