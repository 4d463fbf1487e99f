#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Checks of the folder the control socket lives in: whoever can write to it can replace or remove the socket
/// (and, were the daemon to follow links there, change other files' modes). Blocking (stat, getpwuid): call it off
/// the cooperative pool.
public enum SocketDirectory {
    /// systemd's DynamicUser= range: a RuntimeDirectory= belongs to such a user while the service runs.
    static let dynamicUsers: ClosedRange<UInt32> = 61184...65519

    /// Why the folder of `socketPath` is unsafe, or nil. Safe: a folder (or, when it does not exist yet, its nearest
    /// existing parent, where it would be created) that is writable by its owner only, owned by root or by one of
    /// `owners` (the daemon's user; check-config also accepts systemd dynamic users, which own
    /// RuntimeDirectory= folders while the service runs). Sticky (/tmp-style) folders are refused too.
    public static func problem(socketPath: String, owners: Set<UInt32> = [geteuid()], acceptDynamicUsers: Bool = false) -> String? {
        let directory = FilePath.deletingLastComponent(socketPath)
        var candidate = directory.isEmpty ? "/" : directory
        var info = stat()
        while stat(candidate, &info) != 0 {
            guard errno == ENOENT, candidate != "/" else {
                return "cannot inspect the folder \(candidate): \(String(cString: strerror(errno)))"
            }
            candidate = FilePath.deletingLastComponent(candidate)
            if candidate.isEmpty { candidate = "/" }
        }
        let existing = candidate == directory ? "the folder \(directory)" : "\(candidate), where the folder \(directory) would be created,"
        guard info.st_mode & S_IFMT == S_IFDIR else { return "\(candidate) is not a folder" }
        let mode = info.st_mode & 0o7777
        if mode & 0o022 != 0 {
            let who = mode & 0o002 != 0 ? "every user" : "its group"
            return "\(existing) can be written by \(who) (mode \(mode.zeroPadded(4, radix: 8))): another user could replace or remove "
                + "the socket. Put the socket in a folder only root and the daemon's user can write, such as /run/redis-healthd "
                + "(RuntimeDirectory= in the unit)"
        }
        let owner = info.st_uid
        if owner != 0 && !owners.contains(owner) && !(acceptDynamicUsers && Self.dynamicUsers.contains(owner)) {
            return "\(existing) belongs to \(userName(owner)), neither root nor the daemon's user: that user could replace or "
                + "remove the socket. Put the socket in a folder owned by root or by the daemon's user, such as /run/redis-healthd"
        }
        return nil
    }

    private static func userName(_ uid: UInt32) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }
}
