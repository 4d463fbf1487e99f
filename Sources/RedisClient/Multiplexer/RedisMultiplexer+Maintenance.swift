import RESP

/// Maintenance notifications: the pushes on the interactive connection that open and close a maintenance
/// window, and the window's relaxed timeouts.
extension RedisMultiplexer {
    /// Whether a maintenance window is open now: timeouts relaxed, errors not counted toward a force-reconnect.
    public var isInMaintenanceWindow: Bool { self.state.withLock { $0.maintenance.isRelaxed(now: .now) } }

    /// The maintenance window open now, if any.
    public var maintenanceWindow: MaintenanceWindow<ContinuousClock.Instant>.Active? {
        self.state.withLock { $0.maintenance.active(now: .now) }
    }

    /// `timeout`, or the relaxed timeout when longer and a maintenance window is open.
    func relaxed(_ timeout: Duration) -> Duration {
        self.state.withLock { $0.maintenance.timeout(timeout, now: .now) }
    }

    /// A push on the interactive connection (on its event loop: only parsing and bookkeeping here).
    func pushReceived(_ value: RESPValue) {
        let node = self.configuration.connection.endpoint
        switch MaintenancePush.classify(value) {
        case .other:
            return
        case .malformed(let type, let reason):
            self.emit(.maintenanceMalformed(node: node, type: type, reason: reason))
        case .notification(let notification):
            self.emitOrder.withLock { _ in
                let outcome = self.state.withLock { $0.maintenance.apply(notification, now: .now) }
                var stale = false
                if case .stale = outcome { stale = true }
                self.emitter(.maintenanceNotification(node: node, notification, stale: stale))
            }
        }
    }
}
