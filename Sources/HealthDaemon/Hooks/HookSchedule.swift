/// When one hook runs: a pure value, time passed in (seconds).
///
/// At most one run at a time. Per target, runs are at least `minInterval` apart: events arriving meanwhile (or
/// while a run is going) wait, coalesced into the latest one for that target. A waiting event that says what the
/// last run for its target already said (same event, state and reason) is dropped: a flap that ends where it began
/// runs the hook once, not once per change.
public struct HookSchedule: Sendable {
    public enum Next: Sendable, Hashable {
        /// Start this run now (the schedule counts it as running until ``finished()``).
        case run(HookFiring)
        /// Nothing can run before this time; ask again then.
        case wait(until: Double)
        /// Nothing to do (or a run is going: ask again when it finishes).
        case idle
    }

    public let minInterval: Double
    public private(set) var running = false
    /// Waiting events, one per target, in the order their targets first got one.
    public private(set) var pending: [HookFiring] = []
    /// Events replaced by a later one of the same target before they ran.
    public private(set) var coalesced = 0
    /// Events dropped because the last run had said the same.
    public private(set) var suppressed = 0
    private var lastRun: [String: (at: Double, firing: HookFiring)] = [:]

    public init(minInterval: Duration) {
        let (seconds, attoseconds) = minInterval.components
        self.minInterval = Double(seconds) + Double(attoseconds) / 1e18
    }

    public mutating func arrived(_ firing: HookFiring) {
        if let index = self.pending.firstIndex(where: { $0.target == firing.target }) {
            self.pending[index] = firing
            self.coalesced += 1
        } else {
            self.pending.append(firing)
        }
    }

    public mutating func finished() { self.running = false }

    public mutating func next(now: Double) -> Next {
        guard !self.running else { return .idle }
        var earliest: Double?
        var index = 0
        while index < self.pending.count {
            let firing = self.pending[index]
            if let last = self.lastRun[firing.target] {
                let same = last.firing.event == firing.event && last.firing.state == firing.state && last.firing.reason == firing.reason
                if same {
                    self.pending.remove(at: index)
                    self.suppressed += 1
                    continue
                }
                let due = last.at + self.minInterval
                if now < due {
                    earliest = min(earliest ?? due, due)
                    index += 1
                    continue
                }
            }
            self.pending.remove(at: index)
            self.running = true
            self.lastRun[firing.target] = (now, firing)
            return .run(firing)
        }
        return earliest.map { .wait(until: $0) } ?? .idle
    }
}
