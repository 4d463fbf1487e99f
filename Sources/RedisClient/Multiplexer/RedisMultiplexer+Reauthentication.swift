import NIOCore
import NIOPosix

/// Re-authentication with rotating credentials: a held connection sends AUTH with new credentials before its own
/// expire (or is closed to reconnect with them).
extension RedisMultiplexer {
    /// Re-authenticates `connection` with new credentials before its own expire (or when a provider without expiry
    /// gives others, such as a rewritten password file), until the connection ends or is cancelled. A RESP2
    /// subscriber cannot AUTH while subscribed: it is closed and reconnects with the new credentials. A connection
    /// whose credentials expired without a refresh is closed: the next connect asks the provider, which never
    /// gives an expired credential.
    func keepAuthenticated(_ connection: RedisConnection, role: MultiplexerEvent.ConnectionRole) async {
        guard let provider = self.configuration.connection.credentials, var current = connection.credentials else { return }
        let schedule = self.configuration.credentialRefresh
        let jitter = Double.random(in: 0...1)
        // Failed re-authentications in a row: the next try waits 2, 4, … 60 s (never a storm of AUTHs or warnings).
        var failures = 0
        while !Task.isCancelled && connection.isActive {
            let now = Self.wallClock()
            if let expiry = current.expiresAt, now >= expiry {
                // Never kept past its expiry; the reconnect asks the provider, which never gives an expired one.
                self.emit(
                    .reauthenticated(role: role, outcome: "expired", message: "no new credential could be had before it expired"),
                    ifCurrent: connection, role: role)
                await connection.close()
                return
            }
            var wait = schedule.wait(current, now: now, jitter: jitter)
            if failures > 0 { wait = max(wait, Duration.seconds(min(60, 1 << min(failures, 6)))) }
            if let expiry = current.expiresAt { wait = min(wait, .milliseconds(Int64(max(0, expiry - now) * 1000) + 10)) }
            try? await Task.sleep(for: wait)
            if Task.isCancelled || !connection.isActive { return }
            if let expiry = current.expiresAt, Self.wallClock() >= expiry { continue }
            // The provider answers at once while the credential in hand still works (a refresh runs beside it).
            guard let fresh = try? await provider() else {
                failures += 1
                continue
            }
            guard fresh.differs(from: current) else {
                current = fresh
                continue
            }
            if role == .subscriber && connection.protocolVersion == .resp2 {
                self.emit(
                    .reauthenticated(role: role, outcome: "reconnect", message: "a RESP2 subscriber cannot AUTH while subscribed"),
                    ifCurrent: connection, role: role)
                await connection.close()
                return
            }
            do {
                try await connection.reauthenticate(fresh)
                current = fresh
                failures = 0
                self.emit(.reauthenticated(role: role, outcome: "ok", message: nil), ifCurrent: connection, role: role)
            } catch {
                failures += 1
                self.emit(.reauthenticated(role: role, outcome: "failed", message: error.description), ifCurrent: connection, role: role)
            }
        }
    }

    /// Seconds since 1970 (credential expiry times are wall-clock times).
    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
