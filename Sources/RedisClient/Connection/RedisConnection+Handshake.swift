import RESP

/// The Redis handshake (`HELLO 3`, or RESP2's `AUTH` and `CLIENT SETNAME`), re-authentication of a live
/// connection, and the errors an authentication failure is reported with.
extension RedisConnection {
    /// `HELLO 3 [AUTH user pass] [SETNAME name]`, or RESP2's `AUTH` + `CLIENT SETNAME` when HELLO is rejected.
    func handshake() async throws(RedisClientError) -> ProtocolVersion {
        let configuration = self.configuration
        let timeout = configuration.commandTimeout
        var authArguments: [String] = []
        if let password = configuration.password {
            authArguments = [configuration.username ?? "default", password.value]
        }

        if configuration.protocolPreference == .resp3IfAvailable {
            var arguments = ["3"]
            if !authArguments.isEmpty { arguments += ["AUTH"] + authArguments }
            if let name = configuration.clientName { arguments += ["SETNAME", name] }
            let reply = try await self.sendRaw(RESPCommand("HELLO", arguments: arguments), timeout: timeout)
            guard reply.isError else { return .resp3 }
            let message = configuration.scrubbingSecrets(reply.string ?? "")
            let upper = message.uppercased()
            if Self.isAuthenticationError(upper) {
                throw self.authenticationError(message)
            }
            guard upper.hasPrefix("NOPROTO") || upper.contains("UNKNOWN COMMAND") else {
                throw RedisClientError(
                    .handshake, endpoint: self.endpoint.description, command: "HELLO", message: message)
            }
            // Not a RESP3 server (or HELLO renamed away): carry on in RESP2.
        }

        if !authArguments.isEmpty {
            let arguments = configuration.username == nil ? [authArguments[1]] : authArguments
            let reply = try await self.sendRaw(RESPCommand("AUTH", arguments: arguments), timeout: timeout)
            if reply.isError { throw self.authenticationError(configuration.scrubbingSecrets(reply.string ?? "")) }
        }
        if let name = configuration.clientName {
            let reply = try await self.sendRaw(RESPCommand("CLIENT", "SETNAME", name), timeout: timeout)
            if reply.isError {
                let message = configuration.scrubbingSecrets(reply.string ?? "")
                if Self.isAuthenticationError(message.uppercased()) { throw self.authenticationError(message) }
                throw RedisClientError(
                    .handshake, endpoint: self.endpoint.description, command: "CLIENT SETNAME", message: message)
            }
        }
        return .resp2
    }

    private static func isAuthenticationError(_ upper: String) -> Bool {
        upper.hasPrefix("WRONGPASS") || upper.hasPrefix("NOAUTH") || upper.contains("INVALID PASSWORD")
            || upper.contains("INVALID USERNAME") || upper.hasPrefix("NOPERM")
    }

    private func authenticationError(_ serverMessage: String) -> RedisClientError {
        RedisClientError(
            .authentication, endpoint: self.endpoint.description,
            message: "authentication failed: \(serverMessage); check username and the password (file or credential)")
    }

    /// Authenticates this live connection again (`AUTH [user] password`): the way to move to new credentials
    /// without a reconnect. Throws with the server's words (scrubbed) when refused.
    public func reauthenticate(_ credentials: RedisCredentials) async throws(RedisClientError) {
        let username = credentials.username ?? self.configuration.username
        let arguments = username.map { [$0, credentials.password.value] } ?? [credentials.password.value]
        let reply = try await self.sendRaw(RESPCommand("AUTH", arguments: arguments), timeout: self.configuration.commandTimeout)
        if reply.isError {
            var configuration = self.configuration
            configuration.password = credentials.password
            throw self.authenticationError(configuration.scrubbingSecrets(reply.string ?? ""))
        }
    }
}
