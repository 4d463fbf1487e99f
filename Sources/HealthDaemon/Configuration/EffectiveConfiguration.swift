import RedisClient

/// A setting as it is in effect, typed: JSON gets numbers, booleans and durations in seconds; YAML (what
/// `check-config --print` shows) gets durations with a unit, as the configuration file writes them.
public indirect enum SettingValue: Sendable, Hashable, Encodable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case duration(Duration)
    case null
    case list([SettingValue])
    case map([SettingEntry])

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .int(let number):
            var container = encoder.singleValueContainer()
            try container.encode(number)
        case .bool(let flag):
            var container = encoder.singleValueContainer()
            try container.encode(flag)
        case .duration(let duration):
            var container = encoder.singleValueContainer()
            let (seconds, attoseconds) = duration.components
            try container.encode(Double(seconds) + Double(attoseconds) / 1e18)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .list(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .map(let entries):
            var container = encoder.container(keyedBy: SettingKey.self)
            for entry in entries { try container.encode(entry.value, forKey: SettingKey(entry.key)) }
        }
    }

    private struct SettingKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ key: String) { self.stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The value as YAML, indented by `indent` spaces on lines after the first.
    func yaml(indent: Int) -> String {
        switch self {
        case .string(let text): return yamlQuoted(text)
        case .int(let number): return "\(number)"
        case .bool(let flag): return flag ? "true" : "false"
        case .duration(let duration): return duration.humanReadable
        case .null: return "null"
        case .list(let values):
            guard values.contains(where: { if case .map = $0 { true } else { false } }) else {
                return "[" + values.map { $0.yaml(indent: indent) }.joined(separator: ", ") + "]"
            }
            let pad = String(repeating: " ", count: indent)
            return values.map { value -> String in
                let body = value.yaml(indent: indent + 2)
                return "\n\(pad)- " + body.drop(while: { $0 == "\n" || $0 == " " })
            }.joined()
        case .map(let entries):
            guard !entries.isEmpty else { return "{}" }
            let pad = String(repeating: " ", count: indent)
            return entries.map { entry -> String in
                switch entry.value {
                case .map(let inner) where !inner.isEmpty:
                    return "\n\(pad)\(entry.key):" + entry.value.yaml(indent: indent + 2)
                case .list(let values) where values.contains(where: { if case .map = $0 { true } else { false } }):
                    return "\n\(pad)\(entry.key):" + entry.value.yaml(indent: indent + 2)
                default:
                    return "\n\(pad)\(entry.key): " + entry.value.yaml(indent: indent + 2)
                }
            }.joined()
        }
    }
}

/// One key and its value, in the order the configuration file documents them.
public struct SettingEntry: Sendable, Hashable {
    public var key: String
    public var value: SettingValue

    public init(_ key: String, _ value: SettingValue) {
        self.key = key
        self.value = value
    }
}

/// A YAML double-quoted scalar (JSON escapes are valid YAML): no value can change the structure.
private func yamlQuoted(_ text: String) -> String {
    var quoted = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            quoted += "\\x" + String(scalar.value, radix: 16).leftPadded(2)
        default: quoted.unicodeScalars.append(scalar)
        }
    }
    return quoted + "\""
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}

extension DaemonConfiguration.Target {
    /// Every setting of the target as in effect (defaults filled in), in the configuration file's order. The
    /// password is never here: only where it comes from.
    public var effectiveSettings: SettingValue {
        let multiplexer = self.multiplexer
        let connection = multiplexer.connection
        func optional(_ text: String?) -> SettingValue { text.map(SettingValue.string) ?? .null }
        func optional(_ duration: Duration?) -> SettingValue { duration.map(SettingValue.duration) ?? .null }
        let ports = self.allowedPorts.map { range -> SettingValue in
            range.count == 1 ? .int(range.lowerBound) : .string("\(range.lowerBound)-\(range.upperBound)")
        }
        return .map([
            SettingEntry("name", .string(self.name)),
            SettingEntry("host", .string(connection.endpoint.host)),
            SettingEntry("port", .int(connection.endpoint.port)),
            SettingEntry(
                "tls",
                .map([
                    SettingEntry("enabled", .bool(connection.tls != nil)),
                    SettingEntry("ca_file", optional(connection.tls?.caFile)),
                    SettingEntry("server_name", optional(connection.tls?.serverName)),
                    SettingEntry("cert_file", optional(connection.tls?.certificateFile)),
                    SettingEntry("key_file", optional(connection.tls?.keyFile)),
                    SettingEntry("expiry_warning", .duration(self.tlsExpiryWarning)),
                ])),
            SettingEntry("username", optional(connection.username)),
            SettingEntry("password_file", optional(self.passwordFile)),
            SettingEntry("password_credential", optional(self.passwordCredential)),
            SettingEntry("credential_command", self.credentialCommand.map { .list($0.map(SettingValue.string)) } ?? .null),
            SettingEntry("credential_timeout", .duration(self.credentialTimeout)),
            SettingEntry("credential_refresh_margin", .duration(self.credentialRefreshMargin)),
            SettingEntry("client_name", optional(connection.clientName)),
            SettingEntry("cluster", .string(self.cluster.rawValue)),
            SettingEntry("probe_interval", optional(multiplexer.probeInterval)),
            SettingEntry("probe_timeout", .duration(multiplexer.probeTimeout)),
            SettingEntry("probe_failures", .int(multiplexer.probeFailures)),
            SettingEntry("keepalive_interval", .duration(multiplexer.idlePingInterval)),
            SettingEntry("connect_timeout", .duration(connection.connectTimeout)),
            SettingEntry("command_timeout", .duration(connection.commandTimeout)),
            SettingEntry(
                "tcp",
                .map([
                    SettingEntry("keepalive_idle", optional(connection.tcp.keepaliveIdle)),
                    SettingEntry("keepalive_interval", .duration(connection.tcp.keepaliveProbeInterval)),
                    SettingEntry("keepalive_count", .int(connection.tcp.keepaliveCount)),
                    SettingEntry("user_timeout", .duration(connection.tcp.userTimeout ?? .zero)),
                ])),
            SettingEntry(
                "reconnect",
                .map([
                    SettingEntry("backoff_base", .duration(multiplexer.backoff.base)),
                    SettingEntry("backoff_cap", .duration(multiplexer.backoff.cap)),
                    SettingEntry("connect_timeout", .duration(multiplexer.reconnectConnectTimeout)),
                    SettingEntry("min_interval", .duration(multiplexer.forceReconnect.minimumInterval)),
                    SettingEntry("error_threshold", .duration(multiplexer.forceReconnect.errorThreshold)),
                    SettingEntry("count_timeouts", .bool(multiplexer.forceReconnect.countTimeouts)),
                ])),
            SettingEntry("allowed_ports", .list(ports)),
            SettingEntry("allowed_networks", .list(self.allowedNetworks.map(SettingValue.string))),
            SettingEntry("dial_disallowed", .bool(self.dialDisallowed)),
            SettingEntry("maintenance_events", .string(self.maintenanceEvents.rawValue)),
            SettingEntry("canary_interval", .duration(self.canaryInterval)),
            SettingEntry("maintenance_notifications", .string(multiplexer.maintenanceNotifications.mode.rawValue)),
            SettingEntry("moving_endpoint_type", .string(multiplexer.maintenanceNotifications.endpointType.rawValue)),
            SettingEntry("relaxed_timeout", .duration(multiplexer.maintenanceNotifications.relaxedTimeout)),
            SettingEntry(
                "topology",
                .map([
                    SettingEntry("refresh_interval", .duration(self.topologyRefreshInterval)),
                    SettingEntry("min_refresh_interval", .duration(self.topologyMinimumRefreshInterval)),
                    SettingEntry("history", .int(self.topologyHistory)),
                    SettingEntry("max_nodes", .int(self.topologyMaxNodes)),
                ])),
        ])
    }
}

extension DaemonConfiguration {
    /// The whole configuration as in effect, every default filled in.
    public var effectiveSettings: SettingValue {
        func limits(_ limits: ConnectionLimits) -> [SettingEntry] {
            [
                SettingEntry("max_connections", .int(limits.maxConnections)),
                SettingEntry("request_timeout", .duration(limits.requestTimeout)),
                SettingEntry("idle_timeout", .duration(limits.idleTimeout)),
            ]
        }
        return .map([
            SettingEntry(
                "control",
                .map(
                    [
                        SettingEntry("socket", .string(self.control.socket)),
                        SettingEntry("mode", .string("0" + String(self.control.mode, radix: 8))),
                    ] + limits(self.control.limits))),
            SettingEntry(
                "metrics", .map([SettingEntry("listen", self.metricsListen.map(SettingValue.string) ?? .null)] + limits(self.metricsLimits))),
            SettingEntry("log", .map([SettingEntry("level", .string(self.logLevel))])),
            SettingEntry(
                "hooks",
                .list(
                    self.hooks.map { hook in
                        .map([
                            SettingEntry("on", .list(hook.events.map(\.rawValue).sorted().map(SettingValue.string))),
                            SettingEntry("targets", .list(hook.targets.map(SettingValue.string))),
                            SettingEntry("run", .list(hook.run.map(SettingValue.string))),
                            SettingEntry("timeout", .duration(hook.timeout)),
                            SettingEntry("min_interval", .duration(hook.minInterval)),
                        ])
                    })),
            SettingEntry("targets", .list(self.targets.map(\.effectiveSettings))),
        ])
    }

    /// The effective configuration as YAML that the daemon reads back to the same settings.
    public var effectiveYAML: String {
        String(self.effectiveSettings.yaml(indent: 0).drop(while: { $0 == "\n" })) + "\n"
    }
}
