import Logging
import RESP
import RedisClient

/// `cluster: auto`: whether a target is a cluster, asked of the server once its connection is up.
extension TargetSupervisor {
    /// What CLUSTER SHARDS (or SLOTS, before Redis 7) says about the server.
    enum ClusterCommandsAnswer: Equatable {
        /// A topology came back: a cluster.
        case answered
        /// Unknown command, or cluster support disabled: not a cluster as clients see it. A proxy endpoint (Azure
        /// Managed Redis under its Enterprise cluster policy, a Redis Enterprise proxy) answers this way while
        /// serving a clustered database behind it as one.
        case standalone(String)
        /// Refused otherwise (an ACL without +cluster): the server's words.
        case refused(String)
        /// No answer (not connected yet, a timeout).
        case unavailable
    }

    /// Asks `INFO cluster`, and CLUSTER SHARDS when INFO says cluster or is refused: a server that refuses CLUSTER
    /// commands as unknown is standalone (no retry storm, no warning), whatever INFO says. Returns whether to
    /// watch a cluster topology; false once the mode is settled as standalone or the target shuts down.
    func detectCluster() async -> Bool {
        var refusalLogged = false
        while true {
            if Task.isCancelled || self.isShuttingDown { return false }
            var infoRefusal: String?
            do {
                let info = try await self.client.send(RESPCommand("INFO", "cluster"))
                if !RedisClusterClient.isClusterEnabled(info: info.string ?? "") {
                    self.settleStandalone("Standalone server: no cluster topology to watch")
                    return false
                }
            } catch where error.code == .errorReply {
                infoRefusal = error.description
            } catch {
                // Not connected yet: ask again soon.
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            switch await self.askClusterCommands() {
            case .answered:
                return true
            case .standalone(let why):
                self.settleStandalone(
                    "Standalone: the server refuses CLUSTER commands (\(why)); a proxy endpoint serves the whole database: no cluster topology to watch")
                return false
            case .refused where infoRefusal == nil:
                // INFO says cluster, CLUSTER SHARDS is refused (an ACL): the cluster client falls back to SLOTS and
                // NODES, and says what fails.
                return true
            case .refused(let why):
                // Neither INFO nor CLUSTER may be asked: say so once, ask again now and then.
                if !refusalLogged {
                    refusalLogged = true
                    self.logger.warning(
                        "Cannot tell whether the target is a cluster: INFO cluster and CLUSTER SHARDS were refused; set cluster: on or off",
                        metadata: ["redis.event": "topology-mode", "error.message": "\(infoRefusal ?? ""); \(why)"])
                }
                try? await Task.sleep(for: .seconds(30))
            case .unavailable:
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func settleStandalone(_ message: Logger.Message) {
        self.setMode("standalone")
        self.logger.info(message, metadata: ["redis.event": "topology-mode"])
    }

    /// CLUSTER SHARDS, then CLUSTER SLOTS when SHARDS is an unknown subcommand (Redis before 7.0).
    private func askClusterCommands() async -> ClusterCommandsAnswer {
        for subcommand in ["SHARDS", "SLOTS"] {
            do {
                _ = try await self.client.send(RESPCommand("CLUSTER", subcommand))
                return .answered
            } catch where error.code == .errorReply {
                let text = error.message.lowercased()
                if text.contains("unknown subcommand") && subcommand == "SHARDS" { continue }
                if text.contains("unknown command") || text.contains("unknown subcommand")
                    || text.contains("cluster support disabled") || text.contains("not supported")
                {
                    return .standalone(Self.firstLine(error.message))
                }
                return .refused(Self.firstLine(error.message))
            } catch {
                return .unavailable
            }
        }
        return .unavailable
    }

    private static func firstLine(_ text: String) -> String {
        String(text.prefix { !$0.isNewline }.prefix(200))
    }
}
