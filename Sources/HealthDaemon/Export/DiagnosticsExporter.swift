#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import RESP
import RedisClient

/// Gathers a support bundle: per node INFO, CLUSTER SHARDS/NODES/SLOTS/INFO, CLIENT INFO and CONFIG GET (where
/// permitted), with secrets redacted.
enum DiagnosticsExporter {
    /// CONFIG parameters whose values are secrets.
    static func isSecretParameter(_ name: String) -> Bool {
        let name = name.lowercased()
        return name.contains("pass") || name == "masterauth" || name.contains("secret") || name.contains("token")
    }

    static let redacted = "<redacted>"

    /// What one node is asked.
    static func commands(cluster: Bool) -> [RESPCommand] {
        var commands = [RESPCommand("INFO"), RESPCommand("CLIENT", "INFO")]
        if cluster {
            commands += [
                RESPCommand("CLUSTER", "INFO"), RESPCommand("CLUSTER", "SHARDS"), RESPCommand("CLUSTER", "NODES"),
                RESPCommand("CLUSTER", "SLOTS"),
            ]
        }
        commands.append(RESPCommand("CONFIG", "GET", "*"))
        return commands
    }

    /// Contacts one node with a connection of its own (the daemon's multiplexers are left alone) and runs the
    /// commands; every failure is recorded, none is fatal.
    static func node(
        secrets: [String] = [], endpoint: RedisEndpoint, role: String, nodeID: String?, skipped: String?, configuration: RedisConnectionConfiguration,
        cluster: Bool, logger: Logger
    ) async -> DiagnosticsBundle.Node {
        var node = DiagnosticsBundle.Node(endpoint: endpoint.description, role: role, nodeID: nodeID, skipped: skipped, commands: [])
        guard skipped == nil else { return node }
        var configuration = configuration
        configuration.endpoint = endpoint
        configuration.clientName = configuration.clientName.map { "\($0)#export" }
        let connection: RedisConnection
        do {
            connection = try await RedisConnection.connect(configuration: configuration, logger: logger)
        } catch {
            node.connectError = self.scrub(error.description, secrets: secrets)
            return node
        }
        for command in self.commands(cluster: cluster) {
            do {
                let reply = try await connection.send(command)
                let output = command.name == "CONFIG GET" ? self.renderConfig(reply) : self.render(reply)
                node.commands.append(.init(command: command.name, output: self.scrub(output, secrets: secrets)))
            } catch {
                node.commands.append(.init(command: command.name, error: self.scrub(error.description, secrets: secrets)))
            }
        }
        await connection.close()
        return node
    }

    /// `CONFIG GET *` as sorted `name value` lines, secret values redacted. A trailing name without a value (a
    /// malformed reply) is left out; so is anything that is not pairs, which could hold a secret unredacted.
    static func renderConfig(_ reply: RESPValue) -> String {
        let entries =
            reply.mapEntries
            ?? reply.elements.flatMap { items in RESPValue.array(Array(items.prefix(items.count / 2 * 2))).mapEntries } ?? []
        let pairs = entries.map { ($0.key.string ?? "?", $0.value.string ?? self.render($0.value)) }
        return pairs.sorted { $0.0 < $1.0 }.map { name, value in
            "\(name) \(self.isSecretParameter(name) && !value.isEmpty ? self.redacted : value)"
        }.joined(separator: "\n")
    }

    /// A reply as readable text: strings as they are, aggregates one element per line, indented.
    static func render(_ value: RESPValue, indent: String = "") -> String {
        switch value {
        case .simpleString, .bulkString, .verbatimString, .simpleError, .bulkError, .bigNumber:
            return value.string ?? ""
        case .integer(let number): return "\(number)"
        case .double(let number): return "\(number)"
        case .boolean(let flag): return "\(flag)"
        case .null: return "(nil)"
        case .array(let items), .set(let items), .push(let items):
            if items.isEmpty { return "(empty)" }
            return items.enumerated().map { index, item in
                let inner = self.render(item, indent: indent + "   ")
                return "\(indent)\(index + 1))" + (isAggregate(item) ? "\n" + inner : " " + inner)
            }.joined(separator: "\n")
        case .map(let entries):
            if entries.isEmpty { return "(empty)" }
            return entries.map { entry in
                let inner = self.render(entry.value, indent: indent + "   ")
                return "\(indent)\(entry.key.string ?? self.render(entry.key)):" + (isAggregate(entry.value) ? "\n" + inner : " " + inner)
            }.joined(separator: "\n")
        case .attributed(_, let inner):
            return self.render(inner, indent: indent)
        }
    }

    private static func isAggregate(_ value: RESPValue) -> Bool {
        switch value.withoutAttributes {
        case .array(let items), .set(let items), .push(let items): !items.isEmpty
        case .map(let entries): !entries.isEmpty
        default: false
        }
    }

    /// The host's addresses now (getaddrinfo), or the resolver's error.
    static func resolve(_ host: String) -> ([String], String?) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        guard status == 0 else { return ([], String(cString: gai_strerror(status))) }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(address) { addresses.append(address) }
            }
            cursor = info.pointee.ai_next
        }
        return (addresses, nil)
    }

    static func host(targets: [DaemonConfiguration.Target]) -> DiagnosticsBundle.Host {
        var tcp: [String: String] = [:]
        for name in HostCheck.tcpSysctls { tcp[name] = HostCheck.sysctl(name) ?? "unreadable" }
        var names = utsname()
        uname(&names)
        let kernel = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // The value just read, not a second read.
        let warning = HostCheck.check(targets, tcpRetries2: tcp["net.ipv4.tcp_retries2"]).warning
        return DiagnosticsBundle.Host(
            hostname: ProcessInfo.processInfo.hostName, kernel: kernel, tcp: tcp, warnings: warning.map { [$0] } ?? [])
    }


    /// Replaces every occurrence of each secret (however short) in a server's reply or error: a last line of defence
    /// should a server echo one back. See ``SecretScrubber``.
    static func scrub(_ text: String, secrets: [String]) -> String {
        SecretScrubber(secrets).scrub(text)
    }
}
