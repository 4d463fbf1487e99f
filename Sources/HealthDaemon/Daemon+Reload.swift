#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RedisClient

/// Reloads: what a new configuration changes, which targets are rebuilt, started, stopped or left running.
extension Daemon {
    /// What a reload did.
    public struct ReloadOutcome: Sendable, Hashable, CustomStringConvertible {
        public var added: [String] = []
        public var removed: [String] = []
        public var restarted: [String] = []
        public var unchanged: [String] = []
        public var needsRestart: [String] = []

        public var description: String {
            "added [\(added.joined(separator: ", "))], removed [\(removed.joined(separator: ", "))], restarted [\(restarted.joined(separator: ", "))], unchanged [\(unchanged.joined(separator: ", "))]"
                + (needsRestart.isEmpty ? "" : "; needs a restart to apply: \(needsRestart.joined(separator: ", "))")
        }
    }

    /// The password a target is built with, as a hash (what stays in memory to see whether a reload changes it).
    static func passwordHash(_ password: RedisSecret?) -> Int {
        var hasher = Hasher()
        hasher.combine(password?.value)
        return hasher.finalize()
    }

    /// Whether `target` (with `passwordHash`) is built differently from `supervisor`'s. The settings are compared
    /// by their full description: computed here, at a reload, never at start (1,000 of them take about 100 ms).
    static func differs(
        _ target: DaemonConfiguration.Target, passwordHash: Int, from supervisor: TargetSupervisor?, builtWith oldHash: Int?
    ) -> Bool {
        guard let supervisor, let oldHash, oldHash == passwordHash else { return true }
        return "\(supervisor.target)" != "\(target)"
    }

    /// Applies a new configuration: new targets start, removed ones stop, changed ones are rebuilt, unchanged
    /// ones keep running untouched. Control socket and metrics listener changes need a restart (reported).
    public func reload(_ configuration: DaemonConfiguration) throws -> ReloadOutcome {
        var outcome = ReloadOutcome()
        if configuration.control != self.configuration.control { outcome.needsRestart.append("control") }
        if configuration.metricsListen != self.configuration.metricsListen { outcome.needsRestart.append("metrics.listen") }
        if configuration.metricsLimits != self.configuration.metricsLimits { outcome.needsRestart.append("metrics") }
        if configuration.logLevel != self.configuration.logLevel { outcome.needsRestart.append("log.level") }
        // Build every new supervisor first: a password that cannot be read rejects the whole reload.
        // Unchanged targets are only compared, never rebuilt: a supervisor built and thrown away would reset their
        // metrics (target_up 0, state starting) until their next state change.
        var built: [String: (TargetSupervisor, Int)] = [:]
        let current = self.state.withLock { ($0.passwordHashes, Dictionary(uniqueKeysWithValues: $0.supervisors.map { ($0.target.name, $0) })) }
        var changed: [(DaemonConfiguration.Target, RedisSecret?, Int)] = []
        for target in configuration.targets {
            let password = try self.loader.password(for: target)
            let hash = Self.passwordHash(password)
            if Self.differs(target, passwordHash: hash, from: current.1[target.name], builtWith: current.0[target.name]) {
                changed.append((target, password, hash))
            }
        }
        for (target, password, hash) in changed {
            // A target rebuilt under the same name keeps its topology history.
            let supervisor = try self.makeSupervisor(target, password: password, earlier: current.1[target.name])
            built[target.name] = (supervisor, hash)
        }
        var toStop: [TargetSupervisor] = []
        var toStart: [TargetSupervisor] = []
        let started = self.state.withLock { state in
            var supervisors: [TargetSupervisor] = []
            for target in configuration.targets {
                if let (supervisor, hash) = built[target.name] {
                    if let old = current.1[target.name] {
                        toStop.append(old)
                        outcome.restarted.append(target.name)
                    } else {
                        outcome.added.append(target.name)
                    }
                    supervisors.append(supervisor)
                    toStart.append(supervisor)
                    state.passwordHashes[target.name] = hash
                    state.latest[target.name] = nil
                } else if let existing = current.1[target.name] {
                    supervisors.append(existing)
                    outcome.unchanged.append(target.name)
                }
            }
            let kept = Set(configuration.targets.map(\.name))
            for (name, old) in current.1 where !kept.contains(name) {
                toStop.append(old)
                outcome.removed.append(name)
                state.passwordHashes[name] = nil
                state.latest[name] = nil
            }
            state.setSupervisors(supervisors)
            return state.targetsStarted
        }
        self.hooks.update(configuration.hooks)
        // A removed target's series go at once (a restarted one keeps its counters under the same name).
        for name in outcome.removed { self.metrics.unregister(target: name) }
        for supervisor in toStop {
            // Its certificate series go now (a rebuilt target's new supervisor records its own at its handshakes).
            supervisor.retireCertificates()
            // Stopped by run()'s task group; once that has stopped taking work, its end cancels the supervisor's run().
            // One replaced before run() started the targets never ran: nothing to stop.
            if started { self.supervisorWorkContinuation.yield(.stop(supervisor)) }
        }
        // Before run() started the targets, it starts these itself (they are its supervisors now): started here too,
        // they would run twice.
        if started { for supervisor in toStart { self.supervisorWorkContinuation.yield(.start(supervisor)) } }
        self.statusChangesContinuation.yield()
        return outcome
    }
}
