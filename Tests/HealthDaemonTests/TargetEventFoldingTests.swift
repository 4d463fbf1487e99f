import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import HealthDaemon
@testable import RedisClient

/// The state-change notices a supervisor gave, in the order it gave them.
private final class Notices: Sendable {
    private let received = Mutex<[TargetStatus]>([])
    func append(_ status: TargetStatus) { self.received.withLock { $0.append(status) } }
    var all: [TargetStatus] { self.received.withLock { $0 } }
}

/// The order events reached the supervisor's stream: each source records and submits under one lock, so the order
/// recorded is the order submitted (the sources still run concurrently, on tasks and event-loop threads).
private final class Submissions: Sendable {
    private let order = Mutex<[TargetEvent]>([])
    func submit(_ event: TargetEvent, to supervisor: TargetSupervisor) {
        self.order.withLock {
            $0.append(event)
            supervisor.submit(event)
        }
    }
    var all: [TargetEvent] { self.order.withLock { $0 } }
}

@Suite("One writer: every source of a target's status folded by one loop, in order")
struct TargetEventFoldingTests {
    static let now = 1_800_000_000.0
    static let endpoint = RedisEndpoint(host: "127.0.0.1", port: 6379)

    fileprivate func supervisor(_ notices: Notices) throws -> TargetSupervisor {
        let configuration = try ConfigurationLoader(credentialsDirectory: nil).parse(
            """
            targets:
              - name: cache-a
                host: 127.0.0.1
                port: 6379
                cluster: on
                allowed_ports: ["1-10225", "10227-65535"]
            """)
        return try TargetSupervisor(
            target: configuration.targets[0], password: nil, events: EventLog(), metrics: DaemonMetrics(version: "test"),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), onStateChange: { notices.append($0) })
    }

    /// The target's own connection: connect, answer probes, fail, now and then unresponsive.
    static func connectionEvents(rounds: Int) -> [MultiplexerEvent] {
        (0..<rounds).flatMap { round -> [MultiplexerEvent] in
            var events: [MultiplexerEvent] = [
                .connecting(role: .interactive, endpoint: endpoint, attempt: round % 3),
                .connected(role: .interactive, endpoint: endpoint, protocolVersion: 3, restored: round > 0),
                .probe(latency: .microseconds(100 + round)),
            ]
            if round % 5 == 0 { events += [.unresponsive(consecutiveFailures: 2, lastError: "timeout"), .responsive] }
            events.append(.connectionFailed(role: .interactive, endpoint: endpoint, kind: round % 2 == 0 ? .connectionRefused : .connectionClosed, message: "gone \(round)"))
            return events
        }
    }

    /// The cluster client: topologies with and without an anomaly (a node on port 10226), with and without uncovered
    /// slots, and refreshes failing (cluster support disabled).
    static func clusterEvents(rounds: Int) -> [ClusterEvent] {
        func node(_ id: String, _ port: Int, _ slots: [ClosedRange<Int>]) -> ClusterNode {
            ClusterNode(id: id, host: "10.0.0.5", ip: "10.0.0.5", port: port, role: .primary, health: "online", slots: slots)
        }
        let healthy = ClusterTopology(nodes: [node("a1", 6379, [0...8191]), node("b2", 6380, [8192...16383])])
        let anomalous = ClusterTopology(nodes: [node("a1", 10226, [0...8191]), node("b2", 6380, [8192...16383])])
        let uncovered = ClusterTopology(nodes: [node("a1", 6379, [0...8191])])
        return (0..<rounds).flatMap { round -> [ClusterEvent] in
            let topology = [healthy, anomalous, uncovered][round % 3]
            var events: [ClusterEvent] = [.topologyRefreshed(topology, source: endpoint, command: "CLUSTER SHARDS", trigger: "periodic \(round)")]
            if round % 4 == 1 { events.append(.refreshFailed(trigger: "periodic", message: "ERR This instance has cluster support disabled")) }
            events.append(.nodeClosed(RedisEndpoint(host: "10.0.0.7", port: 6379), reason: "left"))
            return events
        }
    }

    /// Everything else that writes the status: the canary, the maintenance channel, the replica names' check.
    static func otherEvents(rounds: Int) -> [TargetEvent] {
        let canary = TargetStatus.CanaryStatus(channel: "c", interval: .seconds(1), deadline: .seconds(2))
        var events: [TargetEvent] = [.canary(.started(canary))]
        for round in 0..<rounds {
            let at = now + Double(round)
            let change: CanaryChange = round % 3 == 0 ? .missed(at: at) : .arrived(roundTrip: Double(round) / 1000, at: at)
            let problems: [String: String] = round % 2 == 0 ? ["10.0.0.9:6379": "host name r9 does not resolve"] : [:]
            events.append(.canary(change))
            events.append(.replicaProblems(problems))
            events.append(.maintenanceMessage("NotificationType|NodeMaintenanceStarting|IPAddress|10.0.0.\(round % 200)"))
            events.append(.topologyMode(round % 2 == 0 ? "cluster" : "detecting"))
        }
        return events
    }

    @Test("events from the connection (event-loop threads), the cluster and the rest (tasks) at once: the status and the notices are those of folding them one by one in the order they came")
    func concurrentSourcesFoldInOrder() async throws {
        let notices = Notices()
        let supervisor = try self.supervisor(notices)
        let submissions = Submissions()
        let connection = Self.connectionEvents(rounds: 400)
        let cluster = Self.clusterEvents(rounds: 150)
        let others = Self.otherEvents(rounds: 300)
        let loops = MultiThreadedEventLoopGroup.singleton
        await withTaskGroup(of: Void.self) { group in
            // The one writer, with a fixed clock so that the reference below folds at the same instants.
            group.addTask { await supervisor.foldEvents(clock: { Self.now }) }
            await withTaskGroup(of: Void.self) { sources in
                // The target's own connection: emitted on an event loop, in order (one loop runs its tasks in order).
                sources.addTask {
                    let loop = loops.next()
                    let done = connection.map { event in loop.submit { submissions.submit(.multiplexer(event), to: supervisor) } }
                    for future in done { try? await future.get() }
                }
                // A second connection source on another loop thread (a cluster node's events come this way).
                sources.addTask {
                    let loop = loops.next()
                    let done = cluster.prefix(150).map { event in loop.submit { submissions.submit(.cluster(event), to: supervisor) } }
                    for future in done { try? await future.get() }
                }
                sources.addTask {
                    for event in cluster.dropFirst(150) {
                        submissions.submit(.cluster(event), to: supervisor)
                        if Int.random(in: 0..<8) == 0 { await Task.yield() }
                    }
                }
                sources.addTask {
                    for event in others {
                        submissions.submit(event, to: supervisor)
                        if Int.random(in: 0..<8) == 0 { await Task.yield() }
                    }
                }
                // Readers meanwhile: the control socket's snapshot, the liveness tick.
                sources.addTask {
                    for _ in 0..<2_000 {
                        _ = supervisor.snapshot
                        supervisor.checkResponsive()
                        if Int.random(in: 0..<16) == 0 { await Task.yield() }
                    }
                }
            }
            // Every source is done: the loop folds what is left and ends.
            supervisor.finishEvents()
            await group.waitForAll()
        }
        let order = submissions.all
        #expect(order.count == connection.count + cluster.count + others.count)
        // Each source's events came in the order it emitted them.
        let connectionOrder = order.compactMap { if case .multiplexer(let event) = $0 { event } else { nil } }
        #expect(connectionOrder == connection)

        // The reference: the same events folded one by one, in the order they were submitted, by a supervisor
        // that never runs.
        let referenceNotices = Notices()
        let reference = try self.supervisor(referenceNotices)
        for event in order { reference.fold(event, now: Self.now) }

        let folded = supervisor.status.withLock { $0 }
        let expected = reference.status.withLock { $0 }
        #expect(folded == expected)
        #expect(folded.connectionFailures == 400 && folded.probeLast == .microseconds(100 + 399))
        // The daemon's view: every state change, in order, the last one the status now.
        let received = notices.all
        #expect(received == referenceNotices.all)
        #expect(received.count > 100, "\(received.count) state changes")
        #expect(received.last.map { ($0.state, $0.shortReason) == (folded.state, folded.shortReason) } == true)
        for (before, after) in zip(received, received.dropFirst()) {
            #expect((before.state, before.shortReason) != (after.state, after.shortReason), "each notice is a change from the one before")
        }
    }

    @Test("events emitted on an event loop are folded in the order emitted: the probe before the failure leaves the target reconnecting, not healthy")
    func connectionOrderKept() async throws {
        let notices = Notices()
        let supervisor = try self.supervisor(notices)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let events: [MultiplexerEvent] = [
            .connecting(role: .interactive, endpoint: Self.endpoint, attempt: 0),
            .connected(role: .interactive, endpoint: Self.endpoint, protocolVersion: 3, restored: false),
            .probe(latency: .milliseconds(1)),
            .connectionFailed(role: .interactive, endpoint: Self.endpoint, kind: .connectionClosed, message: "reset"),
        ]
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.foldEvents(clock: { Self.now }) }
            for event in events { try? await loop.submit { supervisor.submit(.multiplexer(event)) }.get() }
            supervisor.finishEvents()
            await group.waitForAll()
        }
        #expect(notices.all.map(\.state) == [.connecting, .healthy, .reconnecting])
        #expect(supervisor.snapshot.state == .reconnecting)
    }

    @Test("the daemon hears each target's state changes in order (its STATUS= line is the last one's); a supervisor a reload replaced is not heard any more")
    func daemonHearsChangesInOrder() async throws {
        let loader = ConfigurationLoader(credentialsDirectory: nil)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let daemon = try Daemon(
            configuration: try loader.parse("targets:\n  - {name: cache-a, host: 127.0.0.1, port: 6379}\n"), loader: loader, logger: logger)
        let supervisor = try #require(daemon.supervisors.first)
        let connection = Self.connectionEvents(rounds: 200)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.foldEvents(clock: { Self.now }) }
            await withTaskGroup(of: Void.self) { sources in
                sources.addTask {
                    let loop = MultiThreadedEventLoopGroup.singleton.next()
                    let done = connection.map { event in loop.submit { supervisor.submit(.multiplexer(event)) } }
                    for future in done { try? await future.get() }
                }
                sources.addTask {
                    for round in 0..<200 {
                        supervisor.submit(.replicaProblems(round % 2 == 0 ? ["10.0.0.9:6379": "does not resolve"] : [:]))
                        if round % 8 == 0 { await Task.yield() }
                    }
                }
            }
            supervisor.finishEvents()
            await group.waitForAll()
        }
        let status = supervisor.status.withLock { $0 }
        let heard = try #require(daemon.state.withLock { $0.latest["cache-a"] })
        #expect((heard.state, heard.shortReason) == (status.state, status.shortReason))
        #expect(daemon.currentStatusLine == statusLine([status]), "\(daemon.currentStatusLine)")

        // A reload rebuilds the target: the old supervisor (still closing) is no longer heard, the new one is.
        let outcome = try daemon.reload(try loader.parse("targets:\n  - {name: cache-a, host: 127.0.0.1, port: 6380}\n"))
        #expect(outcome.restarted == ["cache-a"])
        let rebuilt = try #require(daemon.supervisors.first)
        #expect(rebuilt !== supervisor)
        supervisor.fold(.multiplexer(.connecting(role: .interactive, endpoint: Self.endpoint, attempt: 0)), now: Self.now)
        supervisor.fold(.multiplexer(.connected(role: .interactive, endpoint: Self.endpoint, protocolVersion: 3, restored: true)), now: Self.now)
        supervisor.fold(.multiplexer(.probe(latency: .milliseconds(1))), now: Self.now)
        #expect(supervisor.status.withLock { $0.state } == .healthy)
        #expect(daemon.state.withLock { $0.latest["cache-a"] } == nil)
        rebuilt.fold(.multiplexer(.connecting(role: .interactive, endpoint: Self.endpoint, attempt: 0)), now: Self.now)
        #expect(daemon.state.withLock { $0.latest["cache-a"]?.state } == .connecting)
        #expect(daemon.currentStatusLine.hasPrefix("0/1 targets healthy; cache-a connecting"), "\(daemon.currentStatusLine)")
    }
    @Test("a probe answered on an up target with nothing of it waiting is recorded in place (figures and histogram, no notice); before the target is up, or while an event of it waits, it goes through the loop")
    func probeInPlace() throws {
        let notices = Notices()
        let supervisor = try self.supervisor(notices)
        let histogramCount = { () -> String? in
            supervisor.metrics?.exposition().split(separator: "\n")
                .first { $0.hasPrefix(#"redis_healthd_probe_duration_seconds_count{target="cache-a"}"#) }.map(String.init)
        }
        // Starting: the answer makes the target healthy, which only the loop may do.
        #expect(!supervisor.recordProbeInPlace(.milliseconds(1)))
        supervisor.fold(.multiplexer(.connecting(role: .interactive, endpoint: Self.endpoint, attempt: 0)), now: Self.now)
        supervisor.fold(.multiplexer(.connected(role: .interactive, endpoint: Self.endpoint, protocolVersion: 3, restored: false)), now: Self.now)
        // Connected, its first probe awaited: still the loop's.
        #expect(!supervisor.recordProbeInPlace(.milliseconds(1)))
        supervisor.fold(.multiplexer(.probe(latency: .milliseconds(1))), now: Self.now)
        #expect(supervisor.status.withLock { $0.state } == .healthy)
        let noticed = notices.all.count

        #expect(supervisor.recordProbeInPlace(.milliseconds(2)))
        #expect(supervisor.status.withLock { $0.probeLast } == .milliseconds(2))
        #expect(supervisor.status.withLock { $0.probeWindow.count } == 2)
        #expect(supervisor.status.withLock { $0.state } == .healthy)
        #expect(notices.all.count == noticed)
        #expect(histogramCount() == #"redis_healthd_probe_duration_seconds_count{target="cache-a"} 2"#)

        // An event of the target waits to be folded: the answer must not overtake it.
        supervisor.submit(.multiplexer(.connectionFailed(role: .interactive, endpoint: Self.endpoint, kind: .connectionClosed, message: "gone")))
        #expect(!supervisor.recordProbeInPlace(.milliseconds(3)))
        #expect(supervisor.status.withLock { $0.probeLast } == .milliseconds(2))
        // After the end of its events, nothing is recorded any more.
        supervisor.finishEvents()
        #expect(!supervisor.recordProbeInPlace(.milliseconds(4)))
    }
}
