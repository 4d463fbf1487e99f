#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import RedisClient

/// The one writer of a target's status: the loop that folds every ``TargetEvent`` into it, in the order they came.
extension TargetSupervisor {
    /// The folding loop: takes the target's events in the order they were submitted (each source's in its emission
    /// order) and folds each into the status. Ends when the stream ends (the client's events ended) or the task is
    /// cancelled. `clock`: seconds since 1970 when an event is folded (tests pass their own).
    /// `onSubscribed`: what to do at the first subscription (``TargetEvent/subscribed``), in the loop's task.
    func foldEvents(clock: @Sendable () -> Double = { Date().timeIntervalSince1970 }, onSubscribed: () -> Void = {}) async {
        for await event in self.targetEvents {
            if case .subscribed = event {
                onSubscribed()
                continue
            }
            self.fold(event, now: clock())
        }
    }

    /// Folds one event into the status, the metrics, the events, the log and the hooks. Only the folding loop calls
    /// it (and tests driving a supervisor that does not run): the status has one writer. `now`: seconds since 1970.
    func fold(_ event: TargetEvent, now: Double) {
        switch event {
        case .multiplexer(let event):
            self.foldConnectionEvent(event, now: now)
        case .cluster(let event):
            self.foldClusterEvent(event, now: now)
        case .maintenanceMessage(let text):
            self.foldMaintenanceMessage(text, now: now)
        case .replicaProblems(let problems):
            self.updateStatus(now: now) { $0.setReplicaProblems(problems, now: now) }
        case .topologyMode(let mode):
            self.status.withLock { $0.topologyMode = mode }
        case .canary(let change):
            self.foldCanary(change)
        case .subscribed:
            break
        }
    }

    /// One event of the target's own connection; its texts are scrubbed of the password first.
    private func foldConnectionEvent(_ event: MultiplexerEvent, now: Double) {
        let event = self.scrubber.scrub(event)
        self.metrics?.record(event, target: self.target.name)
        // The canary first: a handoff's new multiplexer brings a new subscriber connection.
        self.canarySubscriberEvent(event)
        if self.handleMaintenancePush(event, now: now) { return }
        if case .probe = event {
            // The run of suppressed force-reconnects ends once the target answers again.
            _ = self.throttles.withLock { $0.suppressions.recovered(now: now) }
            // Certificates entering the warning window, and the daily repeat, are noticed at the probes' pace.
            self.checkCertificates(now: now)
        } else if case .peerCertificates(let endpoint, let certificates) = event {
            self.events.append(target: self.target.name, event: event, at: now)
            self.recordCertificates(node: endpoint, certificates, now: now)
        } else {
            self.events.append(target: self.target.name, event: event, at: now)
            self.log(event, now: now)
        }
        self.updateStatus(now: now) { status in status.apply(event, now: now) }
        switch event {
        case .unresponsive(_, let error): self.hookEvent(.unresponsive, reason: "\(error)")
        case .forceReconnect(true, let reason): self.hookEvent(.forceReconnect, reason: "force-reconnect: \(reason)")
        default: break
        }
    }

    /// What the canary saw: notes in the status (it never changes the state).
    private func foldCanary(_ change: CanaryChange) {
        self.status.withLock { status in
            switch change {
            case .started(let canary):
                status.canary = canary
            case .arrived(let roundTrip, let at):
                status.canary?.lastRoundTrip = roundTrip
                status.canary?.lastArrivedAt = at
            case .missed(let at):
                status.canary?.lastMissedAt = at
                status.canary?.missed += 1
            case .disabled(let reason):
                status.canary?.disabled = reason
            }
        }
    }

    /// Changes the status; when its state or its short reason changed, records and logs it and tells the daemon
    /// (STATUS=) and the hooks. Only the folding loop gets here: notices leave in the order the changes happened.
    func updateStatus(now: Double, _ change: (inout TargetStatus) -> Bool) {
        let changed: (TargetStatus, TargetStatus.State)? = self.status.withLock { status in
            let before = (status.state, status.shortReason)
            _ = change(&status)
            guard before != (status.state, status.shortReason) else { return nil }
            return (status, before.0)
        }
        guard let (status, previous) = changed else { return }
        self.events.append(
            target: self.target.name,
            text: "state \(previous.rawValue) → \(status.state.rawValue)" + (status.reason.map { ": \($0)" } ?? ""), at: now,
            importance: .significant, kind: "state-changed")
        self.metrics?.recordState(target: self.target.name, state: status.state)
        self.logger.notice(
            "Target state changed",
            metadata: ["redis.event": "state-changed", "redis.state": "\(status.state.rawValue)", "redis.reason": "\(status.reason ?? "-")"])
        self.onStateChange(status)
        switch status.state {
        case .down: self.hookEvent(.down, previousState: previous)
        case .degraded: self.hookEvent(.degraded, previousState: previous)
        case .healthy: self.hookEvent(.healthy, previousState: previous)
        case .starting, .connecting, .reconnecting, .misconfigured: break
        }
    }
}
