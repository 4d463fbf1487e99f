/// The pub/sub canary's rule, with time passed in (seconds, any monotonic origin): when a canary is due on the
/// heartbeat channel, whether the one published arrived in time, and when it is missed. Pure: the supervisor drives
/// it (`TargetSupervisor+Canary.swift`).
///
/// One canary is in flight at a time. A canary is published every `interval` while the subscriber connection is up
/// and subscribed; it must arrive within `deadline` (probe_timeout × probe_failures) of its PUBLISH. One that does
/// not is missed: the subscriber connection is silently dead, and is reconnected. While the subscriber connection
/// is down (or being reconnected) nothing is published and nothing can be missed; once it is subscribed again the
/// next canary goes out at once.
struct CanaryWatch: Sendable {
    /// What to do now.
    enum Action: Sendable, Hashable {
        /// PUBLISH canary number `sequence` now (``published(_:at:)`` first, then send it).
        case publish(sequence: Int)
        /// The canary published at `sentAt` did not arrive by its deadline: reconnect the subscriber.
        case missed(sequence: Int, sentAt: Double)
        /// Nothing until `until` (nil: until the subscriber connection is up again).
        case wait(until: Double?)
    }

    let interval: Double
    let deadline: Double
    /// The next canary's number (a message carries it, so a late one of an earlier round is not taken for the
    /// current one).
    private(set) var nextSequence = 1
    /// The canary in flight: its number and when it was published.
    private(set) var outstanding: (sequence: Int, sentAt: Double)?
    /// When the next canary is due.
    private(set) var nextDueAt: Double
    /// Whether the subscriber connection is up and subscribed.
    private(set) var subscriberUp: Bool
    /// The last canary's round trip (PUBLISH to arrival), and when it arrived.
    private(set) var lastRoundTrip: Double?
    private(set) var lastArrivedAt: Double?
    /// The last miss, and misses so far.
    private(set) var lastMissedAt: Double?
    private(set) var missed = 0

    init(interval: Double, deadline: Double, subscriberUp: Bool, now: Double) {
        self.interval = interval
        self.deadline = deadline
        self.subscriberUp = subscriberUp
        self.nextDueAt = now
    }

    /// What is due at `now`. A miss clears the canary in flight and counts it; the caller reconnects the subscriber
    /// (and tells ``subscriberDown()``, or the events do).
    mutating func next(now: Double) -> Action {
        if let outstanding {
            let expires = outstanding.sentAt + self.deadline
            guard now >= expires else { return .wait(until: expires) }
            self.outstanding = nil
            self.missed += 1
            self.lastMissedAt = now
            self.nextDueAt = max(self.nextDueAt, now)
            return .missed(sequence: outstanding.sequence, sentAt: outstanding.sentAt)
        }
        guard self.subscriberUp else { return .wait(until: nil) }
        guard now >= self.nextDueAt else { return .wait(until: self.nextDueAt) }
        return .publish(sequence: self.nextSequence)
    }

    /// Canary `sequence` is being published at `now` (recorded before the PUBLISH is sent: its message can arrive
    /// before the PUBLISH's reply).
    mutating func published(_ sequence: Int, at now: Double) {
        self.outstanding = (sequence, now)
        self.nextSequence = sequence + 1
        self.nextDueAt = now + self.interval
    }

    /// The PUBLISH itself failed (the interactive connection's trouble, reported there): nothing is in flight,
    /// nothing is missed; the next one is due after the interval.
    mutating func publishFailed(_ sequence: Int) {
        if self.outstanding?.sequence == sequence { self.outstanding = nil }
    }

    /// A canary message arrived at `now`; returns its round trip when it is the one in flight (in time), nil for a
    /// late or foreign one (ignored).
    mutating func arrived(_ sequence: Int, at now: Double) -> Double? {
        guard let outstanding, outstanding.sequence == sequence, now <= outstanding.sentAt + self.deadline else { return nil }
        self.outstanding = nil
        let roundTrip = max(0, now - outstanding.sentAt)
        self.lastRoundTrip = roundTrip
        self.lastArrivedAt = now
        return roundTrip
    }

    /// The subscriber connection is gone (failed, being reconnected, or replaced by a force-reconnect): the canary
    /// in flight may have been lost with it and is not counted as missed.
    mutating func subscriberDown() {
        self.subscriberUp = false
        self.outstanding = nil
    }

    /// The subscriber connection is up and subscribed again (at `now`): a canary is due at once.
    mutating func subscriberUp(now: Double) {
        self.subscriberUp = true
        self.outstanding = nil
        self.nextDueAt = now
    }

    /// The message of canary `sequence`: its number and when it was published (wall clock, for a human reading it).
    static func message(sequence: Int, wallClock: Double) -> String {
        "\(sequence) \(rfc3339(wallClock))"
    }

    /// The canary number in a message, nil when it is not one of ours.
    static func sequence(of message: String) -> Int? {
        message.split(separator: " ", maxSplits: 1).first.flatMap { Int($0) }
    }
}
