import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Sends state changes to the service manager (`sd_notify(3)`'s protocol: datagrams on `$NOTIFY_SOCKET`) without
/// ever making the caller wait.
///
/// A datagram socket blocks its sender while the receiver's queue is full (a manager that does not read, a
/// test harness that stopped reading): the daemon must never hang on that. Messages are queued and sent by one
/// dedicated thread, each send bounded by a timeout; `STATUS=` lines that have not gone out yet are replaced by
/// newer ones (``NotificationQueue``). When the process was not started by systemd (no `$NOTIFY_SOCKET`), every
/// call is a cheap no-op.
public final class SystemdNotifier: Sendable {
    /// Where the datagrams go: a path, or an abstract socket name starting with `@`; nil: nowhere.
    public let socketPath: String?
    /// How long the sending thread waits on a full socket before dropping a message.
    public let sendTimeout: Duration
    private let queue = Mutex(NotificationQueue())
    private let sender = DispatchQueue(label: "redis-healthd.sd-notify")
    /// Messages dropped because the socket stayed full or could not be reached.
    private let dropped = Atomic<Int>(0)

    public init(socketPath: String? = getenvString("NOTIFY_SOCKET"), sendTimeout: Duration = .seconds(1)) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
        self.sendTimeout = sendTimeout
    }

    /// Whether `$NOTIFY_SOCKET` names a socket to talk to.
    public var isEnabled: Bool { self.socketPath != nil }

    /// Messages that could not be sent (full socket, no listener).
    public var droppedCount: Int { self.dropped.load(ordering: .relaxed) }

    /// The watchdog interval systemd expects pings within (`WatchdogSec=`), or nil when the watchdog is off: what
    /// `sd_watchdog_enabled(3)` reads, `$WATCHDOG_USEC`, honoured only when `$WATCHDOG_PID` is unset or this process.
    public var watchdogInterval: Duration? {
        Self.watchdogInterval(microseconds: getenvString("WATCHDOG_USEC"), pid: getenvString("WATCHDOG_PID"), ownPID: getpid())
    }

    /// ``watchdogInterval`` from the two variables' values (pure: tested without an environment).
    public static func watchdogInterval(microseconds: String?, pid: String?, ownPID: Int32) -> Duration? {
        guard let microseconds = microseconds.flatMap({ UInt64($0) }), microseconds > 0, microseconds <= UInt64(Int64.max) else {
            return nil
        }
        if let pid, Int32(pid) != ownPID { return nil }
        return .microseconds(Int64(microseconds))
    }

    /// Queues a notification such as `"READY=1\nSTATUS=…"` and returns at once.
    public func send(_ state: String) {
        guard self.socketPath != nil else { return }
        let startSender = self.queue.withLock { $0.enqueue(state) }
        if startSender { self.sender.async { self.drain() } }
    }

    /// Returns once every message queued before the call was sent or dropped (for an orderly exit). It waits
    /// without holding a thread.
    public func flush() async {
        guard self.socketPath != nil else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.sender.async { continuation.resume() }
        }
    }

    private func drain() {
        while let message = self.queue.withLock({ $0.next() }) {
            if !self.deliver(message) { self.dropped.add(1, ordering: .relaxed) }
        }
    }

    /// One datagram, on a socket of its own (as sd_notify does), the send bounded by ``sendTimeout``.
    private func deliver(_ message: String) -> Bool {
        guard let path = self.socketPath, let sender = UnixDatagramSender(path: path, sendTimeout: self.sendTimeout) else {
            return false
        }
        var message = message
        return message.withUTF8 { sender.send(UnsafeRawBufferPointer($0)) }
    }
}

/// The notifications waiting for the sending thread: in order, except that a `STATUS=`-only message replaces one
/// still waiting (only the newest status matters) and a `WATCHDOG=1` is not queued twice. Bounded: beyond
/// `capacity` the oldest message goes.
public struct NotificationQueue: Sendable {
    private var pending: [String] = []
    private var draining = false
    public let capacity: Int

    public init(capacity: Int = 64) {
        self.capacity = capacity
    }

    public var count: Int { self.pending.count }

    /// Adds `message`; returns whether the sender must be started (it is not draining already).
    public mutating func enqueue(_ message: String) -> Bool {
        if Self.isStatusOnly(message), let index = self.pending.firstIndex(where: Self.isStatusOnly) {
            self.pending.remove(at: index)
        } else if message == "WATCHDOG=1", self.pending.contains(message) {
            return false
        }
        if self.pending.count >= self.capacity { self.pending.removeFirst() }
        self.pending.append(message)
        defer { self.draining = true }
        return !self.draining
    }

    /// The next message to send; nil (and the sender stops) when none is left.
    public mutating func next() -> String? {
        guard !self.pending.isEmpty else {
            self.draining = false
            return nil
        }
        return self.pending.removeFirst()
    }

    static func isStatusOnly(_ message: String) -> Bool {
        message.hasPrefix("STATUS=") && !message.contains("\n")
    }
}

public func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
