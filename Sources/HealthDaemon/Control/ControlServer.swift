import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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

public struct ControlServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}
