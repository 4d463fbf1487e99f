/// The latencies of a target's last probes (at most ``capacity``), for the percentiles its status shows.
///
/// Kept in microseconds, four bytes each, in a ring: a full window of 300 is 1.2 KB where 300 `Duration`s were
/// 4.8 KB (with 1,000 targets, 4.8 MB more once five minutes of probes had come), and a new sample replaces the
/// oldest in place rather than shifting the rest.
public struct ProbeWindow: Sendable, Hashable, ExpressibleByArrayLiteral {
    public static let capacity = 300

    /// Microseconds, in arrival order until the window is full; then a ring whose oldest sample is at `oldest`.
    private var samples: [UInt32] = []
    private var oldest = 0

    public init() {}

    public init(arrayLiteral latencies: Duration...) {
        for latency in latencies { self.append(latency) }
    }

    public var isEmpty: Bool { self.samples.isEmpty }

    public var count: Int { self.samples.count }

    /// Adds `latency` (clamped to 0…4,294 s), replacing the oldest sample once the window is full.
    public mutating func append(_ latency: Duration) {
        let microseconds = latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000
        let sample = UInt32(clamping: microseconds)
        if self.samples.count < Self.capacity {
            if self.samples.isEmpty { self.samples.reserveCapacity(Self.capacity) }
            self.samples.append(sample)
        } else {
            self.samples[self.oldest] = sample
            self.oldest = (self.oldest + 1) % Self.capacity
        }
    }

    /// The samples, smallest first.
    public func sorted() -> [Duration] {
        self.samples.sorted().map { .microseconds(Int64($0)) }
    }
}
