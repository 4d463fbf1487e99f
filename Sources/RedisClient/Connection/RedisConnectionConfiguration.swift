import NIOCore

/// Everything one connection needs to know. Every default is documented on its property and in the README.
public struct RedisConnectionConfiguration: Sendable {
    /// TCP-level options applied to every socket.
    public struct TCPOptions: Sendable, Hashable {
        /// The kernel's TCP keepalive (SO_KEEPALIVE with TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT): empty segments
        /// the peer's kernel must acknowledge, sent after this long without traffic. `nil` leaves it off. Not a Redis
        /// command: ``RedisMultiplexerConfiguration/idlePingInterval`` is the PING that keeps Redis itself from
        /// closing an idle connection. Configuration key `tcp.keepalive_idle`. [15 s]
        public var keepaliveIdle: Duration?
        /// Interval between the kernel's unanswered TCP keepalive probes (TCP_KEEPINTVL); key `tcp.keepalive_interval`.
        /// [5 s]
        public var keepaliveProbeInterval: Duration
        /// Unanswered keepalive probes before the kernel drops the connection. [3]
        public var keepaliveCount: Int
        /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the kernel drops the
        /// connection. `nil` or zero leaves the kernel default (about 15 minutes with tcp_retries2=15). [30 s]
        public var userTimeout: Duration?
        /// TCP_NODELAY. [on]
        public var noDelay: Bool

        public init(
            keepaliveIdle: Duration? = .seconds(15),
            keepaliveProbeInterval: Duration = .seconds(5),
            keepaliveCount: Int = 3,
            userTimeout: Duration? = .seconds(30),
            noDelay: Bool = true
        ) {
            self.keepaliveIdle = keepaliveIdle
            self.keepaliveProbeInterval = keepaliveProbeInterval
            self.keepaliveCount = keepaliveCount
            self.userTimeout = userTimeout
            self.noDelay = noDelay
        }
    }

    /// TLS settings. Verification of the server's certificate is always on.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA(s) to trust; `nil` trusts the system's roots.
        public var caFile: String?
        /// Name to send as SNI and to verify the certificate against; `nil` uses the host (when it is a name).
        public var serverName: String?
        /// PEM client certificate (chain) for mutual TLS.
        public var certificateFile: String?
        /// PEM private key of the client certificate.
        public var keyFile: String?

        public init(caFile: String? = nil, serverName: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.serverName = serverName
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// Which protocol to ask for.
    public enum ProtocolPreference: Sendable, Hashable {
        /// `HELLO 3`, falling back to RESP2 (`AUTH`, `CLIENT SETNAME`) when the server rejects HELLO.
        case resp3IfAvailable
        /// RESP2 only: never sends HELLO.
        case resp2
    }

    public var endpoint: RedisEndpoint
    public var tls: TLS?
    /// ACL user name; `nil` authenticates as `default` (with `password`) or not at all.
    public var username: String?
    /// The password. Never logged, never part of an error or a description.
    public var password: RedisSecret?
    /// Where credentials come from when they may change (a password file, a credential command): asked at every
    /// connect, it overrides `username` and `password`. [nil]
    public var credentials: RedisCredentialProvider? = nil
    /// Sent with `SETNAME` so that the connection can be found in `CLIENT LIST`.
    public var clientName: String?
    public var protocolPreference: ProtocolPreference
    /// Time allowed for the TCP connection. [5 s]
    public var connectTimeout: Duration
    /// Time allowed for one command's reply, the handshake's included. [5 s]
    public var commandTimeout: Duration
    public var tcp: TCPOptions
    /// Limits on what the server may send.
    public var parserLimits: RESPParserLimits
    /// A restriction outside this process on the addresses it may reach, such as systemd's `IPAddressAllow=`, said
    /// as advice ("this service may reach only …"). Such a restriction drops packets silently, so a connect to an
    /// address outside it times out; the connect-timeout error then includes this text. [nil]
    public var addressRestriction: String? = nil

    public init(
        endpoint: RedisEndpoint,
        tls: TLS? = nil,
        username: String? = nil,
        password: RedisSecret? = nil,
        clientName: String? = "redis-healthd",
        protocolPreference: ProtocolPreference = .resp3IfAvailable,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5),
        tcp: TCPOptions = TCPOptions(),
        parserLimits: RESPParserLimits = RESPParserLimits()
    ) {
        self.endpoint = endpoint
        self.tls = tls
        self.username = username
        self.password = password
        self.clientName = clientName
        self.protocolPreference = protocolPreference
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.tcp = tcp
        self.parserLimits = parserLimits
    }
}

import RESP

public typealias RESPParserLimits = RESPParser.Limits

/// A secret string (a password) that does not print itself.
public struct RedisSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; read it only to send it.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

extension Duration {
    /// The duration as a `TimeAmount` for NIO, rounded down to nanoseconds.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Human form for messages: "250ms", "5s", "1.5s".
    public var humanReadable: String {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds >= 86_400_000 && milliseconds % 86_400_000 == 0 { return "\(milliseconds / 86_400_000)d" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        return "\(Double(milliseconds) / 1000)s"
    }
}

extension RedisSecret {
    /// `text` with every non-empty secret in `secrets` replaced by `<redacted>`, and whatever a server echoes
    /// of a command's arguments ("…, with args beginning with: 'x' ") dropped: servers quote arguments back
    /// in errors (an AUTH renamed away echoes the password). Use it on every text a server sent before it is
    /// stored, logged or shown.
    public static func scrub(_ text: String, secrets: [RedisSecret]) -> String {
        var bytes = Array(text.utf8)
        let echo = Array("with args beginning with:".utf8)
        if let start = bytes.firstRange(of: echo) {
            bytes = Array(bytes[..<start.upperBound]) + Array(" <redacted>".utf8)
        }
        // Longest first, so that a secret containing another is replaced whole.
        let redacted = Array("<redacted>".utf8)
        for secret in secrets.map({ Array($0.value.utf8) }).filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
            var result = [UInt8]()
            result.reserveCapacity(bytes.count)
            var rest = bytes[...]
            while let found = rest.firstRange(of: secret) {
                result += rest[..<found.lowerBound]
                result += redacted
                rest = rest[found.upperBound...]
            }
            result += rest
            bytes = result
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension RedisConnectionConfiguration {
    /// `text` from a server with this connection's secrets scrubbed (see ``RedisSecret/scrub(_:secrets:)``).
    public func scrubbingSecrets(_ text: String) -> String {
        RedisSecret.scrub(text, secrets: self.password.map { [$0] } ?? [])
    }
}
