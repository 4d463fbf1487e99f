import RedisClient

/// Credentials: a target's password read from its file or its systemd credential (never logged).
extension ConfigurationLoader {
    /// Reads a target's password from its file or systemd credential. Never logged.
    public func password(for target: DaemonConfiguration.Target) throws(ConfigurationError) -> RedisSecret? {
        try self.password(file: target.passwordFile, credential: target.passwordCredential, path: "targets.\(target.name)")
    }

    /// The password from `file` or the systemd credential `credential` (nil when neither is set); problems are
    /// reported under `path`.
    func password(file: String?, credential: String?, path: String) throws(ConfigurationError) -> RedisSecret? {
        let source: String
        if let file {
            source = file
        } else if let credential {
            guard let directory = self.credentialsDirectory else {
                throw ConfigurationError(
                    file: "", problems: [.init(path: "\(path).password_credential",
                        message: "$CREDENTIALS_DIRECTORY is not set: use LoadCredential=\(credential):… in the unit")])
            }
            source = "\(directory)/\(credential)"
        } else {
            return nil
        }
        let what = file != nil ? "password_file" : "password_credential"
        switch passwordFileContents(source) {
        case .success(let password):
            return RedisSecret(password)
        case .failure(.unreadable(let reason)):
            throw ConfigurationError(
                file: "", problems: [.init(path: "\(path).\(what)", message: "cannot read the password: \(reason)")])
        case .failure(.empty):
            throw ConfigurationError(
                file: "",
                problems: [.init(path: "\(path).\(what)", message: "\(source) is empty: put the password in it, or remove \(what) for a server without one")])
        }
    }
}
