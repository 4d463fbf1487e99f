#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif
import Logging
import RESP
import RedisClient
import Synchronization

/// The pub/sub canary: subscribes to a heartbeat channel, publishes, and reconnects a subscriber that passes nothing on.
extension TargetSupervisor {
    /// The origin of the canary's clock (monotonic seconds).
    private static let canaryEpoch = ContinuousClock.now

    private static func canaryClock() -> Double { seconds(Self.canaryEpoch.duration(to: .now)) }

    /// The heartbeat channel: unique per daemon (host name and process id) and target, so two daemons watching one
    /// server, or two targets of one daemon on the same server, never take each other's canaries.
    var canaryChannel: String {
        var name = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&name, name.count - 1) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown-host"
        return "redis-healthd:canary:\(host):\(getpid()):\(self.target.name)"
    }

    /// How long a canary may take to arrive: probe_timeout × probe_failures.
    var canaryDeadline: Duration {
        self.target.multiplexer.probeTimeout * self.target.multiplexer.probeFailures
    }

    /// Runs the canary (started by the folding loop at the first subscription: then there is a subscriber
    /// connection that can die silently): subscribes to the heartbeat channel, PUBLISHes a canary on the
    /// interactive connection every canary_interval and checks that it reaches the subscriber connection within
    /// ``canaryDeadline``; a miss reconnects the subscriber connection and is reported. Ends when cancelled, or when
    /// a PUBLISH is refused (an ACL: one warning). Only for canary_interval above 0s (the folding loop's caller
    /// asks for the start only then).
    func runCanary() async {
        guard !Task.isCancelled else { return }
        let interval = self.target.canaryInterval
        let channel = self.canaryChannel
        let deadline = self.canaryDeadline
        self.submit(.canary(.started(TargetStatus.CanaryStatus(channel: channel, interval: interval, deadline: deadline))))
        // A PUBLISH first, before subscribing: an ACL that refuses the heartbeat channel refuses it to SUBSCRIBE as
        // well, and a refused SUBSCRIBE would fail every subscriber connection, the maintenance channel's too.
        // Canary 0 is never awaited.
        while !Task.isCancelled {
            do {
                _ = try await self.client.send(RESPCommand("PUBLISH", channel, CanaryWatch.message(sequence: 0, wallClock: Date().timeIntervalSince1970)))
                break
            } catch {
                if Self.refusesCanary(error) {
                    self.disableCanary(error: error)
                    return
                }
                // Not connected yet, or a timeout: the interactive connection's trouble, reported there.
                try? await Task.sleep(for: interval)
            }
        }
        guard !Task.isCancelled else { return }
        let messages = await self.client.subscribe(channel)
        let now = Self.canaryClock()
        let subscriberUp = self.client.isSubscriberConnected
        self.canaryState.withLock {
            $0.watch = CanaryWatch(interval: seconds(interval), deadline: seconds(deadline), subscriberUp: subscriberUp, now: now)
        }
        self.logger.info(
            "Pub/sub canary started",
            metadata: [
                "redis.event": "canary-started", "redis.channel": "\(channel)", "redis.canary_interval": "\(interval.humanReadable)",
                "redis.canary_deadline": "\(deadline.humanReadable)",
            ])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in messages {
                    self.canaryArrived(String(buffer: message.payload), at: Self.canaryClock())
                }
            }
            group.addTask { await self.driveCanary(channel: channel) }
            // The driver ends (cancelled, or the canary disabled): cancelling the stream's task ends the
            // subscription too (its last listener gone, the channel is unsubscribed).
            await group.next()
            group.cancelAll()
        }
    }

    /// Folds the subscriber connection's events into the rule: a failure (or a force-reconnect, which replaces it)
    /// drops the canary in flight; a connection subscribed again makes the next canary due at once.
    func canarySubscriberEvent(_ event: MultiplexerEvent) {
        let now = Self.canaryClock()
        // Asked outside the lock below (it takes the client's and the multiplexer's own).
        var subscriberConnected = false
        switch event {
        case .forceReconnectCompleted(true, _), .maintenanceHandoff(_, _, .completed):
            subscriberConnected = self.client.isSubscriberConnected
        default:
            break
        }
        let changed = self.canaryState.withLock { state -> Bool in
            guard state.watch != nil else { return false }
            switch event {
            case .subscribed:
                state.watch?.subscriberUp(now: now)
                return true
            case .connectionFailed(.subscriber, _, _, _):
                state.watch?.subscriberDown()
                return true
            case .forceReconnectCompleted(true, _), .maintenanceHandoff(_, _, .completed):
                // A new multiplexer (a force-reconnect's or a MOVING handoff's), with a new subscriber connection (its events before the swap were not
                // published): start over from what it shows now.
                if subscriberConnected {
                    state.watch?.subscriberUp(now: now)
                } else {
                    state.watch?.subscriberDown()
                }
                return true
            default:
                return false
            }
        }
        if changed { self.wakeCanary() }
    }

    /// A message on the heartbeat channel at `now` (canary clock).
    func canaryArrived(_ message: String, at now: Double) {
        guard let sequence = CanaryWatch.sequence(of: message) else { return }
        guard let roundTrip = self.canaryState.withLock({ $0.watch?.arrived(sequence, at: now) }) else {
            self.logger.debug("Late or foreign canary ignored", metadata: ["redis.event": "canary-late", "redis.canary_sequence": "\(sequence)"])
            return
        }
        let wall = Date().timeIntervalSince1970
        self.metrics?.recordCanaryLatency(target: self.target.name, seconds: roundTrip)
        self.submit(.canary(.arrived(roundTrip: roundTrip, at: wall)))
        self.wakeCanary()
    }

    /// The driver: does what the rule says is due, and waits in between (for the time it names, or for a wake-up).
    private func driveCanary(channel: String) async {
        while !Task.isCancelled && !self.isShuttingDown {
            let now = Self.canaryClock()
            guard let action = self.canaryState.withLock({ $0.watch?.next(now: now) }) else { return }
            switch action {
            case .wait(let until):
                await self.waitForCanary(until: until)
            case .publish(let sequence):
                self.canaryState.withLock { $0.watch?.published(sequence, at: now) }
                let message = CanaryWatch.message(sequence: sequence, wallClock: Date().timeIntervalSince1970)
                do {
                    let reply = try await self.client.send(RESPCommand("PUBLISH", channel, message), timeout: self.canaryDeadline)
                    if case .integer(let count) = reply.withoutAttributes {
                        self.canaryState.withLock { $0.receivers = Int(count) }
                    }
                } catch {
                    if Self.refusesCanary(error) {
                        // Refused (an ACL without +publish or this channel, PUBLISH renamed away): it will be refused
                        // every time. One warning, and the canary stops for this target. Other error replies
                        // (LOADING, BUSY, MASTERDOWN during maintenance) pass.
                        self.disableCanary(error: error)
                        return
                    }
                    // The interactive connection's trouble, reported there; not a miss of the subscriber's.
                    self.canaryState.withLock { $0.watch?.publishFailed(sequence) }
                    self.logger.debug(
                        "Pub/sub canary not published", metadata: ["redis.event": "canary-not-published", "error.message": "\(error)"])
                }
            case .missed(let sequence, let sentAt):
                if self.inMaintenanceWindow {
                    // Announced maintenance slows or pauses delivery: not a silent subscriber. Not counted; the next
                    // canary goes out as usual.
                    self.canaryState.withLock { $0.watch?.publishFailed(sequence) }
                    self.logger.debug(
                        "Pub/sub canary late during a maintenance window: not counted",
                        metadata: ["redis.event": "canary-late", "redis.canary_sequence": "\(sequence)"])
                    continue
                }
                self.canaryMissed(sequence: sequence, waited: now - sentAt, channel: channel)
            }
        }
    }

    /// Whether a PUBLISH error means the canary can never work here (an ACL, PUBLISH renamed away), not a passing state.
    static func refusesCanary(_ error: RedisClientError) -> Bool {
        guard error.code == .errorReply else { return false }
        let text = error.message.uppercased()
        return text.hasPrefix("NOPERM") || text.contains("UNKNOWN COMMAND") || text.contains("NO PERMISSIONS")
    }

    /// Whether a node of the target is in a maintenance window announced by push notifications now.
    var inMaintenanceWindow: Bool {
        let now = Date().timeIntervalSince1970
        return self.status.withLock { $0.maintenanceWindows.values.contains { $0.expires > now } }
    }

    /// Reports a canary that did not arrive and reconnects the subscriber connection.
    private func canaryMissed(sequence: Int, waited: Double, channel: String) {
        let wall = Date().timeIntervalSince1970
        let deadline = self.canaryDeadline
        // No new canary until the new subscriber connection is subscribed (its `subscribed` event).
        let receivers = self.canaryState.withLock { state in
            state.watch?.subscriberDown()
            defer { state.receivers = nil }
            return state.receivers
        }
        let counted =
            switch receivers {
            case 0?: " (the server counted no subscriber: it no longer knows the subscription)"
            case let count?: " (the server counted \(count) subscriber\(count == 1 ? "" : "s"))"
            case nil: ""
            }
        let text =
            "pub/sub canary \(sequence) on \(channel) did not reach the subscriber connection within \(deadline.humanReadable) "
            + "(probe_timeout × probe_failures)\(counted): the subscriber connection is silently dead; reconnecting it"
        self.metrics?.recordCanaryMissed(target: self.target.name)
        self.submit(.canary(.missed(at: wall)))
        self.events.append(target: self.target.name, text: text, at: wall, importance: .significant, kind: "canary-missed")
        self.logger.warning(
            "Pub/sub canary missed: the subscriber connection delivers nothing; reconnecting it",
            metadata: [
                "redis.event": "canary-missed", "redis.channel": "\(channel)", "redis.canary_sequence": "\(sequence)",
                "redis.canary_waited_seconds": "\(waited.fixed(3))", "error.message": "\(text)",
            ])
        if !self.client.reconnectSubscriber(reason: "pub/sub canary missed (\(deadline.humanReadable)): subscriber connection silently dead") {
            // Already gone: its reconnect is under way, and its `subscribed` event restarts the canary.
            self.logger.debug("No subscriber connection to reconnect", metadata: ["redis.event": "canary-missed"])
        }
    }

    private func disableCanary(error: RedisClientError) {
        let reason = self.scrubber.scrub("PUBLISH refused: \(error)")
        self.canaryState.withLock { $0.watch = nil }
        self.submit(.canary(.disabled(reason)))
        self.events.append(
            target: self.target.name, text: "pub/sub canary disabled: \(reason)", at: Date().timeIntervalSince1970,
            importance: .significant, kind: "canary-disabled")
        self.logger.warning(
            "Pub/sub canary disabled: the server refuses its PUBLISH; allow PUBLISH on redis-healthd:canary:* for this user (or set canary_interval: 0s)",
            metadata: ["redis.event": "canary-disabled", "error.message": "\(reason)"])
    }

    /// Wakes the driver (or makes its next wait return at once).
    private func wakeCanary() {
        let waiter = self.canaryState.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let wake = state.wake else {
                state.woken = true
                return nil
            }
            state.wake = nil
            return wake
        }
        waiter?.resume()
    }

    /// Waits until `until` (canary clock; nil: no deadline) or a wake-up, whichever comes first.
    private func waitForCanary(until: Double?) async {
        await withTaskGroup(of: Void.self) { group in
            if let until {
                let instant = Self.canaryEpoch.advanced(by: .seconds(until))
                group.addTask { try? await Task.sleep(until: instant, clock: .continuous) }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let now = self.canaryState.withLock { state -> Bool in
                            if state.woken {
                                state.woken = false
                                return true
                            }
                            if Task.isCancelled { return true }
                            state.wake = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    let waiter = self.canaryState.withLock { state in
                        defer { state.wake = nil }
                        return state.wake
                    }
                    waiter?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The pub/sub canary's state in a supervisor: the rule (nil until the canary runs) and the driver's wake-up.
struct CanaryState: Sendable {
    var watch: CanaryWatch?
    /// The driver waiting for something to change (the subscriber connection came up, a canary arrived).
    var wake: CheckedContinuation<Void, Never>?
    /// A wake-up that came while the driver was not waiting: its next wait returns at once.
    var woken = false
    /// How many subscribers the server counted for the last canary PUBLISHed (its reply): 0 means the server no
    /// longer knows our subscription; 1 or more, that it delivered into a connection that passes nothing on.
    var receivers: Int?
}
