#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks of the host's TCP settings that decide how fast a silently dead connection is noticed.
public enum HostCheck {
    /// The sysctls the export records and the check reads.
    public static let tcpSysctls = [
        "net.ipv4.tcp_retries2", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_syn_retries",
    ]

    /// A sysctl's value from /proc/sys (`net.ipv4.tcp_retries2` → /proc/sys/net/ipv4/tcp_retries2); nil when
    /// unreadable (ProcSubset=pid, or not Linux).
    public static func sysctl(_ name: String, root: String = "/proc/sys") -> String? {
        let path = root + "/" + String(name.map { $0 == "." ? "/" : $0 })
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.trimmingWhitespaceAndNewlines()
    }

    /// Targets whose TCP_USER_TIMEOUT is off (unset or zero).
    public static func targetsWithoutUserTimeout(_ targets: [DaemonConfiguration.Target]) -> [String] {
        targets.filter { target in
            guard let timeout = target.multiplexer.connection.tcp.userTimeout else { return true }
            return timeout <= .zero
        }.map(\.name)
    }

    /// The check for `targets`: what `tcp_retries2` reads (read now unless given) and the warning, if any.
    public static func check(
        _ targets: [DaemonConfiguration.Target], tcpRetries2: String? = sysctl("net.ipv4.tcp_retries2")
    ) -> (tcpRetries2: String?, warning: String?) {
        let warning = self.warning(
            tcpRetries2: tcpRetries2.flatMap { Int($0) }, targetsWithoutUserTimeout: self.targetsWithoutUserTimeout(targets))
        return (tcpRetries2, warning)
    }

    /// The warning for `tcp_retries2` above 5 while some targets run without TCP_USER_TIMEOUT, saying what to set;
    /// nil when there is nothing to warn about.
    public static func warning(tcpRetries2: Int?, targetsWithoutUserTimeout: [String]) -> String? {
        guard let retries = tcpRetries2, retries > 5, !targetsWithoutUserTimeout.isEmpty else { return nil }
        return "net.ipv4.tcp_retries2 is \(retries) and TCP_USER_TIMEOUT is disabled for \(targetsWithoutUserTimeout.joined(separator: ", ")): "
            + "a connection whose peer vanished can take about \(retries >= 15 ? "15 minutes" : "several minutes") to fail. "
            + "Set tcp.user_timeout (for example 30s) on those targets, or lower the host's retries: "
            + "sysctl -w net.ipv4.tcp_retries2=5 (persist it in /etc/sysctl.d/)"
    }
}
