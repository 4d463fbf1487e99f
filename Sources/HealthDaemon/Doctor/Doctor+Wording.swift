import RedisClient

/// How the doctor words its findings: advice for a client error, TLS error text, durations in milliseconds.
extension Doctor {
    static func advice(for error: RedisClientError) -> String {
        switch error.code {
        case .authentication:
            "check the user name and the password (--user, --password-file, or the target's username and password_file / password_credential); with ACLs the user must exist and be `on`"
        case .tls:
            "check tls.ca_file, tls.server_name and that the port speaks TLS"
        case .connectionRefused, .connectTimeout, .connectFailed, .dnsFailure:
            "check the host, the port and the network path (see the dns and tcp checks)"
        case .commandTimeout:
            "the server accepted the connection but did not answer: is it overloaded, paused or loading its data?"
        case .configuration:
            "fix the target's configuration (redis-healthd check-config)"
        default:
            "check the server's log and that it is a Redis server on this port"
        }
    }

    /// BoringSSL's error text without its source locations: `certificate verify failed` for
    /// `handshakeFailed(…CERTIFICATE_VERIFY_FAILED at /…/handshake.cc:320…)`.
    static func tlsText(_ text: String) -> String {
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "certificate verify failed" }
        if let reason = boringSSLReason(text) {
            return String(reason.lowercased().map { $0 == "_" ? " " : $0 })
        }
        return text
    }

    /// The reason of the first BoringSSL error code in `text` (`error:1000007d:SSL routines:OPENSSL_internal:
    /// CERTIFICATE_VERIFY_FAILED` → `CERTIFICATE_VERIFY_FAILED`): `error:`, hex digits, two fields without `:`, then
    /// upper-case letters and `_`.
    static func boringSSLReason(_ text: String) -> Substring? {
        var rest = text[...]
        while let start = rest.firstOccurrence(of: "error:") {
            rest = rest[start.upperBound...]
            let code = rest.prefix { $0.isASCII && $0.isHexDigit && !$0.isUppercase }
            guard !code.isEmpty, rest[code.endIndex...].first == ":" else { continue }
            let fields = rest[rest.index(after: code.endIndex)...].split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let reason = fields[2].prefix { ($0.isASCII && $0.isUppercase) || $0 == "_" }
            if !reason.isEmpty { return reason }
        }
        return nil
    }

    static func milliseconds(_ duration: Duration) -> String { (seconds(duration) * 1000).fixed(2) }
}
