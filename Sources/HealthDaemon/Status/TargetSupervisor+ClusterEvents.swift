import Logging
import RedisClient

/// A cluster target's cluster events folded in: topology refreshes and what changed, anomalies, node connections.
extension TargetSupervisor {
    /// Folds one event of the cluster client into the topology watch, the status, the metrics, the events and the
    /// log; its texts are scrubbed of the password first. `now`: seconds since 1970.
    func foldClusterEvent(_ event: ClusterEvent, now: Double) {
        let event = self.scrubber.scrub(event)
        let name = self.target.name
        switch event {
        case .topologyRefreshed(let topology, let source, let command, let trigger):
            self.metrics?.recordTopologyRefresh(target: name, ok: true)
            if self.topology.withLock({ state in defer { state.refreshFailing = false }; return state.refreshFailing }) {
                self.logger.notice("Cluster topology refresh works again", metadata: ["redis.event": "topology-refreshed", "redis.trigger": "\(trigger)"])
            }
            let sourceText = "\(command) from \(source)"
            // The cluster client has applied this topology already: its dial decisions are this snapshot's.
            let dialed = self.clusterClient.map { $0.nodeEndpoints.map(\.description) }
            let notDialed = self.clusterClient.map { Dictionary(uniqueKeysWithValues: $0.notDialed.map { ($0.key.description, $0.value) }) }
            let observation = self.topology.withLock {
                $0.watch.observe(topology, source: sourceText, trigger: trigger, at: now, dialed: dialed, notDialed: notDialed)
            }
            self.topologyObserved(observation, topology: topology, source: sourceText, trigger: trigger, now: now)
        case .refreshFailed(let trigger, let message):
            self.metrics?.recordTopologyRefresh(target: name, ok: false)
            let first = self.topology.withLock { state in defer { state.refreshFailing = true }; return !state.refreshFailing }
            if first { self.events.append(target: name, text: "topology refresh failed (\(trigger)): \(message)", at: now, kind: "topology-refresh-failed") }
            if message.lowercased().contains("cluster support disabled") {
                // `cluster: on` against a server that is no cluster: say so in the status, not "0 primaries" forever.
                let problem =
                    "cluster: on, but \(self.target.multiplexer.connection.endpoint) has cluster support disabled; set cluster: off (or auto) for this target"
                self.updateStatus(now: now) { $0.setClusterProblem(problem, now: now) }
            }
            self.logger.log(
                level: first ? .warning : .debug,
                "Cluster topology refresh failed",
                metadata: ["redis.event": "topology-refresh-failed", "redis.trigger": "\(trigger)", "error.message": "\(message)"])
        case .nodeNotDialed(let id, let endpoint, let reason):
            self.events.append(target: name, text: "not dialing node \(id?.prefix(8) ?? "?") at \(endpoint): \(reason)", at: now, kind: "node-not-dialed")
            self.logger.notice(
                "Not dialing a cluster node outside the allowed endpoints",
                metadata: [
                    "redis.event": "node-not-dialed", "redis.node_id": "\(id ?? "-")", "redis.announced_endpoint": "\(endpoint)",
                    "redis.reason": "\(reason)",
                ])
        case .nodeOpened(let endpoint):
            self.events.append(target: name, text: "node connection opened to \(endpoint)", at: now, kind: "node-opened")
            self.logger.info("Cluster node connection opened", metadata: ["redis.event": "node-opened", "redis.node_endpoint": "\(endpoint)"])
        case .nodeClosed(let endpoint, let why):
            self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, nil, now: now) }
            // The target's own connection may be to the same endpoint: its certificate stays.
            if endpoint != self.target.multiplexer.connection.endpoint { self.forgetCertificates(node: endpoint, now: now) }
            // What became of the node: it moved (to an endpoint the allow-lists refuse?), failed, left, …
            self.events.append(target: name, text: "node connection closed to \(endpoint) (\(why))", at: now, kind: "node-closed")
            self.logger.info(
                "Cluster node connection closed", metadata: ["redis.event": "node-closed", "redis.node_endpoint": "\(endpoint)", "redis.reason": "\(why)"])
        case .tooManyNodes(let count, let limit):
            self.events.append(target: name, text: "the topology lists \(count) nodes, more than the limit of \(limit)", at: now, importance: .significant, kind: "too-many-nodes")
            self.logger.warning(
                "Cluster topology lists more nodes than the limit",
                metadata: ["redis.event": "too-many-nodes", "redis.node_count": "\(count)", "redis.node_limit": "\(limit)"])
        case .redirected(let redirection):
            self.logger.debug(
                "Command redirected", metadata: ["redis.event": "redirected", "redis.redirect": "\(redirection.kind.rawValue) \(redirection.slot) \(redirection.endpoint)"])
        case .node(let endpoint, let nodeEvent):
            if self.handleMaintenancePush(nodeEvent, now: now) { return }
            switch nodeEvent {
            case .connectionFailed(let role, _, let kind, let message):
                self.metrics?.recordNodeFailure(target: name, kind: kind.description)
                // A node being closed may still report its last failure: only a node still dialed counts.
                if role == .interactive, self.clusterClient?.multiplexer(at: endpoint) != nil {
                    self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, message, now: now) }
                }
                self.events.append(target: name, text: "node \(endpoint) \(role.rawValue) connection failed [\(kind)]: \(message)", at: now, kind: "node-connection-failed")
                self.logNodeFailure(endpoint: endpoint, role: role, kind: kind, message: message, now: now)
            case .connected(let role, _, _, let restored):
                self.nodeRecovered(endpoint: endpoint, role: role, now: now)
                if role == .interactive { self.updateStatus(now: now) { $0.setNodeProblem(endpoint.description, nil, now: now) } }
                self.events.append(target: name, text: "node \(endpoint) \(role.rawValue) connection \(restored ? "restored" : "up")", at: now, kind: "node-connected")
                self.logger.info(
                    restored ? "Cluster node connection restored" : "Cluster node connected",
                    metadata: ["redis.event": restored ? "connection-restored" : "connected", "redis.node_endpoint": "\(endpoint)"])
            case .peerCertificates(_, let certificates):
                // A node being closed may still report its handshake: only a node still dialed counts.
                guard self.clusterClient?.multiplexer(at: endpoint) != nil else { break }
                self.events.append(target: name, text: "node \(endpoint): \(describe(nodeEvent))", at: now, kind: "node-tls-certificate")
                self.recordCertificates(node: endpoint, certificates, now: now)
            case .probe:
                // Certificates entering the warning window are noticed at the nodes' probes too (the seed may be
                // down while the cluster serves).
                self.checkCertificates(now: now)
            case .reauthenticated(let role, let outcome, let message):
                // Counted with the target's own connections' (one series per target).
                self.metrics?.record(nodeEvent, target: name)
                self.events.append(target: name, text: "node \(endpoint): \(describe(nodeEvent))", at: now,
                    importance: outcome == "ok" ? .routine : .significant, kind: "node-\(kind(of: nodeEvent))")
                var metadata: Logger.Metadata = [
                    "redis.event": "reauthenticated", "redis.node_endpoint": "\(endpoint)", "redis.role": "\(role.rawValue)",
                    "redis.outcome": "\(outcome)",
                ]
                if let message { metadata["error.message"] = "\(message)" }
                if outcome == "ok" || outcome == "reconnect" {
                    self.logger.info("Cluster node connection authenticated again with new credentials", metadata: metadata)
                } else {
                    self.logger.warning("Cluster node connection could not authenticate again", metadata: metadata)
                }
            case .unresponsive(let failures, let error):
                self.events.append(target: name, text: "node \(endpoint) unresponsive after \(failures) probes: \(error)", at: now, importance: .significant, kind: "node-unresponsive")
                self.logger.warning(
                    "Cluster node unresponsive",
                    metadata: ["redis.event": "unresponsive", "redis.node_endpoint": "\(endpoint)", "error.message": "\(error)"])
            default:
                break
            }
        }
    }

    private func topologyObserved(
        _ observation: TopologyWatch.Observation, topology: ClusterTopology, source: String, trigger: String, now: Double
    ) {
        let name = self.target.name
        if observation.isFirst {
            self.events.append(
                target: name, text: "topology discovered: \(topology.primaries.count) primaries, \(topology.nodes.count - topology.primaries.count) replicas (\(source))",
                at: now, importance: .significant, kind: "topology-discovered")
            self.logger.info(
                "Cluster topology discovered",
                metadata: [
                    "redis.event": "topology-changed", "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    "redis.nodes": "\(topology.nodes.count)",
                ])
        } else {
            for change in observation.changes {
                self.metrics?.recordTopologyChange(target: name, kind: change.kind.rawValue)
                self.events.append(target: name, text: "topology: \(change.description) (\(source), \(trigger))", at: now, importance: .significant, kind: "topology-changed")
                self.logger.notice(
                    "Cluster topology changed",
                    metadata: [
                        "redis.event": "topology-changed", "redis.change": "\(change.kind.rawValue)", "redis.node_id": "\(change.nodeID)",
                        "redis.change_detail": "\(change.description)", "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    ])
            }
        }
        for anomaly in observation.newAnomalies {
            self.events.append(target: name, text: "ANOMALY \(anomaly.message) (\(source))", at: now, importance: .significant, kind: "topology-anomaly")
            self.logger.warning(
                "Topology anomaly: a node announces an endpoint outside the allowed list",
                metadata: [
                    "redis.event": "topology-anomaly", "redis.node_id": "\(anomaly.nodeID)",
                    "redis.announced_endpoint": "\(anomaly.endpoint)", "redis.rule": "\(anomaly.rule)",
                    "redis.topology_source": "\(source)", "redis.trigger": "\(trigger)",
                    "redis.dialed": "\(self.target.dialDisallowed ? "yes (dial_disallowed: true)" : "no")",
                    "error.message": "\(anomaly.message)",
                ])
            self.hookEvent(.anomaly, reason: anomaly.message)
        }
        for anomaly in observation.clearedAnomalies {
            self.events.append(target: name, text: "anomaly cleared: \(anomaly.message)", at: now, importance: .significant, kind: "topology-anomaly-cleared")
            self.logger.notice(
                "Topology anomaly cleared",
                metadata: [
                    "redis.event": "topology-anomaly-cleared", "redis.node_id": "\(anomaly.nodeID)",
                    "redis.announced_endpoint": "\(anomaly.endpoint)", "redis.rule": "\(anomaly.rule)",
                ])
            self.hookEvent(.anomalyCleared, reason: "cleared: \(anomaly.message)")
        }
        let anomalies = observation.anomalies
        self.metrics?.recordAnomalies(target: name, count: anomalies.count)
        // Node problems of endpoints no longer dialed (closed, or refused by the rules) no longer count.
        let dialed = Set((self.clusterClient?.nodeEndpoints ?? []).map(\.description))
        self.updateStatus(now: now) { status in
            status.clusterProblem = nil
            return status.setClusterState(
                anomalies: anomalies, uncoveredSlots: topology.uncoveredSlots,
                nodeProblems: status.nodeProblems.filter { dialed.contains($0.key) },
                servingPrimaries: topology.primaries.filter { !$0.isFailed }.count, now: now)
        }
    }
}
