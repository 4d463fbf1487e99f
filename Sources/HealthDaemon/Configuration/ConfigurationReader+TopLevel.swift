import RedisClient

/// The top level of the file: `control`, `metrics`, `log`, `targets` and `hooks`, and the connection limits of
/// the control socket and the metrics listener.
extension Reader {
    mutating func daemon(_ text: String) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let root: YAMLNode?
        do {
            root = try YAMLReader.read(text)
        } catch {
            self.problem("", "not valid YAML: \(error)")
            return configuration
        }
        guard let top = self.mapping(root, "", allowed: ["control", "metrics", "log", "targets", "hooks"]) else {
            self.problem("", "the file is empty; it needs at least `targets:`")
            return configuration
        }
        if let control = self.mapping(
            top["control"], "control", allowed: ["socket", "mode", "max_connections", "request_timeout", "idle_timeout"])
        {
            configuration.control.limits = self.limits(control, "control", defaults: .control)
            if let socket = self.string(control["socket"], "control.socket") {
                if socket.hasPrefix("/") { configuration.control.socket = socket } else {
                    self.problem("control.socket", "\"\(socket)\" must be an absolute path")
                }
            }
            if let mode = self.string(control["mode"], "control.mode") {
                if let value = UInt32(mode, radix: 8), value <= 0o777 {
                    if value & 0o002 != 0 {
                        self.problem("control.mode", "\(mode) makes the socket world-writable; use 0660 or stricter")
                    } else {
                        configuration.control.mode = value
                    }
                } else {
                    self.problem("control.mode", "\"\(mode)\" is not an octal mode such as \"0660\"")
                }
            }
        }
        if let metrics = self.mapping(
            top["metrics"], "metrics", allowed: ["listen", "max_connections", "request_timeout", "idle_timeout"])
        {
            configuration.metricsLimits = self.limits(metrics, "metrics", defaults: .metrics)
            if let listen = self.string(metrics["listen"], "metrics.listen") {
                if splitHostPort(listen) == nil {
                    self.problem("metrics.listen", "\"\(listen)\" is not host:port such as 127.0.0.1:9121")
                } else {
                    configuration.metricsListen = listen
                }
            }
        }
        if let log = self.mapping(top["log"], "log", allowed: ["level"]) {
            if let level = self.string(log["level"], "log.level") {
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                if levels.contains(level) { configuration.logLevel = level } else {
                    self.problem("log.level", "\"\(level)\" is not one of \(levels.joined(separator: ", "))")
                }
            }
        }
        guard let targetsNode = top["targets"], !targetsNode.isNull else {
            self.problem("targets", "missing: list at least one Redis target")
            return configuration
        }
        guard let targets = targetsNode.sequence else {
            self.problem("targets", "expected a list of targets, got \(describe(targetsNode))")
            return configuration
        }
        if targets.isEmpty { self.problem("targets", "empty: list at least one Redis target") }
        var names = Set<String>()
        for (index, node) in targets.enumerated() {
            if let target = self.target(node, "targets[\(index)]") {
                if !names.insert(target.name).inserted {
                    self.problem("targets[\(index)].name", "\"\(target.name)\" is used by another target")
                }
                configuration.targets.append(target)
            }
        }
        if let hooksNode = top["hooks"], !hooksNode.isNull {
            if let hooks = hooksNode.sequence {
                for (index, node) in hooks.enumerated() {
                    if let hook = self.hook(node, "hooks[\(index)]", targets: names) { configuration.hooks.append(hook) }
                }
            } else {
                self.problem("hooks", "expected a list of hooks, got \(describe(hooksNode))")
            }
        }
        return configuration
    }

    /// `max_connections`, `request_timeout`, `idle_timeout` of the control socket or the metrics listener.
    mutating func limits(_ map: [String: YAMLNode], _ path: String, defaults: ConnectionLimits) -> ConnectionLimits {
        var limits = defaults
        if let value = self.int(map["max_connections"], "\(path).max_connections", range: 1...4096) { limits.maxConnections = value }
        if let value = self.duration(map["request_timeout"], "\(path).request_timeout") { limits.requestTimeout = value }
        if let value = self.duration(map["idle_timeout"], "\(path).idle_timeout") { limits.idleTimeout = value }
        return limits
    }
}
