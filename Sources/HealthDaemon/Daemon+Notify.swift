/// What the service manager is told: `STATUS=` after state changes (in order, per target), and the liveness tick
/// that `WATCHDOG=1` vouches for.
extension Daemon {
    /// A supervisor's state changed. Its notices come in order (its status has one writer): the newest is the last.
    /// Notices of a supervisor no longer running its target (a reload replaced or removed it) are ignored.
    func stateChanged(_ status: TargetStatus, from sender: ObjectIdentifier?) {
        // Kept without its probe latencies (the line does not show them): a copy sharing the supervisor's window
        // would make the supervisor's next probe copy the whole window, two of them per target from then on.
        var kept = status
        kept.probeWindow = ProbeWindow()
        let current = self.state.withLock { [kept] state -> Bool in
            guard let sender, state.running[kept.name] == sender else { return false }
            state.latest[kept.name] = kept
            return true
        }
        if current { self.statusChangesContinuation.yield() }
    }

    /// The `STATUS=` line now, from the newest state each target reported.
    var currentStatusLine: String {
        let (supervisors, latest) = self.state.withLock { ($0.supervisors, $0.latest) }
        return statusLine(supervisors.map { latest[$0.target.name] ?? $0.snapshot })
    }

    /// Sends `STATUS=` after state changes, at most ten times a second: each line is computed over every target
    /// once, however many changed meanwhile.
    func sendStatusLines() async {
        for await _ in self.statusChanges {
            // Once stopping, `STATUS=stopping` (sent with STOPPING=1) stays the last word.
            if self.isStopped { return }
            self.notify("STATUS=\(self.currentStatusLine)")
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Ticks while the daemon works: it takes every target's status lock (the one its folding loop writes under),
    /// without copying the statuses. The watchdog pings only while these ticks keep coming.
    ///
    /// Each tick (every 250 ms) takes a tenth of the locks, each target's every 2.5 s: with 1,000 targets, every lock
    /// every tick cost as much CPU as a fifth of all the probes' folding (a quarter each tick still cost 1–2 % of
    /// the daemon's). A wedged lock still stops the ticks within 2.5 s, well inside any watchdog interval.
    func supervisionLoop() async {
        var tick = 0
        while !self.isStopped && !Task.isCancelled {
            let supervisors = self.supervisors
            for index in stride(from: tick % 10, to: supervisors.count, by: 10) { supervisors[index].checkResponsive() }
            tick &+= 1
            self.lastSupervisionTick.withLock { $0 = .now }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Whether the supervision loop ticked within `interval`: what WATCHDOG=1 vouches for.
    public func isAlive(within interval: Duration) -> Bool {
        self.lastSupervisionTick.withLock { $0.duration(to: .now) <= interval }
    }
}
