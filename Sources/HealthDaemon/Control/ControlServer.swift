#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the control socket serves. Implemented by the daemon.
public protocol ControlBackend: Sendable {
    func statusDocument() -> StatusDocument
    /// Events numbered above `since` (only `target`'s when given), with the newest number and when numbering
    /// started.
    func events(since: Int, target: String?) -> EventsDocument
    /// Prometheus text exposition.
    func metricsText() -> String
    /// Force-reconnects `target`; nil when there is no such target.
    func reconnect(target: String) async -> String?
    /// The topology of `target` (current, anomalies, history); nil when there is no such target.
    func topology(target: String) -> TopologyDocument?
    /// A diagnostics bundle (JSON, secrets redacted) for one target or all (`nil`).
    func export(target: String?) async -> ExportOutcome
}

/// What `GET /export` gets.
public enum ExportOutcome: Sendable, Hashable {
    case bundle(String)
    case noSuchTarget
    /// Another export is running.
    case busy
}

/// HTTP/1.1 with JSON bodies on a Unix socket: `GET /status`, `GET /status/{target}`, `GET /events?since=`,
/// `GET /topology/{target}`, `GET /export`, `GET /export/{target}`, `POST /reconnect/{target}` (only for root, the daemon's own user, or members of the socket's group, checked
/// with SO_PEERCRED). Bad requests get a 4xx JSON error; nothing a client sends disturbs the daemon.
///
/// ``start(path:mode:limits:backend:logger:eventLoopGroup:)`` binds and serves at once; ``run()`` runs the work of
/// the requests the backend answers asynchronously (export, reconnect) until it is stopped: run it.
public final class ControlServer: Sendable {
    /// Largest request body accepted.
    public static let maxBodySize = 64 * 1024

    /// The socket path, or `host:port` for the metrics listener.
    public let path: String
    private let channel: any Channel
    private let isUnix: Bool
    private let registry: ConnectionRegistry
    private let work: RequestWork
    private let unlinked = Mutex(false)

    private init(path: String, channel: any Channel, registry: ConnectionRegistry, work: RequestWork, isUnix: Bool = true) {
        self.path = path
        self.channel = channel
        self.registry = registry
        self.work = work
        self.isUnix = isUnix
    }

    /// The TCP port actually bound (metrics listener).
    public var port: Int? { self.channel.localAddress?.port }

    /// Connections open now (never more than the limit).
    public var openConnections: Int { self.registry.count }

    /// Serves `GET /metrics` only, on TCP (`metrics.listen`), for Prometheus. Nothing else is reachable there.
    public static func startMetricsListener(
        host: String, port: Int, limits: ConnectionLimits = .metrics, backend: any ControlBackend, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        let registry = ConnectionRegistry(limit: limits.maxConnections)
        let work = RequestWork()
        let channel = try await Self.bootstrap(
            eventLoopGroup, backend: backend, socketPath: nil, limits: limits, registry: registry, work: work, logger: logger
        )
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: host, port: port).get()
        return ControlServer(
            path: "\(host):\(channel.localAddress?.port ?? port)", channel: channel, registry: registry, work: work, isUnix: false)
    }

    /// Binds the socket, sets its mode, starts serving. The socket's folder must be safe (see ``SocketDirectory``):
    /// writable by its owner only, owned by root or the daemon's user. The socket is bound in a private folder
    /// (mode 0700) made inside it, given its mode there without following links, then renamed into place: it never
    /// appears at its real path with a wider mode than configured, and no link planted by someone else is ever
    /// followed.
    public static func start(
        path: String, mode: UInt32, limits: ConnectionLimits = .control, backend: any ControlBackend, logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        // File system calls block: a thread of NIO's pool, not one of the cooperative pool.
        let staging = try await NIOThreadPool.singleton.runIfActive { try prepareStaging(for: path) }
        let temporaryPath = "\(staging)/\(FilePath.lastComponent(path))"
        let registry = ConnectionRegistry(limit: limits.maxConnections)
        let work = RequestWork()
        let channel: any Channel
        do {
            channel = try await Self.bootstrap(
                eventLoopGroup, backend: backend, socketPath: path, limits: limits, registry: registry, work: work, logger: logger
            ).bind(unixDomainSocketPath: temporaryPath).get()
        } catch {
            _ = try? await NIOThreadPool.singleton.runIfActive { rmdir(staging) }
            throw error
        }
        do {
            try await NIOThreadPool.singleton.runIfActive { try install(temporaryPath, at: path, staging: staging, mode: mode) }
        } catch {
            try? await channel.close()
            _ = try? await NIOThreadPool.singleton.runIfActive {
                unlink(temporaryPath)
                rmdir(staging)
            }
            throw error
        }
        return ControlServer(path: path, channel: channel, registry: registry, work: work)
    }

    /// Creates the socket's folder if needed, checks it, and makes a private staging folder inside it.
    private static func prepareStaging(for path: String) throws -> String {
        let directory = FilePath.deletingLastComponent(path)
        if let problem = SocketDirectory.problem(socketPath: path) {
            throw ControlServerError(message: "refusing the control socket \(path): \(problem)")
        }
        if !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            // Made now (or raced by someone else): check what is there.
            if let problem = SocketDirectory.problem(socketPath: path) {
                throw ControlServerError(message: "refusing the control socket \(path): \(problem)")
            }
        }
        var template = Array("\(directory)/.\(FilePath.lastComponent(path)).XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw ControlServerError(
                message: "cannot set up the control socket \(path): cannot create a folder in \(directory): \(String(cString: strerror(errno)))")
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Gives the bound socket its mode (never through a link) and renames it into place.
    private static func install(_ temporaryPath: String, at path: String, staging: String, mode: UInt32) throws {
        func failure(_ what: String) -> ControlServerError {
            ControlServerError(
                message: "cannot set up the control socket \(path) (mode \(String(mode, radix: 8))): \(what): \(String(cString: strerror(errno)))")
        }
        if fchmodat(AT_FDCWD, temporaryPath, mode_t(mode), AT_SYMLINK_NOFOLLOW) != 0 {
            // Without /proc, glibc cannot change a mode without following links. The staging folder is ours (0700):
            // nobody else can have put a link there; make sure all the same.
            var info = stat()
            guard errno == EOPNOTSUPP || errno == ENOTSUP, lstat(temporaryPath, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK,
                chmod(temporaryPath, mode_t(mode)) == 0
            else { throw failure("chmod") }
        }
        guard rename(temporaryPath, path) == 0 else { throw failure("rename") }
        rmdir(staging)
    }

    /// HTTP/1.1 with the control handler, within the connection limits; `socketPath` nil serves GET /metrics only.
    private static func bootstrap(
        _ group: any EventLoopGroup, backend: any ControlBackend, socketPath: String?, limits: ConnectionLimits,
        registry: ConnectionRegistry, work: RequestWork, logger: Logger
    ) -> ServerBootstrap {
        let listener = socketPath ?? "metrics"
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { channel in
                let (admitted, victim) = registry.admit(channel)
                if victim != nil || !admitted, registry.shouldWarn() {
                    let (refused, evicted) = registry.refusedAndEvicted
                    logger.warning(
                        "Connection limit reached: closing waiting connections to make room, refusing new ones while all are busy",
                        metadata: [
                            "control.listener": "\(listener)", "control.max_connections": "\(registry.limit)",
                            "control.refused": "\(refused)", "control.closed_waiting": "\(evicted)",
                        ])
                }
                victim?.close(promise: nil)
                guard admitted else {
                    // ServerBootstrap closes a connection whose initializer fails: accepted and closed at once.
                    return channel.eventLoop.makeFailedFuture(ConnectionLimitReached())
                }
                channel.closeFuture.whenComplete { _ in registry.remove(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    let deadline = RequestDeadlineHandler(limits: limits, registry: registry, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(deadline)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        ControlHTTPHandler(backend: backend, socketPath: socketPath, deadline: deadline, work: work, logger: logger))
                }
            }
    }

    /// Runs the requests' asynchronous work (export, reconnect) until ``stop()``, the task's cancellation, or a
    /// `ServiceGroup`'s graceful shutdown; then stops serving (the same as ``stop()``). Work still running then is
    /// cancelled; requests needing work afterwards are answered 503.
    public func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await item in self.work.items {
                    group.addTask { await item() }
                }
                group.cancelAll()
            }
        } onCancelOrGracefulShutdown: {
            self.work.finish()
        }
        await self.stop()
    }

    /// Stops serving: the listening socket is closed (and the control socket's file removed); ``run()`` ends.
    public func stop() async {
        self.work.finish()
        // A second call finds the channel closed already.
        try? await self.channel.close()
        if self.isUnix, self.unlinked.withLock({ done in defer { done = true }; return !done }) { unlink(self.path) }
    }
}

extension ControlServer: Service {}

/// The work of requests the backend answers asynchronously: queued by the handlers (on their event loops), run by
/// ``ControlServer/run()``.
final class RequestWork: Sendable {
    typealias Item = @Sendable () async -> Void
    let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation

    init() {
        (self.items, self.continuation) = AsyncStream.makeStream(of: Item.self)
    }

    /// Queues `item`; false when the server is stopping (nothing runs it any more).
    func submit(_ item: @escaping Item) -> Bool {
        if case .terminated = self.continuation.yield(item) { return false }
        return true
    }

    func finish() { self.continuation.finish() }
}

public struct ControlServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

private final class ControlHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let backend: any ControlBackend
    /// nil: the TCP metrics listener, which serves GET /metrics only.
    private let socketPath: String?
    private let logger: Logger
    /// Told when a request is complete and when its answer went out (timeouts, room-making).
    private let deadline: RequestDeadlineHandler
    /// Where asynchronous answers (export, reconnect) are worked out.
    private let work: RequestWork
    private var head: HTTPRequestHead?
    /// Whether the connection stays open after the response (HTTP/1.1 keep-alive, no `Connection: close`).
    private var keepAlive = true
    private var bodySize = 0
    private var rejected = false

    init(backend: any ControlBackend, socketPath: String?, deadline: RequestDeadlineHandler, work: RequestWork, logger: Logger) {
        self.backend = backend
        self.socketPath = socketPath
        self.deadline = deadline
        self.work = work
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.keepAlive = head.isKeepAlive
            self.bodySize = 0
            self.rejected = false
        case .body(let body):
            self.bodySize += body.readableBytes
            if self.bodySize > ControlServer.maxBodySize && !self.rejected {
                self.rejected = true
                self.respond(context: context, status: .payloadTooLarge, json: error("request body larger than \(ControlServer.maxBodySize) bytes"), close: true)
            }
        case .end:
            guard let head = self.head, !self.rejected else { return }
            self.head = nil
            self.deadline.requestReceived()
            self.route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        let query = parts.count > 1 ? String(parts[1]) : ""
        let segments = path.split(separator: "/").map(String.init)
        if self.socketPath == nil && !(head.method == .GET && segments == ["metrics"]) {
            self.respond(context: context, status: .notFound, json: error("only GET /metrics is served here"))
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]

        switch (head.method, segments.first, segments.count) {
        case (.GET, "status", 1):
            self.respond(context: context, status: .ok, json: encode(encoder, self.backend.statusDocument()))
        case (.GET, "status", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            let document = self.backend.statusDocument()
            if let target = document.targets.first(where: { $0.name == name }) {
                self.respond(context: context, status: .ok, json: encode(encoder, target))
            } else {
                self.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        case (.GET, "metrics", 1):
            self.respond(
                context: context, status: .ok, body: self.backend.metricsText(),
                contentType: "text/plain; version=0.0.4; charset=utf-8")
        case (.GET, "events", 1):
            var since = 0
            var target: String?
            for pair in query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.first == "since" {
                    guard kv.count == 2, let value = Int(kv[1]), value >= 0 else {
                        self.respond(context: context, status: .badRequest, json: error("since must be a non-negative event number"))
                        return
                    }
                    since = value
                } else if kv.first == "target", kv.count == 2 {
                    target = kv[1].percentDecoded ?? String(kv[1])
                }
            }
            self.respond(context: context, status: .ok, json: encode(encoder, self.backend.events(since: since, target: target)))
        case (.GET, "topology", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            if let document = self.backend.topology(target: name) {
                self.respond(context: context, status: .ok, json: encode(encoder, document))
            } else {
                self.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        case (.GET, "export", 1), (.GET, "export", 2):
            // The bundle holds the servers' configuration: the same peers as for reconnect.
            let name = segments.count == 2 ? (segments[1].percentDecoded ?? segments[1]) : nil
            self.ifPeerMayMutate(context: context, action: "export") { handler, context in handler.export(name, context: context) }
        case (.POST, "reconnect", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            self.ifPeerMayMutate(context: context, action: "reconnect") { handler, context in handler.reconnect(name, context: context) }
        case (_, "status", 1), (_, "status", 2), (_, "events", 1), (_, "reconnect", 2), (_, "metrics", 1), (_, "topology", 2),
            (_, "export", 1), (_, "export", 2):
            self.respond(context: context, status: .methodNotAllowed, json: error("\(head.method) is not allowed on \(path)"))
        default:
            self.respond(
                context: context, status: .notFound,
                json: error(
                    "unknown path \(path); try GET /status, GET /status/{target}, GET /topology/{target}, GET /events?since=N, GET /metrics, GET /export, GET /export/{target}, POST /reconnect/{target}"
                ))
        }
    }

    private func export(_ name: String?, context: ChannelHandlerContext) {
        let backend = self.backend
        self.logger.notice("Diagnostics export requested on the control socket", metadata: ["redis.target": "\(name ?? "all")"])
        self.answerLater(context: context, { await backend.export(target: name) }) { handler, context, outcome in
            switch outcome {
            case .bundle(let bundle):
                handler.respond(context: context, status: .ok, json: bundle)
            case .noSuchTarget:
                handler.respond(context: context, status: .notFound, json: error("no target named \(name ?? "")"))
            case .busy:
                handler.respond(
                    context: context, status: .conflict, json: error("an export is already running; try again when it has finished"))
            }
        }
    }

    private func reconnect(_ name: String, context: ChannelHandlerContext) {
        let backend = self.backend
        self.logger.notice("Reconnect requested on the control socket", metadata: ["redis.target": "\(name)"])
        self.answerLater(context: context, { await backend.reconnect(target: name) }) { handler, context, outcome in
            if let outcome {
                handler.respond(context: context, status: .ok, json: "{\"target\":\(jsonString(name)),\"outcome\":\(jsonString(outcome))}")
            } else {
                handler.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        }
    }

    /// Runs `work` off the event loop (in the server's ``ControlServer/run()``), then `answer` with its result back
    /// on the connection's loop. A server that is stopping answers 503 at once.
    private func answerLater<Result: Sendable>(
        context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> Result,
        _ answer: @escaping (ControlHTTPHandler, ChannelHandlerContext, Result) -> Void
    ) {
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound((self, context, answer), eventLoop: eventLoop)
        let queued = self.work.submit {
            let result = await work()
            eventLoop.execute {
                let (handler, context, answer) = loopBound.value
                answer(handler, context, result)
            }
        }
        if !queued {
            self.respond(context: context, status: .serviceUnavailable, json: error("the daemon is stopping"), close: true)
        }
    }

    /// Runs `body` when the peer may mutate; answers 403 otherwise.
    private func ifPeerMayMutate(
        context: ChannelHandlerContext, action: String, _ body: @escaping (ControlHTTPHandler, ChannelHandlerContext) -> Void
    ) {
        let loopBound = NIOLoopBound((self, context, body), eventLoop: context.eventLoop)
        self.peerMayMutate(context: context).whenComplete { result in
            let (handler, context, body) = loopBound.value
            guard case .success(true) = result else {
                handler.respond(
                    context: context, status: .forbidden,
                    json: error("\(action) is allowed only to root, the daemon's user or the control socket's group"))
                return
            }
            body(handler, context)
        }
    }

    /// Root, our own user, or a member of the socket file's group: the peer's primary group, its process's
    /// supplementary groups (/proc/PID/status, when visible), or its user's groups in the group database.
    private func peerMayMutate(context: ChannelHandlerContext) -> EventLoopFuture<Bool> {
        guard let provider = context.channel as? any SocketOptionProvider else {
            return context.eventLoop.makeSucceededFuture(false)
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        guard let socketPath = self.socketPath else { return context.eventLoop.makeSucceededFuture(false) }
        let eventLoop = context.eventLoop
        return future.flatMap { credentials in
            if credentials.uid == 0 || credentials.uid == getuid() { return eventLoop.makeSucceededFuture(true) }
            // File and user-database lookups (which may ask LDAP or sssd) stay off the event loop that carries
            // the Redis connections.
            return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                var info = stat()
                guard stat(socketPath, &info) == 0 else { return false }
                return credentials.gid == info.st_gid || processGroups(pid: credentials.pid)?.contains(info.st_gid) == true
                    || userIsMember(uid: credentials.uid, primaryGroup: credentials.gid, of: info.st_gid)
            }
        }
    }

    func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, json: String, close: Bool = false) {
        self.respond(context: context, status: status, body: json + "\n", contentType: "application/json", close: close)
    }

    func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, contentType: String, close: Bool = false
    ) {
        let close = close || !self.keepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if close { headers.add(name: "Connection", value: "close") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        if close {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            self.deadline.answered()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The supplementary groups of a process (`Groups:` in /proc/PID/status); nil when that is not readable.
private func processGroups(pid: Int32) -> [gid_t]? {
    guard pid > 0, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") })
    else { return nil }
    return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { gid_t($0) }
}

/// Whether the user `uid` belongs to `group` as a supplementary member (getgrouplist over the user database).
private func userIsMember(uid: UInt32, primaryGroup: UInt32, of group: gid_t) -> Bool {
    var size = 4096
    while size <= 1 << 20 {
        var buffer = [CChar](repeating: 0, count: size)
        // pw_name points into `buffer`: everything that reads it stays inside this closure.
        let outcome: Bool? = buffer.withUnsafeMutableBufferPointer { storage -> Bool? in
            guard let base = storage.baseAddress else { return false }
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let status = getpwuid_r(uid, &entry, base, storage.count, &result)
            if status == ERANGE { return nil }
            guard status == 0, result != nil, let name = entry.pw_name else { return false }
            var count: Int32 = 64
            var groups = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(name, primaryGroup, &groups, &count) < 0 {
                groups = [gid_t](repeating: 0, count: Int(count))
                guard getgrouplist(name, primaryGroup, &groups, &count) >= 0 else { return false }
            }
            return groups.prefix(Int(count)).contains(group)
        }
        if let outcome { return outcome }
        size *= 2
    }
    return false
}

/// `struct ucred` of <sys/socket.h> (SO_PEERCRED), which Swift's Glibc module does not export.
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

private func encode(_ encoder: JSONEncoder, _ value: some Encodable) -> String {
    (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

private func error(_ message: String) -> String {
    "{\"error\":\(jsonString(message))}"
}

private func jsonString(_ text: String) -> String {
    (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}
