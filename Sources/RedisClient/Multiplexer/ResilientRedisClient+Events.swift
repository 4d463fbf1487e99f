/// Events of the multiplexers: the current one's published and fed to the force-reconnect guard, a
/// replacement's telling when it is ready to be swapped in, others dropped.
extension ResilientRedisClient {
    /// Events of the current multiplexer are published and fed to the guard; a replacement's tell when it is
    /// ready to be swapped in; others are dropped.
    func multiplexerEvent(_ event: MultiplexerEvent, generation: Int) {
        self.publishOrder.withLock { _ in self.routeAndPublish(event, generation: generation) }
    }

    private func routeAndPublish(_ event: MultiplexerEvent, generation: Int) {
        enum Route {
            case current
            case replacement(OneShot<ReplacementReady>)
            case drop
        }
        let route = self.state.withLock { state -> Route in
            if state.current.generation == generation { return .current }
            if let replacement = state.replacement, replacement.multiplexer.generation == generation {
                return .replacement(replacement.ready)
            }
            return .drop
        }
        switch route {
        case .current: break
        case .drop: return
        case .replacement(let ready):
            self.replacementEvent(event, ready: ready)
            return
        }
        self.publish(event)
        if case .maintenanceNotification(_, let notification, false) = event, notification.kind == .moving {
            self.requestsContinuation.yield(.handoff(notification, generation: generation))
        }
        let kind: ForceReconnectGuard<ContinuousClock.Instant>.ErrorKind
        switch event {
        case .connectionFailed(.interactive, _, let code, _):
            switch code {
            case .commandTimeout, .unresponsive, .connectTimeout: kind = .timeout
            case .socket: kind = .socket
            default: kind = .connection
            }
        case .unresponsive:
            kind = .timeout
        case .connected(.interactive, _, _, true), .responsive:
            self.state.withLock { $0.guardState.recovered(now: .now) }
            return
        default:
            return
        }
        self.observeError(kind)
    }

    /// Whether errors now are expected: the current multiplexer is in a maintenance window.
    private var inMaintenanceWindow: Bool { self.current.isInMaintenanceWindow }

    /// A replacement is ready once connected and, with probes on, once a probe answered on that connection.
    private func replacementEvent(_ event: MultiplexerEvent, ready: OneShot<ReplacementReady>) {
        let probesOn = self.configuration.probeInterval != nil
        switch event {
        case .connected(.interactive, let endpoint, let version, _):
            let connected = ReplacementReady(endpoint: endpoint, protocolVersion: version, probeLatency: nil)
            if probesOn {
                ready.stage(connected)
            } else {
                ready.fulfil(connected)
            }
        case .probe(let latency):
            ready.fulfilStaged { staged in
                var staged = staged
                staged.probeLatency = latency
                return staged
            }
        case .connectionFailed(.interactive, _, _, _):
            ready.unstage()
        default:
            break
        }
    }

    func observeError(_ kind: ForceReconnectGuard<ContinuousClock.Instant>.ErrorKind) {
        // During a maintenance window the server said errors would come: they do not count.
        if self.inMaintenanceWindow { return }
        let decision = self.state.withLock { $0.guardState.errorObserved(kind, now: .now) }
        switch decision.reason {
        case .firstError, .belowThreshold, .errorNotCounted:
            // Routine while errors accumulate: not an operator-visible decision.
            return
        case .errorThresholdExceeded, .manual, .minimumInterval, .inProgress:
            break
        }
        self.publish(.forceReconnect(acted: decision.acted, reason: decision.reason.rawValue))
        if decision.acted { self.requestsContinuation.yield(.swap(reason: decision.reason, done: nil)) }
    }
}
