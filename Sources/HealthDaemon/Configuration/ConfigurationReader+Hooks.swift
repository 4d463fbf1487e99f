import RedisClient

/// Hooks: one `hooks:` entry, its events, targets, command and limits.
extension Reader {
    /// One `hooks:` entry: `on` (events), `targets` (names; empty: all), `run` (argv, an absolute path first),
    /// `timeout` [10s], `min_interval` [60s].
    mutating func hook(_ node: YAMLNode, _ path: String, targets: Set<String>) -> HookConfiguration? {
        guard let map = self.mapping(node, path, allowed: ["on", "targets", "run", "timeout", "min_interval"]) else { return nil }
        let events = self.strings(map["on"], "\(path).on")
        var parsed = Set<HookEvent>()
        for event in events {
            if let value = HookEvent(rawValue: event) {
                parsed.insert(value)
            } else {
                self.problem("\(path).on", "\"\(event)\" is not one of \(HookEvent.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if map["on"] == nil || (events.isEmpty && map["on"]?.sequence != nil) {
            self.problem("\(path).on", "missing: list the events that run the hook (\(HookEvent.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let hookTargets = self.strings(map["targets"], "\(path).targets")
        for name in hookTargets where !targets.contains(name) {
            self.problem("\(path).targets", "\"\(name)\" is not a configured target")
        }
        let run = self.strings(map["run"], "\(path).run")
        if run.isEmpty {
            self.problem("\(path).run", "missing: the command and its arguments as a list, e.g. [\"/usr/local/bin/notify\", \"--flag\"] (no shell)")
        } else if !run[0].hasPrefix("/") {
            self.problem("\(path).run", "\"\(run[0])\" is not an absolute path: hooks run without a shell and without a PATH search")
        }
        var hook = HookConfiguration(
            events: parsed, targets: hookTargets, run: run,
            label: "\(path) (\(run.first.map(FilePath.lastComponent) ?? "?"))")
        if let value = self.duration(map["timeout"], "\(path).timeout") { hook.timeout = value }
        if let value = self.duration(map["min_interval"], "\(path).min_interval") { hook.minInterval = value }
        return parsed.isEmpty || run.isEmpty ? nil : hook
    }
}
