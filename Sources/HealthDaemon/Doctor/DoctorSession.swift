#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import RESP
import RedisClient

/// The checks doctor makes over one established connection: ACL permissions, the server's settings, the cluster,
/// the clock and latency.
struct DoctorSession: Sendable {
    let connection: RedisConnection
    let timeout: Duration
    let doctor: Doctor

    /// The reply (an error reply included), or the error text when no reply came.
    func send(_ name: String, _ arguments: String...) async -> Result<RESPValue, RedisClientError> {
        await self.send([name] + arguments)
    }

    func send(_ words: [String]) async -> Result<RESPValue, RedisClientError> {
        do {
            return .success(
                try await self.connection.sendRaw(RESPCommand(words[0], arguments: Array(words.dropFirst())), timeout: self.timeout))
        } catch {
            return .failure(error)
        }
    }

    // MARK: ACL

    /// PING, INFO, CLUSTER SHARDS and SUBSCRIBE: with ACL DRYRUN when the user may run it, else by trying the first
    /// three (SUBSCRIBE would turn the connection into a subscriber: it is reported as unknown then).
    func aclChecks() async -> [DoctorCheck] {
        var user = self.doctor.connection.username ?? "default"
        if case .success(let reply) = await self.send("ACL", "WHOAMI"), !reply.isError, let name = reply.string { user = name }
        let shownUser = self.doctor.shown(user)
        let target = self.doctor.target
        let clusterNeeded = target.cluster == .on
        let subscribeNeeded = target.subscribesToMaintenanceEvents
        let commands: [(words: [String], needed: Bool, why: String)] = [
            (["PING"], true, "probes and keepalives"),
            (["INFO", "cluster"], true, "cluster detection and the server checks"),
            (["CLUSTER", "SHARDS"], clusterNeeded, "reading a cluster's topology"),
            (["SUBSCRIBE", MaintenanceEvent.channel], subscribeNeeded, "maintenance events"),
        ]
        var dryRunUsable = true
        var checks: [DoctorCheck] = []
        for command in commands {
            let label = command.words[0] == "CLUSTER" ? "CLUSTER *" : command.words[0]
            var verdict: (allowed: Bool?, how: String) = (nil, "")
            if dryRunUsable {
                switch await self.send(["ACL", "DRYRUN", user] + command.words) {
                case .success(let reply) where !reply.isError:
                    let text = reply.string ?? ""
                    verdict = text == "OK" ? (true, "ACL DRYRUN") : (false, "ACL DRYRUN: \(self.doctor.shown(text))")
                default:
                    dryRunUsable = false
                }
            }
            if verdict.allowed == nil && command.words[0] != "SUBSCRIBE" {
                if case .success(let reply) = await self.send(command.words) {
                    let text = reply.isError ? (reply.string ?? "") : ""
                    verdict = text.hasPrefix("NOPERM") ? (false, self.doctor.shown(text)) : (true, "tried it")
                }
            }
            switch verdict.allowed {
            case true?:
                checks.append(.ok("acl", label, "allowed for user \(shownUser) (\(verdict.how))"))
            case false?:
                let detail = "denied for user \(shownUser): \(verdict.how); needed for \(command.why)"
                let advice = "grant it: ACL SETUSER \(shownUser) +\(command.words.map { $0.lowercased() }.prefix(2).joined(separator: "|"))"
                    + (command.words[0] == "SUBSCRIBE" ? " &\(MaintenanceEvent.channel)" : "")
                checks.append(command.needed ? .failure("acl", label, detail, advice: advice) : .warning("acl", label, detail, advice: advice))
            case nil:
                checks.append(.ok("acl", label, "not checked: user \(shownUser) may not run ACL DRYRUN"))
            }
        }
        return checks
    }

    // MARK: server

    /// `INFO` (default sections) as key → value, or the error.
    func info() async -> Result<[String: String], RedisClientError> {
        switch await self.send("INFO") {
        case .success(let reply) where !reply.isError:
            var fields: [String: String] = [:]
            for line in (reply.string ?? "").split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
            }
            return .success(fields)
        case .success(let reply):
            return .failure(RedisClientError(.errorReply, command: "INFO", message: reply.string ?? "error"))
        case .failure(let error):
            return .failure(error)
        }
    }

    /// A setting read with CONFIG GET, or nil when CONFIG is refused (managed services often rename it).
    func config(_ name: String) async -> String? {
        guard case .success(let reply) = await self.send("CONFIG", "GET", name), !reply.isError else { return nil }
        if let entries = reply.mapEntries, let first = entries.first { return first.value.string }
        return nil
    }

    func serverChecks(info reply: Result<[String: String], RedisClientError>) async -> [DoctorCheck] {
        let info: [String: String]
        switch reply {
        case .success(let fields): info = fields
        case .failure(let error):
            return [
                .failure(
                    "server", "INFO", self.doctor.shown(error.description),
                    advice: "the daemon needs INFO: grant it (ACL SETUSER … +info) or check the server")
            ]
        }
        var checks: [DoctorCheck] = []
        let keepalive = self.doctor.target.multiplexer.idlePingInterval
        if let text = await self.config("timeout"), let timeout = Int(text) {
            if timeout > 0 && Duration.seconds(timeout) <= keepalive {
                checks.append(
                    .warning(
                        "server", "idle timeout",
                        "the server closes connections idle for \(timeout)s, not longer than keepalive_interval \(keepalive.humanReadable)",
                        advice: "set the target's keepalive_interval below \(timeout)s, or the server's timeout to 0 or above keepalive_interval (CONFIG SET timeout 0)"))
            } else {
                checks.append(
                    .ok("server", "idle timeout", "timeout \(timeout)s\(timeout == 0 ? " (never)" : ""), keepalive_interval \(keepalive.humanReadable)"))
            }
        } else {
            checks.append(
                .ok(
                    "server", "idle timeout",
                    "unknown (CONFIG GET refused); keepalive_interval \(keepalive.humanReadable) is below managed Redis's 10-minute idle limit"))
        }
        let connected = info["connected_clients"].flatMap { Int($0) }
        var maximum = info["maxclients"].flatMap { Int($0) }
        if maximum == nil, let text = await self.config("maxclients") { maximum = Int(text) }
        if let connected, let maximum, maximum > 0 {
            let share = Double(connected) / Double(maximum)
            let detail = "\(connected) of maxclients \(maximum) connected (\(Int(share * 100)) %)"
            let advice = "raise maxclients (or the tier), or find the client that leaks connections (CLIENT LIST)"
            checks.append(
                share >= 0.95
                    ? .failure("server", "clients", detail, advice: advice)
                    : share >= 0.8 ? .warning("server", "clients", detail, advice: advice) : .ok("server", "clients", detail))
        } else {
            checks.append(.ok("server", "clients", "\(connected.map(String.init) ?? "?") connected, maxclients unknown"))
        }
        let rejected = info["rejected_connections"].flatMap { Int($0) } ?? 0
        if rejected > 0 {
            checks.append(
                .warning(
                    "server", "rejected connections", "\(rejected) connections rejected since the server started (maxclients reached)",
                    advice: "raise maxclients, or find the client that opens too many connections (CLIENT LIST, INFO clients)"))
        } else {
            checks.append(.ok("server", "rejected connections", "none"))
        }
        let role = self.doctor.shown(info["role"] ?? "unknown")
        if role == "slave" {
            let primary = self.doctor.shown("\(info["master_host"] ?? "?"):\(info["master_port"] ?? "?")")
            let link = self.doctor.shown(info["master_link_status"] ?? "unknown")
            checks.append(
                link == "up"
                    ? .ok("server", "role", "replica of \(primary), link up")
                    : .warning(
                        "server", "role", "replica of \(primary), link \(link)",
                        advice: "the replica is not in sync with its primary: check the primary and the replication link"))
        } else {
            let replicas = info["connected_slaves"] ?? "0"
            checks.append(.ok("server", "role", "\(role == "master" ? "primary" : role), \(self.doctor.shown(replicas)) connected replica(s)"))
        }
        return checks
    }

    // MARK: clock and latency

    func clockCheck() async -> [DoctorCheck] {
        let before = Date()
        guard case .success(let reply) = await self.send("TIME"), let parts = reply.elements, parts.count == 2,
            let secondsText = parts[0].string, let serverSeconds = Double(secondsText),
            let microsText = parts[1].string, let micros = Double(microsText)
        else {
            return [.ok("host", "clock", "not checked: TIME did not answer")]
        }
        let after = Date()
        let local = before.timeIntervalSince1970 + after.timeIntervalSince(before) / 2
        let skew = serverSeconds + micros / 1e6 - local
        let detail = "\(skew.fixed(3, sign: true)) s against the server's TIME"
        let advice = "synchronise this host's clock (chrony, systemd-timesyncd): times in logs, events and certificate checks are compared across hosts"
        if abs(skew) > 30 { return [.failure("host", "clock", detail, advice: advice)] }
        if abs(skew) > 1 { return [.warning("host", "clock", detail, advice: advice)] }
        return [.ok("host", "clock", detail)]
    }

    func latencyCheck() async -> [DoctorCheck] {
        var samples: [Duration] = []
        var failures = 0
        var firstError: String?
        for _ in 0..<self.doctor.pings {
            let start = ContinuousClock.now
            switch await self.send("PING") {
            case .success(let reply) where !reply.isError:
                samples.append(ContinuousClock.now - start)
            case .success(let reply):
                failures += 1
                firstError = firstError ?? self.doctor.shown(reply.string ?? "error")
            case .failure(let error):
                failures += 1
                firstError = firstError ?? self.doctor.shown(error.description)
            }
            // A server that stopped answering would cost a command timeout per PING: two misses end the series.
            if failures >= 2 { break }
        }
        let sorted = samples.sorted()
        let count = self.doctor.pings
        guard !sorted.isEmpty else {
            return [
                .failure(
                    "latency", "PING ×\(count)", "no PING answered: \(firstError ?? "?")",
                    advice: "the server does not answer: check its load and the path")
            ]
        }
        let p50 = sorted[(sorted.count - 1) * 50 / 100]
        let p99 = sorted[(sorted.count - 1) * 99 / 100]
        let detail = "p50 \(Doctor.milliseconds(p50)) ms, p99 \(Doctor.milliseconds(p99)) ms"
        if failures > 0 {
            return [
                .failure(
                    "latency", "PING ×\(count)", "\(failures) PING\(failures == 1 ? "" : "s") failed (\(firstError ?? "?")); \(detail)",
                    advice: "the connection drops replies: check the server's load and the network path")
            ]
        }
        let probeTimeout = self.doctor.target.multiplexer.probeTimeout
        if p99 * 2 > probeTimeout {
            return [
                .warning(
                    "latency", "PING ×\(count)", "\(detail): p99 is more than half of probe_timeout \(probeTimeout.humanReadable)",
                    advice: "raise probe_timeout, or find the latency (network path, server CPU, slow commands: SLOWLOG GET)")
            ]
        }
        return [.ok("latency", "PING ×\(count)", detail)]
    }
}
