#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import NIOPosix
import RedisClient

/// Credentials from a password file (or a systemd credential): read at every fetch, and the password a file
/// holds, which the configuration check reads alike.
extension CredentialSource {
    func readFile(_ path: String, key: String, now: Double) async throws(RedisClientError) -> RedisCredentials {
        // Reading a file blocks: on NIO's thread pool, never the task pool.
        let read: Result<String, CredentialError>
        do {
            read = try await NIOThreadPool.singleton.runIfActive { Self.readPassword(path, key: key) }
        } catch {
            read = .failure(CredentialError(message: "cannot read \(key) \(path): \(error)"))
        }
        switch read {
        case .success(let password):
            let fresh = RedisCredentials(username: self.username, password: RedisSecret(password), expiresAt: nil, obtainedAt: now)
            return self.adopt(fresh, keepObtainedAtIfSame: true)
        case .failure(let error):
            // A file being rewritten (or gone for a moment): the password read before still serves.
            let (current, isNew) = self.state.withLock { state -> (RedisCredentials?, Bool) in
                defer { state.lastError = error.message }
                return (state.current, state.lastError != error.message)
            }
            // Said once per problem, not at every look (every 10 s per connection).
            if isNew { self.onFailure(error.message) }
            if let current { return current }
            throw RedisClientError(.configuration, message: error.message)
        }
    }

    static func readPassword(_ path: String, key: String) -> Result<String, CredentialError> {
        passwordFileContents(path).mapError { problem in
            switch problem {
            case .unreadable(let reason): CredentialError(message: "cannot read \(key) \(path): \(reason)")
            case .empty: CredentialError(message: "\(key) \(path) is empty")
            }
        }
    }
}

/// Why a password file gave no password.
enum PasswordFileProblem: Error {
    case unreadable(String)
    case empty
}

/// The password a file holds: its text without line breaks at either end. The configuration check and the
/// credential source read password files alike; each says a problem in its own words.
func passwordFileContents(_ path: String) -> Result<String, PasswordFileProblem> {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return .failure(.unreadable(unreadableFileReason(path))) }
    let password = text.trimming("\r\n")
    return password.isEmpty ? .failure(.empty) : .success(password)
}
