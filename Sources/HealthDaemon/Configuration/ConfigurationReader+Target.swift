import RedisClient

/// Target settings: one `targets:` entry, its keys and every setting of its connections.
extension Reader {
    static let targetKeys: Set<String> = [
        "name", "host", "port", "tls", "username", "password_file", "password_credential", "credential_command",
        "credential_timeout", "credential_refresh_margin", "cluster",
        "probe_interval", "probe_timeout", "probe_failures", "keepalive_interval", "connect_timeout",
        "command_timeout", "tcp", "reconnect", "allowed_ports", "allowed_networks", "dial_disallowed",
        "maintenance_events", "maintenance_notifications", "moving_endpoint_type", "relaxed_timeout", "canary_interval",
        "client_name", "topology",
    ]

    mutating func target(_ node: YAMLNode, _ path: String) -> DaemonConfiguration.Target? {
        guard let map = self.mapping(node, path, allowed: Self.targetKeys) else { return nil }
        let problemsBefore = self.problems.count
        let name = self.string(map["name"], "\(path).name")
        if name == nil { self.problem("\(path).name", "missing: every target needs a name") }
        if let name, name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            self.problem("\(path).name", "\"\(name)\" must be letters, digits, '-', '_' or '.'")
        }
        let host = self.string(map["host"], "\(path).host")
        if host == nil { self.problem("\(path).host", "missing: the Redis server's host name or address") }
        let port = self.int(map["port"], "\(path).port", range: 1...65535) ?? 6379

        var connection = RedisConnectionConfiguration(endpoint: RedisEndpoint(host: host ?? "", port: port))
        connection.clientName = self.string(map["client_name"], "\(path).client_name") ?? "redis-healthd"
        connection.username = self.string(map["username"], "\(path).username")
        if let value = self.duration(map["connect_timeout"], "\(path).connect_timeout") { connection.connectTimeout = value }
        if let value = self.duration(map["command_timeout"], "\(path).command_timeout") { connection.commandTimeout = value }

        var tlsExpiryWarning: Duration?
        if let tls = self.mapping(
            map["tls"], "\(path).tls", allowed: ["enabled", "ca_file", "server_name", "cert_file", "key_file", "expiry_warning"])
        {
            tlsExpiryWarning = self.duration(tls["expiry_warning"], "\(path).tls.expiry_warning")
            if self.bool(tls["enabled"], "\(path).tls.enabled") == true {
                let settings = RedisConnectionConfiguration.TLS(
                    caFile: self.string(tls["ca_file"], "\(path).tls.ca_file"),
                    serverName: self.string(tls["server_name"], "\(path).tls.server_name"),
                    certificateFile: self.string(tls["cert_file"], "\(path).tls.cert_file"),
                    keyFile: self.string(tls["key_file"], "\(path).tls.key_file"))
                if (settings.certificateFile == nil) != (settings.keyFile == nil) {
                    self.problem("\(path).tls", "cert_file and key_file go together: set both or neither")
                }
                connection.tls = settings
            }
        }
        if let tcp = self.mapping(map["tcp"], "\(path).tcp", allowed: ["keepalive_idle", "keepalive_interval", "keepalive_count", "user_timeout"]) {
            if let value = self.duration(tcp["keepalive_idle"], "\(path).tcp.keepalive_idle") { connection.tcp.keepaliveIdle = value }
            if let value = self.duration(tcp["keepalive_interval"], "\(path).tcp.keepalive_interval") { connection.tcp.keepaliveProbeInterval = value }
            if let value = self.int(tcp["keepalive_count"], "\(path).tcp.keepalive_count", range: 1...127) { connection.tcp.keepaliveCount = value }
            if let value = self.duration(tcp["user_timeout"], "\(path).tcp.user_timeout", zeroIsOff: true) { connection.tcp.userTimeout = value }
        }

        var multiplexer = RedisMultiplexerConfiguration(connection: connection)
        if let value = self.duration(map["probe_interval"], "\(path).probe_interval") { multiplexer.probeInterval = value }
        if let value = self.duration(map["probe_timeout"], "\(path).probe_timeout") { multiplexer.probeTimeout = value }
        if let value = self.int(map["probe_failures"], "\(path).probe_failures", range: 1...1000) { multiplexer.probeFailures = value }
        if let value = self.duration(map["keepalive_interval"], "\(path).keepalive_interval") { multiplexer.idlePingInterval = value }
        if let reconnect = self.mapping(
            map["reconnect"], "\(path).reconnect",
            allowed: ["backoff_base", "backoff_cap", "connect_timeout", "min_interval", "error_threshold", "count_timeouts"])
        {
            if let value = self.duration(reconnect["backoff_base"], "\(path).reconnect.backoff_base") { multiplexer.backoff.base = value }
            if let value = self.duration(reconnect["backoff_cap"], "\(path).reconnect.backoff_cap") { multiplexer.backoff.cap = value }
            if let value = self.duration(reconnect["connect_timeout"], "\(path).reconnect.connect_timeout") {
                multiplexer.reconnectConnectTimeout = value
            }
            if let value = self.duration(reconnect["min_interval"], "\(path).reconnect.min_interval") { multiplexer.forceReconnect.minimumInterval = value }
            if let value = self.duration(reconnect["error_threshold"], "\(path).reconnect.error_threshold") { multiplexer.forceReconnect.errorThreshold = value }
            if let value = self.bool(reconnect["count_timeouts"], "\(path).reconnect.count_timeouts") { multiplexer.forceReconnect.countTimeouts = value }
        }
        if let value = self.choice(
            map["maintenance_notifications"], "\(path).maintenance_notifications", as: MaintenanceNotificationSettings.Mode.self)
        {
            multiplexer.maintenanceNotifications.mode = value
        }
        if let value = self.choice(
            map["moving_endpoint_type"], "\(path).moving_endpoint_type", as: MaintenanceNotificationSettings.EndpointType.self)
        {
            multiplexer.maintenanceNotifications.endpointType = value
        }
        if let value = self.duration(map["relaxed_timeout"], "\(path).relaxed_timeout") {
            multiplexer.maintenanceNotifications.relaxedTimeout = value
        }
        // The multiplexer's own rules (keepalive below 10 minutes, positive timeouts, …), with this target's path.
        for message in multiplexer.validate() { self.problem(path, message) }

        var target = DaemonConfiguration.Target(name: name ?? "", multiplexer: multiplexer)
        if let tlsExpiryWarning { target.tlsExpiryWarning = tlsExpiryWarning }
        target.passwordFile = self.string(map["password_file"], "\(path).password_file")
        target.passwordCredential = self.string(map["password_credential"], "\(path).password_credential")
        if let command = map["credential_command"], !command.isNull {
            let argv = self.strings(command, "\(path).credential_command")
            if argv.isEmpty {
                self.problem("\(path).credential_command", "expected a command as a list such as [\"/usr/local/bin/redis-token\", \"--json\"]")
            } else if !argv[0].hasPrefix("/") {
                self.problem("\(path).credential_command", "\(argv[0]) is not an absolute path: the command runs without a shell or PATH search")
            } else {
                target.credentialCommand = argv
            }
        }
        if let value = self.duration(map["credential_timeout"], "\(path).credential_timeout") { target.credentialTimeout = value }
        if let value = self.duration(map["credential_refresh_margin"], "\(path).credential_refresh_margin") {
            target.credentialRefreshMargin = value
        }
        if target.credentialCommand != nil && (target.passwordFile != nil || target.passwordCredential != nil) {
            self.problem(path, "credential_command excludes password_file and password_credential: choose one source")
        } else if target.passwordFile != nil && target.passwordCredential != nil {
            self.problem(path, "password_file and password_credential exclude each other: choose one")
        } else if target.passwordFile != nil || target.passwordCredential != nil {
            self.passwordSources.append((path, target.passwordFile, target.passwordCredential))
        }
        if let value = self.choice(map["cluster"], "\(path).cluster", as: DaemonConfiguration.Target.ClusterMode.self) { target.cluster = value }
        if let value = self.choice(map["maintenance_events"], "\(path).maintenance_events", as: DaemonConfiguration.Target.MaintenanceEvents.self) {
            target.maintenanceEvents = value
        }
        if let value = self.duration(map["canary_interval"], "\(path).canary_interval", zeroIsOff: true) { target.canaryInterval = value }
        if let value = self.bool(map["dial_disallowed"], "\(path).dial_disallowed") { target.dialDisallowed = value }
        if let topology = self.mapping(map["topology"], "\(path).topology", allowed: ["refresh_interval", "min_refresh_interval", "history", "max_nodes"]) {
            if let value = self.duration(topology["refresh_interval"], "\(path).topology.refresh_interval") {
                target.topologyRefreshInterval = value
            }
            if let value = self.duration(topology["min_refresh_interval"], "\(path).topology.min_refresh_interval") {
                target.topologyMinimumRefreshInterval = value
            }
            if let value = self.int(topology["history"], "\(path).topology.history", range: 1...10_000) { target.topologyHistory = value }
            if let value = self.int(topology["max_nodes"], "\(path).topology.max_nodes", range: 1...100_000) { target.topologyMaxNodes = value }
        }
        if let ports = map["allowed_ports"], !ports.isNull {
            if let list = ports.sequence {
                target.allowedPorts = list.enumerated().flatMap { self.portRanges($1, "\(path).allowed_ports[\($0)]") }
            } else {
                self.problem(
                    "\(path).allowed_ports",
                    "expected a list of ports, ranges and presets such as [azure-managed, 6379, \"13000-13999\"]")
            }
        }
        if let networks = map["allowed_networks"], !networks.isNull {
            if let list = networks.sequence {
                target.allowedNetworks = list.enumerated().compactMap { index, node in
                    let itemPath = "\(path).allowed_networks[\(index)]"
                    guard let text = self.string(node, itemPath) else { return nil }
                    guard isCIDR(text) else {
                        self.problem(itemPath, "\"\(text)\" is not a CIDR such as 10.0.0.0/8")
                        return nil
                    }
                    return text
                }
            } else {
                self.problem("\(path).allowed_networks", "expected a list of CIDRs")
            }
        }
        return self.problems.count == problemsBefore ? target : nil
    }
}
