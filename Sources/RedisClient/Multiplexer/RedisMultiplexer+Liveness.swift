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

    func liveness(_ report: LivenessMonitor.Machine.Report, on connection: RedisConnection) {
        let event: MultiplexerEvent
        switch report {
        case .probe(let latency): event = .probe(latency: latency)
        case .unresponsive(let failures, let lastError): event = .unresponsive(consecutiveFailures: failures, lastError: lastError)
        case .responsive: event = .responsive
        }
        self.emit(event, ifCurrent: connection, role: .interactive)
    }
}
