import NIOCore
import RESP

#if canImport(Glibc)
    import Glibc
#endif

extension FakeRedisServer.Core {
    typealias Response = FakeRedisServer.Response
    typealias Command = FakeRedisServer.Command
    typealias Connection = FakeRedisServer.Connection

    /// What Redis 7.0 would answer, near enough for clients' handshakes and checks. Never `.default`.
    func defaultResponse(to command: Command, on connection: Connection) async -> Response {
        let script = self.settings.withLock { $0.script }
        let arguments = command.arguments
        if !connection.state.value.authenticated && !["AUTH", "HELLO", "QUIT"].contains(command.name) {
            return .error("NOAUTH Authentication required.")
        }
        switch command.name {
        case "HELLO" where script.helloSupported:
            return self.hello(arguments, script: script, on: connection)
        case "AUTH":
            guard (1...2).contains(arguments.count) else { return wrongArity("auth") }
            let user = arguments.count == 2 ? arguments[0] : "default"
            return self.authenticate(user: user, password: arguments.last!, script: script, on: connection) ?? .ok
        case "PING":
            if connection.protocolVersion == 2 && connection.isSubscribed {
                return .reply(.array([.bulkString("pong"), .bulkString(arguments.first ?? "")]))
            }
            return arguments.first.map { .bulk($0) } ?? .reply(.simpleString("PONG"))
        case "ECHO":
            guard arguments.count == 1 else { return wrongArity("echo") }
            return .bulk(arguments[0])
        case "SELECT":
            guard arguments.count == 1 else { return wrongArity("select") }
            if script.topology != nil { return .error("ERR SELECT is not allowed in cluster mode") }
            guard let index = Int(arguments[0]), (0..<16).contains(index) else {
                return .error("ERR DB index is out of range")
            }
            return .ok
        case "QUIT":
            return .sequence([.ok, .close])
        case "READONLY", "READWRITE", "ASKING", "CLIENT SETINFO", "CONFIG SET":
            return .ok
        case "CLIENT SETNAME":
            guard arguments.count == 1 else { return wrongArity("client|setname") }
            connection.state.update { $0.name = arguments[0].isEmpty ? nil : arguments[0] }
            return .ok
        case "CLIENT GETNAME":
            return .reply(connection.clientName.map { .bulkString($0) } ?? .null)
        case "CLIENT ID":
            return .reply(.integer(Int64(connection.id)))
        case "CLIENT INFO":
            return .reply(.verbatimString(format: "txt", ByteBuffer(string: Self.clientLine(connection) + "\n")))
        case "CLIENT LIST":
            let connections = self.settings.withLock { $0.connections.values.filter(\.isOpen).sorted { $0.id < $1.id } }
            let text = connections.map { Self.clientLine($0) + "\n" }.joined()
            return .reply(.verbatimString(format: "txt", ByteBuffer(string: text)))
        case "INFO":
            return .reply(
                .verbatimString(format: "txt", ByteBuffer(string: self.info(section: arguments.first, script: script))))
        case "CONFIG GET":
            guard arguments.count == 1 else { return wrongArity("config|get") }
            let values = [
                "timeout": "0", "maxclients": "10000", "cluster-enabled": script.topology == nil ? "no" : "yes",
            ]
            let matching = values.keys.sorted().filter { fnmatch(arguments[0], $0, 0) == 0 }
            return .reply(.map(matching.map { RESPMapEntry(key: .bulkString($0), value: .bulkString(values[$0]!)) }))
        case let name where name.hasPrefix("CLUSTER"):
            return self.cluster(command, script: script, on: connection)
        case "SUBSCRIBE", "PSUBSCRIBE":
            guard !arguments.isEmpty else { return wrongArity(command.name.lowercased()) }
            let pattern = command.name == "PSUBSCRIBE"
            let counts = connection.state.update { state in
                arguments.map { name in
                    if pattern { state.patterns.insert(name) } else { state.channels.insert(name) }
                    return state.channels.count + state.patterns.count
                }
            }
            let kind = pattern ? "psubscribe" : "subscribe"
            return .sequence(
                zip(arguments, counts).map { .reply(.push([.bulkString(kind), .bulkString($0), .integer(Int64($1))])) })
        case "UNSUBSCRIBE", "PUNSUBSCRIBE":
            let pattern = command.name == "PUNSUBSCRIBE"
            let kind = pattern ? "punsubscribe" : "unsubscribe"
            let replies: [(String?, Int)] = connection.state.update { state in
                let names = arguments.isEmpty ? (pattern ? state.patterns : state.channels).sorted() : arguments
                if names.isEmpty { return [(nil, state.channels.count + state.patterns.count)] }
                return names.map { name in
                    if pattern { state.patterns.remove(name) } else { state.channels.remove(name) }
                    return (name, state.channels.count + state.patterns.count)
                }
            }
            return .sequence(
                replies.map {
                    .reply(.push([.bulkString(kind), $0.0.map { .bulkString($0) } ?? .null, .integer(Int64($0.1))]))
                })
        case "PUBLISH":
            guard arguments.count == 2 else { return wrongArity("publish") }
            return .reply(.integer(Int64(await self.publish(channel: arguments[0], message: arguments[1]))))
        case "GET":
            guard arguments.count == 1 else { return wrongArity("get") }
            return .reply(self.settings.withLock { $0.store[arguments[0]] }.map { .bulkString($0) } ?? .null)
        case "SET":
            guard arguments.count >= 2 else { return wrongArity("set") }
            self.settings.withLock { $0.store[arguments[0]] = arguments[1] }
            return .ok
        case "DEL", "EXISTS":
            guard !arguments.isEmpty else { return wrongArity(command.name.lowercased()) }
            let count = self.settings.withLock { settings in
                arguments.filter { key in
                    command.name == "DEL" ? settings.store.removeValue(forKey: key) != nil : settings.store[key] != nil
                }.count
            }
            return .reply(.integer(Int64(count)))
        default:
            let first = command.words.first ?? ""
            let rest = command.words.dropFirst().prefix(3).map { "'\($0)' " }.joined()
            return .error("ERR unknown command '\(first)', with args beginning with: \(rest)")
        }
    }

    /// Delivers a message to subscribers of `channel` and of matching patterns; how many got it.
    func publish(channel: String, message: String) async -> Int {
        let connections = self.settings.withLock { $0.connections.values.filter(\.isOpen).sorted { $0.id < $1.id } }
        var delivered = 0
        for connection in connections {
            let (channels, patterns) = connection.state.read { ($0.channels, $0.patterns) }
            if channels.contains(channel) {
                try? await connection.sendPush([.bulkString("message"), .bulkString(channel), .bulkString(message)])
                delivered += 1
            }
            for pattern in patterns.sorted() where fnmatch(pattern, channel, 0) == 0 {
                try? await connection.sendPush([
                    .bulkString("pmessage"), .bulkString(pattern), .bulkString(channel), .bulkString(message),
                ])
                delivered += 1
            }
        }
        return delivered
    }

    // MARK: commands with options

    private func hello(_ arguments: [String], script: FakeRedisServer.Script, on connection: Connection) -> Response {
        var version = connection.protocolVersion
        var index = 0
        if let first = arguments.first {
            guard let requested = Int(first), requested == 2 || requested == 3 else {
                return .error("NOPROTO unsupported protocol version")
            }
            version = requested
            index = 1
        }
        var credentials: (user: String, password: String)?
        var name: String?
        while index < arguments.count {
            switch arguments[index].uppercased() {
            case "AUTH" where index + 2 < arguments.count:
                credentials = (arguments[index + 1], arguments[index + 2])
                index += 3
            case "SETNAME" where index + 1 < arguments.count:
                name = arguments[index + 1]
                index += 2
            default:
                return .error("ERR Syntax error in HELLO option '\(arguments[index])'")
            }
        }
        if let credentials {
            if let refusal = self.authenticate(
                user: credentials.user, password: credentials.password, script: script, on: connection)
            {
                return refusal
            }
        } else if !connection.state.value.authenticated {
            return .error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
            )
        }
        connection.state.update { state in
            state.protocolVersion = version
            if let name { state.name = name }
        }
        let fields: [(String, RESPValue)] = [
            ("server", .bulkString("redis")), ("version", .bulkString(script.version)),
            ("proto", .integer(Int64(version))),
            ("id", .integer(Int64(connection.id))),
            ("mode", .bulkString(script.topology == nil ? "standalone" : "cluster")),
            ("role", .bulkString("master")), ("modules", .array([])),
        ]
        return .reply(.map(fields.map { RESPMapEntry(key: .bulkString($0.0), value: $0.1) }))
    }

    /// nil when the credentials are right (the connection is then authenticated), else the refusal.
    private func authenticate(
        user: String, password: String, script: FakeRedisServer.Script, on connection: Connection
    ) -> Response? {
        guard let expected = script.password else {
            connection.state.update { $0.authenticated = true }
            return nil
        }
        guard user == script.username, password == expected else {
            return .error("WRONGPASS invalid username-password pair or user is disabled.")
        }
        connection.state.update { $0.authenticated = true }
        return nil
    }

    private func cluster(_ command: Command, script: FakeRedisServer.Script, on connection: Connection) -> Response {
        guard let topology = script.topology else { return .error("ERR This instance has cluster support disabled") }
        switch command.name {
        case "CLUSTER SHARDS": return .reply(topology.shardsReply())
        case "CLUSTER SLOTS": return .reply(topology.slotsReply())
        case "CLUSTER NODES": return .bulk(topology.nodesText())
        case "CLUSTER INFO": return .reply(.verbatimString(format: "txt", ByteBuffer(string: topology.infoText())))
        case "CLUSTER MYID": return .bulk(topology.myself ?? "")
        default:
            let subcommand = command.words.dropFirst().first ?? ""
            return .error("ERR unknown subcommand '\(subcommand)'. Try CLUSTER HELP.")
        }
    }

    private func info(section: String?, script: FakeRedisServer.Script) -> String {
        let open = self.log.value.openConnections
        let keys = self.settings.withLock { $0.store.count }
        let sections: [(String, [String])] = [
            (
                "server",
                [
                    "redis_version:\(script.version)",
                    "redis_mode:\(script.topology == nil ? "standalone" : "cluster")",
                    "os:Linux", "arch_bits:64", "process_id:1", "tcp_port:0", "uptime_in_seconds:1",
                ]
            ),
            ("clients", ["connected_clients:\(open)", "maxclients:10000"]),
            ("memory", ["used_memory:1000000", "maxmemory:0", "maxmemory_policy:noeviction"]),
            ("replication", ["role:master", "connected_slaves:0"]),
            ("cluster", ["cluster_enabled:\(script.topology == nil ? 0 : 1)"]),
            ("keyspace", keys == 0 ? [] : ["db0:keys=\(keys),expires=0,avg_ttl=0"]),
        ]
        let wanted = section?.lowercased()
        let chosen = sections.filter {
            wanted == nil || wanted == "all" || wanted == "everything" || wanted == "default" || $0.0 == wanted
        }
        return chosen.map { name, lines in
            "# \(name.prefix(1).uppercased() + name.dropFirst())\r\n" + lines.map { $0 + "\r\n" }.joined()
        }.joined(separator: "\r\n")
    }

    private static func clientLine(_ connection: Connection) -> String {
        let state = connection.state.value
        let subscriptions = state.channels.count
        return
            "id=\(connection.id) addr=\(connection.remoteAddress) laddr=? fd=\(connection.id + 7) name=\(state.name ?? "") db=0 sub=\(subscriptions) psub=\(state.patterns.count) resp=\(state.protocolVersion) cmd=client|list"
    }
}

private func wrongArity(_ command: String) -> FakeRedisServer.Response {
    .error("ERR wrong number of arguments for '\(command)' command")
}
