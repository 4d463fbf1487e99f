import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Sends state changes to the service manager through `sd_notify(3)`.
///
/// When the process was not started by systemd (no `$NOTIFY_SOCKET`), every call is a cheap no-op.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Whether `$NOTIFY_SOCKET` names a socket to talk to.
    public var isEnabled: Bool {
        getenvString("NOTIFY_SOCKET") != nil
    }

    /// The watchdog interval systemd expects pings within (`WatchdogSec=`), or nil when the watchdog is off.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    /// Sends a raw notification string such as `"READY=1\nSTATUS=…"`.
    /// - Returns: `true` when the message was sent, `false` when there is no manager to talk to.
    @discardableResult
    public func send(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }
}

func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
