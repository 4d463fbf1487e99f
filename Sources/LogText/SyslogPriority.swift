import Logging

extension Logger.Level {
    /// The syslog(3) priority of the level, as journald and a `<N>` prefix on stderr carry it: 7 debug … 2 critical.
    public var syslogPriority: Int {
        switch self {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
