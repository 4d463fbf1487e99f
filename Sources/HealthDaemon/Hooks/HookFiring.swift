#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One event for a hook, and the environment the command gets from it. Nothing in it is a secret: reasons come
/// from the status, which is scrubbed of the password.
public struct HookFiring: Sendable, Hashable {
    public var target: String
    public var event: HookEvent
    /// The target's state now, and before the change (the same when the event is no state change).
    public var state: String
    public var previousState: String
    public var reason: String
    public var endpoint: String
    /// Since when the target is in `state` (seconds since 1970).
    public var since: Double

    public init(target: String, event: HookEvent, state: String, previousState: String, reason: String, endpoint: String, since: Double) {
        self.target = target
        self.event = event
        self.state = state
        self.previousState = previousState
        self.reason = reason
        self.endpoint = endpoint
        self.since = since
    }

    /// REDIS_HEALTHD_TARGET, _EVENT, _STATE, _PREVIOUS_STATE, _REASON, _ENDPOINT, _SINCE (RFC 3339), and a PATH.
    /// Nothing of the daemon's own environment is passed on (CREDENTIALS_DIRECTORY among it).
    public var environment: [String: String] {
        [
            "REDIS_HEALTHD_TARGET": self.target,
            "REDIS_HEALTHD_EVENT": self.event.rawValue,
            "REDIS_HEALTHD_STATE": self.state,
            "REDIS_HEALTHD_PREVIOUS_STATE": self.previousState,
            "REDIS_HEALTHD_REASON": self.reason,
            "REDIS_HEALTHD_ENDPOINT": self.endpoint,
            "REDIS_HEALTHD_SINCE": rfc3339Seconds(self.since),
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    }
}
