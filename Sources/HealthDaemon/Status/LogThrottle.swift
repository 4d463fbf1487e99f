/// Decides which failures of a run of failures reach the log: the first one, a new kind of failure, and a summary
/// every `summaryInterval` ("still failing: 57 attempts in 60 s, last error …"); the rest are counted quietly (the
/// events and the metrics still have every one). A pure value: time is passed in.
///
/// A target whose server is down retries about once a second: logging each attempt put hundreds of identical
/// warnings in the journal during a five-minute outage and drowned the state changes that matter.
struct LogThrottle: Sendable, Hashable {
    enum Decision: Sendable, Hashable {
        /// Log this one (the first of a run, or a new kind of failure).
        case log
        /// Log a summary of the `count` failures since the last line, over `seconds`.
        case summary(count: Int, seconds: Double)
        /// Count it; log nothing.
        case quiet
    }

    /// Time between two summaries of a run that goes on. [60 s]
    let summaryInterval: Double

    private var runStart: Double?
    private var windowStart = 0.0
    private var windowCount = 0
    private var lastKind: String?
    private var total = 0

    init(summaryInterval: Double = 60) {
        self.summaryInterval = summaryInterval
    }

    /// Whether a run of failures is under way.
    var isFailing: Bool { self.runStart != nil }

    /// A failure of `kind` happened at `now`.
    mutating func failure(kind: String, now: Double) -> Decision {
        self.total += 1
        guard self.runStart != nil else {
            self.runStart = now
            self.windowStart = now
            self.windowCount = 0
            self.lastKind = kind
            return .log
        }
        if kind != self.lastKind {
            self.lastKind = kind
            return .log
        }
        self.windowCount += 1
        guard now - self.windowStart >= self.summaryInterval else { return .quiet }
        let summary = Decision.summary(count: self.windowCount, seconds: now - self.windowStart)
        self.windowStart = now
        self.windowCount = 0
        return summary
    }

    /// Whether a run of failures is under way (``recovered(now:)`` would end one).
    var inRun: Bool { self.runStart != nil }

    /// The run ended (the connection is back): how many failures it had and how long it lasted; nil when there
    /// was no run.
    mutating func recovered(now: Double) -> (failures: Int, seconds: Double)? {
        guard let start = self.runStart else { return nil }
        defer {
            self.runStart = nil
            self.total = 0
            self.windowCount = 0
            self.lastKind = nil
        }
        return (self.total, now - start)
    }
}
