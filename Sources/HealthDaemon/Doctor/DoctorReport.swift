#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `redis-healthd doctor` found for one target: every check, in the order they ran.
public struct DoctorReport: Sendable, Codable {
    public var target: String
    public var endpoint: String
    /// When the diagnosis started (RFC 3339 in JSON).
    public var startedAt: Date
    /// How long it took, in seconds.
    public var durationSeconds: Double
    public var checks: [DoctorCheck]

    public init(target: String, endpoint: String, startedAt: Date, durationSeconds: Double, checks: [DoctorCheck]) {
        self.target = target
        self.endpoint = endpoint
        self.startedAt = startedAt
        self.durationSeconds = durationSeconds
        self.checks = checks
    }

    enum CodingKeys: String, CodingKey {
        case target, endpoint, status, checks
        case startedAt = "started_at"
        case durationSeconds = "duration_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.target = try container.decode(String.self, forKey: .target)
        self.endpoint = try container.decode(String.self, forKey: .endpoint)
        self.startedAt = try container.decode(Date.self, forKey: .startedAt)
        self.durationSeconds = try container.decode(Double.self, forKey: .durationSeconds)
        self.checks = try container.decode([DoctorCheck].self, forKey: .checks)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.target, forKey: .target)
        try container.encode(self.endpoint, forKey: .endpoint)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.startedAt, forKey: .startedAt)
        try container.encode(self.durationSeconds, forKey: .durationSeconds)
        try container.encode(self.checks, forKey: .checks)
    }

    /// The worst status of any check.
    public var status: DoctorCheck.Status { self.checks.map(\.status).max() ?? .ok }

    /// 0 when every check is ok, 1 with warnings, 2 with failures.
    public static func exitCode(_ status: DoctorCheck.Status) -> Int32 {
        switch status {
        case .ok: 0
        case .warning: 1
        case .failure: 2
        }
    }

    /// The table a person reads at a glance: one line per check (✓ / ! / ✗), the advice under each problem.
    public var table: String {
        let sectionWidth = max(9, (self.checks.map(\.section.count).max() ?? 0) + 1)
        let nameWidth = min(34, max(10, (self.checks.map(\.name.count).max() ?? 0) + 1))
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
        }
        var lines = ["redis-healthd doctor: " + (self.target == self.endpoint ? self.target : "\(self.target) (\(self.endpoint))")]
        for check in self.checks {
            lines.append("  \(check.status.symbol) \(pad(check.section, sectionWidth))\(pad(check.name, nameWidth))\(check.detail)")
            if let advice = check.advice {
                lines.append(String(repeating: " ", count: 4 + sectionWidth + nameWidth) + "→ \(advice)")
            }
        }
        let counts = DoctorCheck.Status.allCases.map { status in (status, self.checks.filter { $0.status == status }.count) }
        let summary = counts.map { "\($0.1) \($0.0 == .ok ? "ok" : $0.0 == .warning ? "warning" : "failure")\($0.1 == 1 || $0.0 == .ok ? "" : "s")" }
        lines.append(
            "\(self.status == .ok ? "OK" : self.status == .warning ? "WARNING" : "FAILURE"): "
                + summary.joined(separator: ", ") + " in \(self.durationSeconds.fixed(1)) s")
        return lines.joined(separator: "\n")
    }
}
