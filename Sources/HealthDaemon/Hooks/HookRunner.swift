#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LogText
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Runs the configured hooks on the daemon's events: each hook's ``HookSchedule`` decides when, ``HookProcess``
/// runs the command on a thread of its own. ``fire(_:)`` only records the event and returns: the caller (a target's
/// event handling) is never delayed by a hook. The runs happen in ``run()``'s task group (the daemon runs it).
public final class HookRunner: Sendable {
    private struct Slot {
        var configuration: HookConfiguration
        var schedule: HookSchedule
        /// Whether a wake-up for this hook is already scheduled.
        var wakeArmed = false
    }

    private let slots: Mutex<[Slot]>
    private let logger: Logger
    private let now: @Sendable () -> Double
    private let eventLoop: any EventLoop
    /// Called after every run with its outcome (tests watch it).
    private let onRun: @Sendable (HookConfiguration, HookFiring, Result<HookProcess.Outcome, HookProcess.SpawnError>) -> Void
    /// Runs due now, for ``run()`` to start.
    private let due: AsyncStream<(HookConfiguration, HookFiring)>
    private let dueContinuation: AsyncStream<(HookConfiguration, HookFiring)>.Continuation

    public init(
        hooks: [HookConfiguration], logger: Logger, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
        onRun: @escaping @Sendable (HookConfiguration, HookFiring, Result<HookProcess.Outcome, HookProcess.SpawnError>) -> Void = { _, _, _ in }
    ) {
        self.slots = Mutex(hooks.map { Slot(configuration: $0, schedule: HookSchedule(minInterval: $0.minInterval)) })
        self.logger = logger
        self.now = now
        self.eventLoop = eventLoop
        self.onRun = onRun
        (self.due, self.dueContinuation) = AsyncStream.makeStream(of: (HookConfiguration, HookFiring).self)
    }

    /// Runs the hooks that come due, until cancelled or a `ServiceGroup`'s graceful shutdown. Hooks still running
    /// then are no longer waited for (their commands end on their own, or at their timeout); nothing runs afterwards.
    public func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await (hook, firing) in self.due {
                    group.addTask { await self.execute(hook, firing) }
                }
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.dueContinuation.finish()
        }
    }

    /// Replaces the hooks (a reload). A run going on finishes; what was waiting for a changed hook is dropped.
    public func update(_ hooks: [HookConfiguration]) {
        self.slots.withLock { slots in
            var kept: [Slot] = []
            for hook in hooks {
                if let existing = slots.first(where: { $0.configuration == hook }) {
                    kept.append(existing)
                } else {
                    kept.append(Slot(configuration: hook, schedule: HookSchedule(minInterval: hook.minInterval)))
                }
            }
            slots = kept
        }
    }

    /// Records `firing` for every hook it matches and starts what may start now.
    public func fire(_ firing: HookFiring) {
        let matching: [HookConfiguration] = self.slots.withLock { slots in
            var matching: [HookConfiguration] = []
            for index in slots.indices where slots[index].configuration.matches(firing.event, target: firing.target) {
                slots[index].schedule.arrived(firing)
                matching.append(slots[index].configuration)
            }
            return matching
        }
        for hook in matching { self.pump(hook) }
    }

    /// Starts the hook's next run if it may run now, or arms one wake-up for when it may.
    private func pump(_ hook: HookConfiguration) {
        let now = self.now()
        let next: HookSchedule.Next? = self.slots.withLock { slots in
            guard let index = slots.firstIndex(where: { $0.configuration == hook }) else { return nil }
            let next = slots[index].schedule.next(now: now)
            if case .wait = next {
                if slots[index].wakeArmed { return .idle }
                slots[index].wakeArmed = true
            }
            return next
        }
        switch next {
        case .run(let firing)?:
            // Dropped once run() has ended (the daemon is stopping).
            self.dueContinuation.yield((hook, firing))
        case .wait(let until)?:
            let delay = TimeAmount.milliseconds(Int64(max(0, (until - now) * 1000).rounded(.up)) + 1)
            self.eventLoop.scheduleTask(in: delay) {
                self.slots.withLock { slots in
                    if let index = slots.firstIndex(where: { $0.configuration == hook }) { slots[index].wakeArmed = false }
                }
                self.pump(hook)
            }
        case .idle?, nil:
            break
        }
    }

    private func execute(_ hook: HookConfiguration, _ firing: HookFiring) async {
        var logger = self.logger
        logger[metadataKey: "redis.target"] = "\(firing.target)"
        logger[metadataKey: "redis.endpoint"] = "\(firing.endpoint)"
        logger[metadataKey: "redis.hook"] = "\(hook.label)"
        logger[metadataKey: "redis.hook_event"] = "\(firing.event.rawValue)"
        let result: Result<HookProcess.Outcome, HookProcess.SpawnError>
        do {
            result = .success(try await HookProcess.run(hook.run, environment: firing.environment, timeout: hook.timeout))
        } catch {
            result = .failure(error)
        }
        // The daemon is stopping: the run is no longer watched.
        if Task.isCancelled { return }
        switch result {
        case .success(let outcome):
            let output = outcome.output.trimmingWhitespaceAndNewlines()
            let metadata: Logger.Metadata = [
                "redis.event": "hook-run", "redis.hook_result": "\(outcome.summary(timeout: hook.timeout))",
                "redis.hook_output": "\(output.escapingControlCharacters)",
                "redis.hook_duration_seconds": "\(seconds(outcome.duration).fixed(3))",
            ]
            if outcome.status == 0 {
                logger.info("Hook ran", metadata: metadata)
            } else {
                logger.warning("Hook failed", metadata: metadata.merging(["error.kind": "hook"]) { $1 })
            }
        case .failure(let error):
            logger.warning(
                "Hook could not start",
                metadata: ["redis.event": "hook-run", "error.kind": "hook", "error.message": "\(error.description); check hooks[].run"])
        }
        self.onRun(hook, firing, result)
        self.slots.withLock { slots in
            if let index = slots.firstIndex(where: { $0.configuration == hook }) { slots[index].schedule.finished() }
        }
        self.pump(hook)
    }
}

extension HookRunner: Service {}
