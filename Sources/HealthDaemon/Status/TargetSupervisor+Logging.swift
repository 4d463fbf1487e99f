import Logging
import RedisClient

/// What of the target's connection events reaches the log: the first failure of a run, a summary a minute, the
/// recovery with the run's count (per connection role, per cluster node, force-reconnect suppressions).
extension TargetSupervisor {
    /// Logs what an operator needs: the first failure of a run, a new kind of failure, a summary a minute while it
    /// goes on, the recovery with the run's count; every attempt goes to the events and the metrics only.
    func log(_ event: MultiplexerEvent, now: Double) {
        switch event {
        case .connectionFailed(let role, _, let kind, let message):
            let decision = self.throttles.withLock { $0.failures[role.rawValue, default: LogThrottle()].failure(kind: "\(kind)", now: now) }
            switch decision {
            case .log:
                self.logger.warning(
                    "Connection failed",
                    metadata: [
                        "redis.event": "connection-failed", "redis.role": "\(role.rawValue)", "error.kind": "\(kind)",
                        "error.message": "\(message)",
                    ])
            case .summary(let count, let seconds):
                self.logger.warning(
                    "Connection still failing",
                    metadata: [
                        "redis.event": "connection-still-failing", "redis.role": "\(role.rawValue)", "error.kind": "\(kind)",
                        "redis.attempts": "\(count)", "redis.window_seconds": "\(Int(seconds.rounded()))",
                        "error.message": "\(message)",
                    ])
            case .quiet:
                self.logger.debug(
                    "Connection failed", metadata: ["redis.event": "connection-failed", "error.kind": "\(kind)", "error.message": "\(message)"])
            }
        case .connected(let role, _, let version, let restored):
            let run = self.throttles.withLock { $0.failures[role.rawValue]?.recovered(now: now) } ?? nil
            var metadata: Logger.Metadata = [
                "redis.event": restored ? "connection-restored" : "connected", "redis.role": "\(role.rawValue)",
                "redis.protocol": "\(version)",
            ]
            if let run {
                metadata["redis.failed_attempts"] = "\(run.failures)"
                metadata["redis.outage_seconds"] = "\(Int(run.seconds.rounded()))"
            }
            self.logger.info(restored ? "Connection restored" : "Connected", metadata: metadata)
        case .reauthenticated(let role, let outcome, let message):
            var metadata: Logger.Metadata = ["redis.event": "reauthenticated", "redis.role": "\(role.rawValue)", "redis.outcome": "\(outcome)"]
            if let message { metadata["error.message"] = "\(message)" }
            switch outcome {
            case "ok": self.logger.info("Connection authenticated again with new credentials", metadata: metadata)
            case "reconnect": self.logger.info("Subscriber connection reconnects for new credentials (RESP2 cannot AUTH while subscribed)", metadata: metadata)
            case "expired": self.logger.warning("Connection closed: its credentials expired and no new ones could be had", metadata: metadata)
            default: self.logger.warning("Connection could not authenticate again with new credentials", metadata: metadata)
            }
        case .unresponsive(let failures, let error):
            self.logger.warning(
                "Target unresponsive",
                metadata: ["redis.event": "unresponsive", "redis.probe_failures": "\(failures)", "error.message": "\(error)"])
        case .forceReconnect(true, let reason):
            self.logger.notice("Force-reconnect acted", metadata: ["redis.event": "force-reconnect-acted", "redis.reason": "\(reason)"])
        case .forceReconnect(false, let reason):
            // Suppressions repeat while errors go on: the first of a run and a summary a minute.
            let decision = self.throttles.withLock { $0.suppressions.failure(kind: reason, now: now) }
            switch decision {
            case .log:
                self.logger.notice(
                    "Force-reconnect suppressed", metadata: ["redis.event": "force-reconnect-suppressed", "redis.reason": "\(reason)"])
            case .summary(let count, let seconds):
                self.logger.notice(
                    "Force-reconnects still suppressed",
                    metadata: [
                        "redis.event": "force-reconnect-suppressed", "redis.reason": "\(reason)", "redis.suppressed": "\(count)",
                        "redis.window_seconds": "\(Int(seconds.rounded()))",
                    ])
            case .quiet:
                break
            }
        default:
            self.logger.debug("Multiplexer event", metadata: ["redis.event": "multiplexer-event", "redis.detail": "\(describe(event))"])
        }
    }

    /// Logs a cluster node's connection failure as ``log(_:now:)`` does the target's own (per node and role).
    func logNodeFailure(endpoint: RedisEndpoint, role: MultiplexerEvent.ConnectionRole, kind: RedisClientError.Code, message: String, now: Double) {
        let key = "\(endpoint) \(role.rawValue)"
        let decision = self.throttles.withLock { $0.nodes[key, default: LogThrottle()].failure(kind: "\(kind)", now: now) }
        var metadata: Logger.Metadata = [
            "redis.event": "connection-failed", "redis.node_endpoint": "\(endpoint)", "redis.role": "\(role.rawValue)",
            "error.kind": "\(kind)", "error.message": "\(message)",
        ]
        switch decision {
        case .log:
            self.logger.warning("Cluster node connection failed", metadata: metadata)
        case .summary(let count, let seconds):
            metadata["redis.event"] = "connection-still-failing"
            metadata["redis.attempts"] = "\(count)"
            metadata["redis.window_seconds"] = "\(Int(seconds.rounded()))"
            self.logger.warning("Cluster node connection still failing", metadata: metadata)
        case .quiet:
            self.logger.debug("Cluster node connection failed", metadata: metadata)
        }
    }

    /// A cluster node's connection is up: its run of failures ends.
    func nodeRecovered(endpoint: RedisEndpoint, role: MultiplexerEvent.ConnectionRole, now: Double) {
        _ = self.throttles.withLock { $0.nodes["\(endpoint) \(role.rawValue)"]?.recovered(now: now) }
    }
}
