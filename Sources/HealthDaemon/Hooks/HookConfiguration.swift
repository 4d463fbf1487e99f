/// One `hooks:` entry: a command run (without a shell) when one of `events` happens to one of `targets`.
public struct HookConfiguration: Sendable, Hashable {
    /// The events that run it (`on:`).
    public var events: Set<HookEvent>
    /// The targets it is for; empty: all of them.
    public var targets: [String]
    /// The command and its arguments (`run:`); the first is an absolute path.
    public var run: [String]
    /// A run still going after this long is killed (SIGKILL to its process group). [10 s]
    public var timeout: Duration = .seconds(10)
    /// Least time between two runs for one target; events meanwhile are coalesced into the latest. [60 s]
    public var minInterval: Duration = .seconds(60)
    /// `hooks[N]` and the command's file name, for logs: `hooks[0] (notify.sh)`.
    public var label: String

    public init(events: Set<HookEvent>, targets: [String] = [], run: [String], timeout: Duration = .seconds(10),
                minInterval: Duration = .seconds(60), label: String = "hook") {
        self.events = events
        self.targets = targets
        self.run = run
        self.timeout = timeout
        self.minInterval = minInterval
        self.label = label
    }

    /// Whether `event` on `target` runs this hook.
    public func matches(_ event: HookEvent, target: String) -> Bool {
        self.events.contains(event) && (self.targets.isEmpty || self.targets.contains(target))
    }
}
