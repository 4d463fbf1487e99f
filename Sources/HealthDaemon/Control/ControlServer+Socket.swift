#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Socket setup: the control socket's folder checked (or made) and a private staging folder in it, the socket
/// bound there and moved into place with its mode, and the server bootstrap within the connection limits.
extension ControlServer {
    /// Creates the socket's folder if needed, checks it, and makes a private staging folder inside it.
    static func prepareStaging(for path: String) throws -> String {
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
    static func install(_ temporaryPath: String, at path: String, staging: String, mode: UInt32) throws {
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
    static func bootstrap(
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
}
