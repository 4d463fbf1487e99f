#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import RedisClient

/// The one writer of a target's state: the loop that folds every ``TargetEvent`` into its status, in the order they
/// came (a probe's answer that changes nothing but the probe figures is recorded where it arrives:
/// ``TargetSupervisor/recordProbeInPlace(_:)``).
extension TargetSupervisor {
    /// What the folding loop tells ``run()``'s task.
    struct FoldSignals {
        /// The first subscription came (the canary starts), not yet taken.
        var subscribed = false
        /// The events have ended: everything submitted before is folded.
        var ended = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// Runs the folding loop of this supervisor's own folder until the events have ended (folded up to their end) or
    /// the task is cancelled: what ``run()`` does when the supervisor has its own folder; tests call it directly.
    /// `clock`: seconds since 1970 when an event is folded (tests pass their own). `onSubscribed`: what to do at the
    /// first subscription (``TargetEvent/subscribed``), in this task.
    func foldEvents(
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }, onSubscribed: () -> Void = {}
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.folder.run(clock: clock) }
            await self.waitForEventsEnd(onSubscribed: onSubscribed)
            group.cancelAll()
        }
    }

    /// Waits until the events have ended (folded up to their end) or the task is cancelled, calling `onSubscribed`
    /// (in this task) when the folding loop reaches the first subscription.
    func waitForEventsEnd(onSubscribed: () -> Void) async {
        while let signal = await self.nextFoldSignal() {
            if signal { return }
            onSubscribed()
        }
    }

    /// The next word of the folding loop: false for the first subscription, true for the end; nil when cancelled.
    private func nextFoldSignal() async -> Bool? {
        while true {
            let taken = self.foldSignals.withLock { signals -> Bool? in
                if signals.subscribed {
                    signals.subscribed = false
                    return false
                }
                return signals.ended ? true : nil
            }
            if let taken { return taken }
            if Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = self.foldSignals.withLock { signals in
                        if signals.subscribed || signals.ended || Task.isCancelled { return true }
                        signals.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                self.wakeForSignal { _ in }
            }
        }
    }

    /// Changes the signals and wakes ``run()``'s task if it waits.
    private func wakeForSignal(_ change: (inout FoldSignals) -> Void) {
        self.foldSignals.withLock { signals in
            change(&signals)
            defer { signals.waiter = nil }
            return signals.waiter
        }?.resume()
    }

    /// One item of this target, from the folding loop (``EventFolder``), in the order submitted.
    func fold(_ item: EventFolder.Item, now: Double) {
        defer { self.unfolded.subtract(1, ordering: .releasing) }
        switch item {
        case .event(.subscribed):
            self.wakeForSignal { $0.subscribed = true }
        case .event(let event):
            // Events that were submitted after the end (a source racing it) are not folded.
            guard !self.foldSignals.withLock({ $0.ended }) else { return }
            self.fold(event, now: now)
        case .end:
            self.wakeForSignal { $0.ended = true }
        }
    }

    /// Folds one event into the status, the metrics, the events, the log and the hooks. Only the folding loop calls
    /// it (and tests driving a supervisor that does not run): the state has one writer. `now`: seconds since 1970.
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

    /// A probe's answer recorded where it arrives (the connection's event loop), not through the folding loop, when
    /// that is the same as folding it in order: the target is up and its probe is not awaited (the answer changes
    /// no state: no notice, hook or log), nothing of the target waits to be folded (nothing is overtaken; events
    /// of the connection come one at a time, so none comes meanwhile), and no per-probe duty waits (no failure run
    /// to close, no certificate to watch). Then it only sets the probe figures and the histogram, under their
    /// locks; false: submit it. With 1,000 targets each probing every second, the probes are nearly all of the
    /// events; taking them through the loop cost about 15 % of the daemon's CPU (measured side by side).
    func recordProbeInPlace(_ latency: Duration) -> Bool {
        guard self.unfolded.load(ordering: .acquiring) == 0, !self.eventsEnded.load(ordering: .acquiring) else { return false }
        guard !self.throttles.withLock({ $0.suppressions.inRun }), self.certificateWatch.withLock({ $0.nodes.isEmpty }) else {
            return false
        }
        let event = MultiplexerEvent.probe(latency: latency)
        let recorded = self.status.withLock { status -> Bool in
            guard !status.awaitingProbe, status.state == .healthy || status.state == .degraded else { return false }
            _ = status.apply(event, now: 0)  // a probe that changes no state does not read the time
            return true
        }
        if recorded { self.metrics?.record(event, target: self.target.name) }
        return recorded
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
