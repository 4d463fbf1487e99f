/// The liveness rules of one endpoint, as a value: whether its interactive connection answers, and what keeps its
/// connections from idling out. Events in (a connection came or went, a probe answered or missed, the timer
/// reached `now`), actions out (send a probe, send a keepalive, report). It reads no clock and does no I/O:
/// ``LivenessMonitor`` runs it on the endpoint's event loop, the tests on a manual clock. It is the one source of
/// truth for "the endpoint answers": it reports the multiplexer's `probe`, `unresponsive` and `responsive` events.
///
/// The rules:
/// - A new interactive connection is probed at once: it is not healthy until a probe answered on it.
/// - Then a probe every interval, on the connection's slot of the interval (``ProbeSchedule``); one at a time.
/// - Misses count per connection: a new connection starts with none. `probeFailures` misses in a row report the
///   endpoint unresponsive, once; the next answer reports it responsive again.
/// - A keepalive PING goes on a connection idle for the keepalive interval: the interactive one when no command
///   or probe used it, the subscriber when nothing was read from it. (Whether a connection whose replies stopped
///   is dead is the command queue's rule, judged where its replies are read: a probe that times out there is a
///   command that timed out.)
public struct LivenessStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    public struct Configuration: Sendable {
        /// Nil: no probes (keepalives only).
        public var probes: ProbeSchedule?
        /// This endpoint's slot of the probe interval, and the grid's origin.
        public var slot: Int
        public var epoch: Instant
        /// Misses in a row that make the endpoint unresponsive (at least 1).
        public var probeFailures: Int
        public var idlePingInterval: Duration

        public init(probes: ProbeSchedule?, slot: Int, epoch: Instant, probeFailures: Int, idlePingInterval: Duration) {
            self.probes = probes
            self.slot = slot
            self.epoch = epoch
            self.probeFailures = max(1, probeFailures)
            self.idlePingInterval = idlePingInterval
        }
    }

    public enum Action: Sendable, Equatable {
        /// Send a probe PING on the interactive connection and tell ``probeAnswered(now:)`` or
        /// ``probeMissed(now:error:)``. It counts as use of the connection.
        case sendProbe
        /// Send a keepalive PING on that connection (its reply is not awaited by anybody).
        case sendKeepalive(MultiplexerEvent.ConnectionRole)
        /// Hand on `probe(latency:)`, `unresponsive(consecutiveFailures:lastError:)` or `responsive`.
        case report(MultiplexerEvent)
    }

    /// The interactive connection's probing.
    private struct Probing: Sendable {
        /// When the probe in flight was sent.
        var inFlightSince: Instant?
        /// When the next probe is due (nil while one is in flight).
        var nextProbe: Instant?
        /// Whether the probe in flight (or the last one) is the first on this connection.
        var first = true
        var misses = 0
        var unresponsive = false
        /// When this machine last used the connection itself (its start, a probe, a keepalive).
        var usedAt: Instant
    }

    public let configuration: Configuration
    /// Nil while no interactive connection is up.
    private var probing: Probing?
    /// Nil while no subscriber connection is up; else when it came up or was last kept alive.
    private var subscriberKeptAliveAt: Instant?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: events

    /// A new interactive connection is up at `now`: probed at once.
    public mutating func interactiveConnected(now: Instant) -> [Action] {
        var probing = Probing(usedAt: now)
        guard self.configuration.probes != nil else {
            self.probing = probing
            return []
        }
        probing.inFlightSince = now
        self.probing = probing
        return [.sendProbe]
    }

    /// The interactive connection is gone: its probe's outcome, if one is in flight, no longer counts.
    public mutating func interactiveDisconnected() {
        self.probing = nil
    }

    /// A subscriber connection is up at `now`.
    public mutating func subscriberConnected(now: Instant) {
        self.subscriberKeptAliveAt = now
    }

    /// The subscriber connection is gone.
    public mutating func subscriberDisconnected() {
        self.subscriberKeptAliveAt = nil
    }

    /// The probe in flight answered at `now`.
    public mutating func probeAnswered(now: Instant) -> [Action] {
        guard var probing = self.probing, let sent = probing.inFlightSince else { return [] }
        var actions: [Action] = [.report(.probe(latency: sent.duration(to: now)))]
        probing.misses = 0
        if probing.unresponsive {
            probing.unresponsive = false
            actions.append(.report(.responsive))
        }
        self.probing = self.scheduled(probing, sentAt: sent)
        return actions
    }

    /// The probe in flight failed at `now` (timed out, or an error).
    public mutating func probeMissed(now: Instant, error: String) -> [Action] {
        guard var probing = self.probing, let sent = probing.inFlightSince else { return [] }
        probing.misses += 1
        var actions: [Action] = []
        if probing.misses >= self.configuration.probeFailures && !probing.unresponsive {
            probing.unresponsive = true
            actions.append(.report(.unresponsive(consecutiveFailures: probing.misses, lastError: error)))
        }
        self.probing = self.scheduled(probing, sentAt: sent)
        return actions
    }

    private func scheduled(_ probing: Probing, sentAt sent: Instant) -> Probing {
        var probing = probing
        probing.inFlightSince = nil
        if let schedule = self.configuration.probes {
            probing.nextProbe = schedule.next(
                after: sent, epoch: self.configuration.epoch, slot: self.configuration.slot, firstOnConnection: probing.first)
        }
        probing.first = false
        return probing
    }

    /// The timer reached `now`. `lastUsed`: when a caller's command last went on the interactive connection;
    /// `subscriberLastRead`: when something was last read from the subscriber connection. Both are kept by others;
    /// this machine adds its own uses (the connection's start, probes, keepalives).
    public mutating func timerFired(now: Instant, lastUsed: Instant, subscriberLastRead: Instant?) -> [Action] {
        var actions: [Action] = []
        if var probing = self.probing {
            if let due = probing.nextProbe, due <= now, probing.inFlightSince == nil {
                probing.nextProbe = nil
                probing.inFlightSince = now
                probing.usedAt = now
                actions.append(.sendProbe)
            }
            if max(lastUsed, probing.usedAt).duration(to: now) >= self.configuration.idlePingInterval {
                probing.usedAt = now
                actions.append(.sendKeepalive(.interactive))
            }
            self.probing = probing
        }
        if let keptAliveAt = self.subscriberKeptAliveAt,
            max(subscriberLastRead ?? keptAliveAt, keptAliveAt).duration(to: now) >= self.configuration.idlePingInterval
        {
            self.subscriberKeptAliveAt = now
            actions.append(.sendKeepalive(.subscriber))
        }
        return actions
    }

    /// When the timer must fire next, given the same instants as ``timerFired(now:lastUsed:subscriberLastRead:)``
    /// (nil: nothing is due until an event comes). While a probe is out, nil: its outcome comes within the probe
    /// timeout, and everything else is due later than that (so a timer set meanwhile would only be cancelled, and
    /// cancelling a timer costs a search of the event loop's timers, which with 1,000 endpoints was most of the CPU).
    public func nextWakeup(lastUsed: Instant, subscriberLastRead: Instant?) -> Instant? {
        if self.probing?.inFlightSince != nil { return nil }
        var next: Instant?
        func consider(_ instant: Instant?) {
            guard let instant else { return }
            next = next.map { min($0, instant) } ?? instant
        }
        if let probing = self.probing {
            consider(probing.nextProbe)
            consider(max(lastUsed, probing.usedAt).advanced(by: self.configuration.idlePingInterval))
        }
        if let keptAliveAt = self.subscriberKeptAliveAt {
            consider(max(subscriberLastRead ?? keptAliveAt, keptAliveAt).advanced(by: self.configuration.idlePingInterval))
        }
        return next
    }
}
