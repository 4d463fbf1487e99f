#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import RedisClient
import Synchronization

/// Rotating credentials of a target: the source, what it tells the log, the events, the metrics and the scrubber.
extension TargetSupervisor {
    /// The source for `target`: a credential command, or the password file (or systemd credential) read again at
    /// every connect; nil for a target without a password.
    static func credentialSource(
        _ target: DaemonConfiguration.Target, password: RedisSecret?, credentialsDirectory: String?,
        scrubbing: SharedScrubber, events: EventLog, metrics: DaemonMetrics?, logger: Logger
    ) -> CredentialSource? {
        let origin: CredentialSource.Origin
        if let argv = target.credentialCommand {
            origin = .command(argv, timeout: target.credentialTimeout)
        } else if let file = target.passwordFile {
            origin = .file(path: file, key: "password_file")
        } else if let name = target.passwordCredential, let credentialsDirectory {
            origin = .file(path: "\(credentialsDirectory)/\(name)", key: "password_credential")
        } else {
            return nil
        }
        let name = target.name
        let isCommand = target.credentialCommand != nil
        return CredentialSource(
            origin: origin, username: target.multiplexer.connection.username,
            schedule: CredentialRefreshSchedule(margin: target.credentialRefreshMargin), initial: isCommand ? nil : password,
            onNew: { credentials in
                // Every password obtained is scrubbed from what servers send back (the last few are kept).
                scrubbing.learn(credentials.password.value)
                metrics?.recordCredentialExpiry(target: name, expiresAt: credentials.expiresAt)
                let expiry = credentials.expiresAt.map { " valid until \(rfc3339($0))" } ?? ""
                events.append(target: name, text: "new credentials obtained\(expiry)", at: credentials.obtainedAt, kind: "credentials-obtained")
                logger.info(
                    "New credentials obtained",
                    metadata: ["redis.event": "credentials-obtained", "redis.expires_at": "\(credentials.expiresAt.map(rfc3339) ?? "never")"])
            },
            onFailure: { message in
                events.append(target: name, text: "credentials: \(message)", at: Date().timeIntervalSince1970, importance: .significant, kind: "credentials-failed")
                logger.warning(
                    "Cannot obtain new credentials; the current ones are kept while they last",
                    metadata: ["redis.event": "credentials-failed", "error.message": "\(message)"])
            })
    }
}

