import LogText
import Logging
import RedisClient

/// Maintenance: push notifications of every connection (windows, handoffs) and the maintenance pub/sub channel.
extension TargetSupervisor {
    /// Folds a maintenance push event (of the target's own connection or of a cluster node's) into the status, the
    /// metrics, the events and the log. Returns false for other events. `now`: seconds since 1970.
    @discardableResult
    func handleMaintenancePush(_ event: MultiplexerEvent, now: Double) -> Bool {
        let name = self.target.name
        switch event {
        case .probe:
            // Windows whose end never came expire; the gauge follows at the probes' pace.
            self.pruneMaintenanceWindows(now: now)
            return false
        case .maintenanceNotificationsRefused(let endpoint, let message):
            let first = self.pushMaintenance.withLock { state -> Bool in
                defer { state.refusalNoted = true }
                return !state.refusalNoted
            }
            guard first else { return true }
            let metadata: Logger.Metadata = [
                "redis.event": "maintenance-notifications-refused", "redis.node_endpoint": "\(endpoint)",
                "error.message": "\(message.escapingControlCharacters)",
            ]
            switch self.target.multiplexer.maintenanceNotifications.mode {
            case .on:
                self.events.append(
                    target: name, text: "\(endpoint) refused CLIENT MAINT_NOTIFICATIONS: \(message)", at: now,
                    kind: "maintenance-notifications-refused")
                self.logger.warning(
                    "The server refuses maintenance notifications (CLIENT MAINT_NOTIFICATIONS); maintenance_notifications is on: no handoffs or relaxed timeouts for this target. Set it to auto or off for servers without them",
                    metadata: metadata)
            case .auto, .off:
                // Expected from servers without the command (open-source Redis): noted once, never an error.
                self.logger.debug("Maintenance notifications not supported by the server", metadata: metadata)
            }
            return true
        case .maintenanceMalformed(let node, let type, let reason):
            self.metrics?.recordMaintenanceNotification(target: name, type: "malformed")
            self.events.append(target: name, text: "malformed \(type) push from \(node) ignored: \(reason)", at: now, kind: "maintenance-malformed")
            let metadata: Logger.Metadata = [
                "redis.event": "maintenance-malformed", "redis.node_endpoint": "\(node)", "redis.maintenance_type": "\(type)",
                "error.message": "\(reason.escapingControlCharacters)",
            ]
            if self.pushMaintenance.withLock({ $0.mayLog(now: now) }) {
                self.logger.notice("Malformed maintenance notification ignored", metadata: metadata)
            } else {
                self.logger.debug("Malformed maintenance notification ignored", metadata: metadata)
            }
            return true
        case .maintenanceNotification(let node, let notification, let stale):
            self.maintenanceNotification(notification, node: node, stale: stale, now: now)
            return true
        case .maintenanceHandoff(let from, let to, let outcome):
            self.maintenanceHandoff(from: from, to: to, outcome: outcome, now: now)
            return true
        default:
            return false
        }
    }

    private func maintenanceNotification(_ notification: MaintenanceNotification, node: RedisEndpoint, stale: Bool, now: Double) {
        let name = self.target.name
        let summary = notification.summary.escapingControlCharacters
        if stale {
            self.metrics?.recordMaintenanceNotification(target: name, type: "stale")
            self.events.append(target: name, text: "maintenance \(summary) from \(node): a replay, ignored", at: now, kind: "maintenance-stale")
            self.logger.debug(
                "Replayed maintenance notification ignored",
                metadata: ["redis.event": "maintenance-stale", "redis.node_endpoint": "\(node)", "redis.maintenance_summary": "\(summary)"])
            return
        }
        self.metrics?.recordMaintenanceNotification(target: name, type: notification.kind.rawValue)
        let relaxed = self.target.multiplexer.maintenanceNotifications.relaxedTimeout
        let key = node.description
        let windows = self.status.withLock { status -> Int in
            let kind = notification.kind
            if kind.startsWindow || kind == .moving {
                let time = kind == .moving ? MaintenanceWindow<ContinuousClock.Instant>.handoffDelay(notification) : (notification.time ?? .zero)
                status.maintenanceWindows[key] = TargetStatus.MaintenanceWindowNote(
                    kind: kind.rawValue, since: now, sequence: notification.sequence,
                    expires: now + seconds(time + relaxed))
            } else {
                status.maintenanceWindows[key] = nil
            }
            status.lastMaintenanceEvent = "\(rfc3339(now)) \(summary) (\(key))"
            return status.maintenanceWindows.count
        }
        self.metrics?.recordMaintenanceWindows(target: name, count: windows)
        var refreshed = false
        if notification.kind == .slotsMigrated || notification.kind == .failedOver {
            refreshed = self.requestTopologyRefresh(trigger: "maintenance:\(notification.kind.rawValue)")
        }
        self.events.append(
            target: name, text: "maintenance \(summary) from \(node)" + (refreshed ? "; topology refresh requested" : ""), at: now,
            importance: .significant, kind: "maintenance-notification")
        let metadata: Logger.Metadata = [
            "redis.event": "maintenance-notification", "redis.node_endpoint": "\(node)",
            "redis.maintenance_type": "\(notification.kind.rawValue)", "redis.maintenance_sequence": "\(notification.sequence)",
            "redis.maintenance_summary": "\(summary)", "redis.topology_refresh": "\(refreshed)",
        ]
        if self.pushMaintenance.withLock({ $0.mayLog(now: now) }) {
            self.logger.notice("Maintenance notification", metadata: metadata)
        } else {
            self.logger.debug("Maintenance notification", metadata: metadata)
        }
        self.hookEvent(.maintenance, reason: "maintenance \(summary) (\(key))")
    }

    private func maintenanceHandoff(from: RedisEndpoint, to: RedisEndpoint, outcome: MultiplexerEvent.HandoffOutcome, now: Double) {
        let name = self.target.name
        let windows = self.status.withLock { status -> Int in
            status.maintenanceWindows[from.description] = nil
            return status.maintenanceWindows.count
        }
        self.metrics?.recordMaintenanceWindows(target: name, count: windows)
        switch outcome {
        case .completed:
            self.metrics?.recordHandoff(target: name, outcome: "completed")
            self.events.append(target: name, text: "handoff from \(from) to \(to) done (MOVING)", at: now, importance: .significant, kind: "maintenance-handoff")
            self.logger.notice(
                "Maintenance handoff: connected to the announced endpoint, the old connection closed",
                metadata: ["redis.event": "maintenance-handoff", "redis.node_endpoint": "\(from)", "redis.announced_endpoint": "\(to)"])
        case .notDialed(let rule):
            self.metrics?.recordHandoff(target: name, outcome: "not-dialed")
            self.events.append(
                target: name, text: "MOVING announces \(to), outside the allowed endpoints: not dialed (\(rule))", at: now,
                importance: .significant, kind: "maintenance-moving-disallowed")
            self.logger.warning(
                "Maintenance MOVING announces an endpoint outside the allowed list: not dialed",
                metadata: [
                    "redis.event": "maintenance-moving-disallowed", "redis.node_endpoint": "\(from)",
                    "redis.announced_endpoint": "\(to.description.escapingControlCharacters)",
                    "redis.rule": "\(rule.escapingControlCharacters)", "redis.dialed": "no",
                ])
            self.hookEvent(.anomaly, reason: "MOVING to \(to) not followed: \(rule)")
        case .failed(let message):
            self.metrics?.recordHandoff(target: name, outcome: "failed")
            self.events.append(target: name, text: "handoff from \(from) to \(to) failed: \(message)", at: now, importance: .significant, kind: "maintenance-handoff")
            self.logger.warning(
                "Maintenance handoff failed; the current connection is kept",
                metadata: [
                    "redis.event": "maintenance-handoff", "redis.node_endpoint": "\(from)", "redis.announced_endpoint": "\(to)",
                    "error.message": "\(message.escapingControlCharacters)",
                ])
        }
    }

    private func pruneMaintenanceWindows(now: Double) {
        let pruned = self.status.withLock { status -> Int? in
            guard status.maintenanceWindows.values.contains(where: { $0.expires <= now }) else { return nil }
            status.maintenanceWindows = status.maintenanceWindows.filter { $0.value.expires > now }
            return status.maintenanceWindows.count
        }
        if let pruned { self.metrics?.recordMaintenanceWindows(target: self.target.name, count: pruned) }
    }

    // MARK: the maintenance pub/sub channel

    func watchMaintenanceEvents() async {
        guard self.target.subscribesToMaintenanceEvents else { return }
        let messages = await self.client.subscribe(MaintenanceEvent.channel)
        self.logger.info("Subscribed to maintenance events", metadata: ["redis.event": "maintenance-subscribed", "redis.channel": "\(MaintenanceEvent.channel)"])
        for await message in messages {
            self.submit(.maintenanceMessage(String(buffer: message.payload)))
        }
    }

    /// Logs a maintenance notification and refreshes the topology after Ended, FailoverComplete, ScaleComplete.
    /// Malformed messages and unknown types are logged, never fatal. At most 10 a minute are recorded (events,
    /// journal); the rest are counted (`redis_healthd_maintenance_events_suppressed_total`) and summed up in one
    /// event when recording resumes. Folded by the folding loop. `now`: seconds since 1970.
    func foldMaintenanceMessage(_ text: String, now: Double) {
        let text = self.scrubber.scrub(text)
        let name = self.target.name
        let decision = self.maintenanceLimit.withLock { $0.arrived(now: now) }
        switch decision {
        case .suppress(let first):
            self.metrics?.recordMaintenanceSuppressed(target: name)
            if first {
                self.logger.warning(
                    "Maintenance notifications arrive faster than 10 a minute: recording the rest only as a count",
                    metadata: ["redis.event": "maintenance-rate-limited", "redis.channel": "\(MaintenanceEvent.channel)"])
            }
            // Not recorded, but a notification that may mean a changed topology still asks for a (rate-limited)
            // refresh.
            if let event = try? MaintenanceEvent.parse(text), event.refreshesTopology {
                self.requestTopologyRefresh(trigger: "maintenance:\(event.type)")
            }
            return
        case .record(let suppressedBefore) where suppressedBefore > 0:
            self.events.append(
                target: name,
                text: "\(suppressedBefore) maintenance event\(suppressedBefore == 1 ? "" : "s") suppressed (more than 10 a minute on \(MaintenanceEvent.channel))",
                at: now, kind: "maintenance-rate-limited")
            self.logger.notice(
                "Maintenance notifications were rate-limited",
                metadata: ["redis.event": "maintenance-rate-limited", "redis.suppressed": "\(suppressedBefore)"])
        case .record:
            break
        }
        let event: MaintenanceEvent
        do {
            event = try MaintenanceEvent.parse(text)
        } catch {
            self.metrics?.recordMaintenance(target: name, type: "malformed")
            let excerpt = String(text.prefix(200))
            self.events.append(target: name, text: "malformed maintenance message: \(error)", at: now, kind: "maintenance-malformed")
            self.logger.warning(
                "Malformed maintenance message ignored",
                metadata: ["redis.event": "maintenance-malformed", "error.message": "\(error)", "redis.maintenance_message": "\(excerpt)"])
            return
        }
        self.metrics?.recordMaintenance(target: name, type: event.kind?.rawValue ?? "unknown")
        self.status.withLock { $0.lastMaintenanceEvent = "\(rfc3339(now)) \(event.summary)" }
        var refreshed = false
        if event.refreshesTopology { refreshed = self.requestTopologyRefresh(trigger: "maintenance:\(event.type)") }
        self.events.append(
            target: name,
            text: "maintenance \(event.summary)" + (event.kind == nil ? " (unknown type)" : "") + (refreshed ? "; topology refresh requested" : ""),
            at: now, kind: "maintenance-event")
        var metadata: Logger.Metadata = [
            "redis.event": "maintenance-event", "redis.maintenance_type": "\(event.type)",
            "redis.maintenance_summary": "\(event.summary)", "redis.topology_refresh": "\(refreshed)",
        ]
        if let ip = event.ipAddress { metadata["redis.maintenance_ip"] = "\(ip)" }
        if let start = event.startTimeInUTC { metadata["redis.maintenance_start"] = "\(start)" }
        if event.kind == nil {
            self.logger.warning("Unknown maintenance notification type", metadata: metadata)
        } else {
            self.logger.notice("Maintenance event", metadata: metadata)
        }
        self.hookEvent(.maintenance, reason: "maintenance \(event.summary)")
    }
}

/// What the supervisor keeps of maintenance push notifications besides the status: whether a refusal was noted,
/// and how many notices went to the log this minute (a flood is counted, not logged line by line).
struct PushMaintenanceLog: Sendable {
    var refusalNoted = false
    var minuteStart = 0.0
    var loggedThisMinute = 0

    /// Whether one more notice may be logged at its level now (10 a minute; the rest at debug).
    mutating func mayLog(now: Double) -> Bool {
        if now - self.minuteStart >= 60 {
            self.minuteStart = now
            self.loggedThisMinute = 0
        }
        self.loggedThisMinute += 1
        return self.loggedThisMinute <= 10
    }
}
