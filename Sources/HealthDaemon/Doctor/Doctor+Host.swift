import RedisClient

/// The doctor's host checks: what of the host the daemon runs on bears on its connections.
extension Doctor {
    func hostChecks() -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let tcp = self.target.multiplexer.connection.tcp
        let retries = HostCheck.sysctl("net.ipv4.tcp_retries2")
        let withoutUserTimeout = HostCheck.targetsWithoutUserTimeout([self.target])
        if HostCheck.warning(tcpRetries2: retries.flatMap { Int($0) }, targetsWithoutUserTimeout: withoutUserTimeout) != nil {
            checks.append(
                .warning(
                    "host", "tcp_retries2",
                    "net.ipv4.tcp_retries2 is \(retries ?? "?") and TCP_USER_TIMEOUT is off for this target: a connection whose peer vanished takes minutes to fail",
                    advice: "set tcp.user_timeout (for example 30s) on the target, or sysctl -w net.ipv4.tcp_retries2=5 (persist it in /etc/sysctl.d/)"))
        } else {
            let userTimeout = tcp.userTimeout.map { $0 > .zero ? $0.humanReadable : "off" } ?? "off"
            checks.append(
                .ok("host", "tcp_retries2", "net.ipv4.tcp_retries2=\(retries ?? "unreadable"), the target's TCP_USER_TIMEOUT \(userTimeout)"))
        }
        let keepaliveTime = HostCheck.sysctl("net.ipv4.tcp_keepalive_time") ?? "unreadable"
        if let idle = tcp.keepaliveIdle {
            if idle >= .seconds(600) {
                checks.append(
                    .warning(
                        "host", "keepalive", "tcp.keepalive_idle \(idle.humanReadable) is not below 600s",
                        advice: "set tcp.keepalive_idle below 600s (e.g. 15s): load balancers and managed Redis drop idle flows after 10 minutes or less"))
            } else {
                checks.append(
                    .ok(
                        "host", "keepalive",
                        "the target sets its own: idle \(idle.humanReadable), interval \(tcp.keepaliveProbeInterval.humanReadable), \(tcp.keepaliveCount) probes (net.ipv4.tcp_keepalive_time=\(keepaliveTime) is not used)"))
            }
        } else {
            checks.append(
                .warning(
                    "host", "keepalive", "TCP keepalive is off for this target (net.ipv4.tcp_keepalive_time=\(keepaliveTime) applies only to sockets that enable it)",
                    advice: "set tcp.keepalive_idle (for example 15s) so that the kernel too notices a silently dropped connection"))
        }
        return checks
    }
}
