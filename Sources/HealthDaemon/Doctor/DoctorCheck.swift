/// One finding of `redis-healthd doctor`: what was checked, how it went, and what to do when it is not ok.
public struct DoctorCheck: Sendable, Hashable, Codable {
    /// ok < warning < failure: a report is as bad as its worst check.
    public enum Status: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
        case ok, warning, failure

        /// ✓, ! or ✗, as the table shows it.
        public var symbol: String {
            switch self {
            case .ok: "✓"
            case .warning: "!"
            case .failure: "✗"
            }
        }

        private var rank: Int {
            switch self {
            case .ok: 0
            case .warning: 1
            case .failure: 2
            }
        }

        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    /// `dns`, `tcp`, `tls`, `handshake`, `acl`, `server`, `cluster`, `host` or `latency`.
    public var section: String
    /// What was checked, e.g. `connect 127.0.0.1:6379`, `leaf expiry`.
    public var name: String
    public var status: Status
    /// What was found (text a server sent is escaped and scrubbed of secrets before it lands here).
    public var detail: String
    /// One line saying what to do; nil when the check is ok.
    public var advice: String?

    public init(section: String, name: String, status: Status, detail: String, advice: String? = nil) {
        self.section = section
        self.name = name
        self.status = status
        self.detail = detail
        self.advice = status == .ok ? nil : advice
    }

    static func ok(_ section: String, _ name: String, _ detail: String) -> DoctorCheck {
        DoctorCheck(section: section, name: name, status: .ok, detail: detail)
    }

    static func warning(_ section: String, _ name: String, _ detail: String, advice: String) -> DoctorCheck {
        DoctorCheck(section: section, name: name, status: .warning, detail: detail, advice: advice)
    }

    static func failure(_ section: String, _ name: String, _ detail: String, advice: String) -> DoctorCheck {
        DoctorCheck(section: section, name: name, status: .failure, detail: detail, advice: advice)
    }
}
