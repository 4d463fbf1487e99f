#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Who may mutate (POST): root, the daemon's own user, or a member of the socket file's group, checked with the
/// peer's credentials (SO_PEERCRED), its process's groups and the user database.
extension ControlHTTPHandler {
    /// Runs `body` when the peer may mutate; answers 403 otherwise.
    func ifPeerMayMutate(
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
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
