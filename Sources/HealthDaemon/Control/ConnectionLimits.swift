import Logging
import NIOCore
import Synchronization

/// Bounds on the connections of the control socket and the metrics listener, so that idle or slow clients can never
/// use up the daemon's file descriptors (which its Redis reconnects need) nor its attention.
public struct ConnectionLimits: Sendable, Hashable {
    /// Connections served at once. A new connection over the limit closes the one that has waited longest without
    /// sending a complete request; when every connection is busy with a request, the new one is accepted and
    /// closed at once.
    public var maxConnections: Int
    /// Time a client has to send a complete request, from its connection or from the first byte of its next
    /// request. [10 s]
    public var requestTimeout: Duration
    /// Time a keep-alive connection may stay idle between requests. [60 s]
    public var idleTimeout: Duration

    public init(maxConnections: Int, requestTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60)) {
        self.maxConnections = maxConnections
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }

    /// The control socket's defaults: 64 connections, 10 s per request, 60 s idle.
    public static let control = ConnectionLimits(maxConnections: 64)
    /// The metrics listener's defaults: 16 connections, 10 s per request, 60 s idle.
    public static let metrics = ConnectionLimits(maxConnections: 16)
}

/// The open connections of one listener, and which of them may be closed to make room (those not serving a
/// request). Shared by the listener's event loops.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        /// Waiting for (or receiving) a request: may be closed to make room.
        var evictable: Bool
        /// When it became evictable (a counter): the lowest is closed first.
        var order: UInt64
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var next: UInt64 = 0
        var refused = 0
        var evicted = 0
        var lastWarning: NIODeadline?
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = max(1, limit) }

    var count: Int { self.state.withLock { $0.entries.count } }

    /// Connections refused (all others busy) and closed to make room, since the start.
    var refusedAndEvicted: (refused: Int, evicted: Int) { self.state.withLock { ($0.refused, $0.evicted) } }

    /// Admits `channel`: when full, the longest-waiting evictable connection is returned to be closed; nil
    /// `admitted` when none is evictable (the new connection is refused).
    func admit(_ channel: any Channel) -> (admitted: Bool, evict: (any Channel)?) {
        self.state.withLock { state in
            var victim: (any Channel)?
            if state.entries.count >= self.limit {
                guard let oldest = state.entries.filter({ $0.value.evictable }).min(by: { $0.value.order < $1.value.order }) else {
                    state.refused += 1
                    return (false, nil)
                }
                state.entries[oldest.key] = nil
                state.evicted += 1
                victim = oldest.value.channel
            }
            state.next += 1
            state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, evictable: true, order: state.next)
            return (true, victim)
        }
    }

    /// Whether the connection may be closed to make room (false while it serves a request).
    func setEvictable(_ channel: any Channel, _ evictable: Bool) {
        self.state.withLock { state in
            let key = ObjectIdentifier(channel)
            guard var entry = state.entries[key], entry.evictable != evictable else { return }
            entry.evictable = evictable
            if evictable {
                state.next += 1
                entry.order = state.next
            }
            state.entries[key] = entry
        }
    }

    func remove(_ channel: any Channel) {
        self.state.withLock { _ = $0.entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Whether to log the limit being reached now: at most once a minute.
    func shouldWarn(now: NIODeadline = .now()) -> Bool {
        self.state.withLock { state in
            if let last = state.lastWarning, now - last < .seconds(60) { return false }
            state.lastWarning = now
            return true
        }
    }
}

/// The connection is over the limit and every other one serves a request.
struct ConnectionLimitReached: Error {}

/// First in a connection's pipeline: closes the connection when a request does not arrive complete within the
/// request timeout (counted from the connection, or from the first byte of a later request), or when a keep-alive
/// connection stays idle longer than the idle timeout. A request being answered (an export may take a minute) is
/// never cut.
final class RequestDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum Phase {
        /// Connected or reading a request: the request timeout runs.
        case receiving
        /// A complete request is being answered: no timeout.
        case answering
        /// Between requests on a keep-alive connection: the idle timeout runs.
        case idle
    }

    private let limits: ConnectionLimits
    private let registry: ConnectionRegistry
    private let logger: Logger
    private var phase = Phase.receiving
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits, registry: ConnectionRegistry, logger: Logger) {
        self.limits = limits
        self.registry = registry
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.arm(self.limits.requestTimeout, why: "no complete request") }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(self.limits.requestTimeout, why: "no complete request")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = self.phase {
            self.phase = .receiving
            self.arm(self.limits.requestTimeout, why: "no complete request")
        }
        context.fireChannelRead(data)
    }

    /// A complete request arrived: it is answered without a deadline, and the connection is not closed to make room.
    func requestReceived() {
        self.phase = .answering
        self.timer?.cancel()
        self.timer = nil
        if let channel = self.context?.channel { self.registry.setEvictable(channel, false) }
    }

    /// The answer went out on a connection that stays open: the idle timeout runs until the next request.
    func answered() {
        guard case .answering = self.phase else { return }
        self.phase = .idle
        self.arm(self.limits.idleTimeout, why: "idle")
        if let channel = self.context?.channel { self.registry.setEvictable(channel, true) }
    }

    private func arm(_ timeout: Duration, why: String) {
        self.timer?.cancel()
        guard let context = self.context else { return }
        let (seconds, attoseconds) = timeout.components
        let amount = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let logger = self.logger
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: amount) { [weak self] in
            guard let self, let context = self.context else { return }
            logger.debug("Closing a control connection", metadata: ["control.reason": "\(why)", "control.timeout": "\(timeout)"])
            context.close(promise: nil)
        }
    }
}
