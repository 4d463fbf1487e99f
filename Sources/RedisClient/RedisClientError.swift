import RESP

/// Something went wrong talking to Redis.
///
/// Says what failed (``code``), where (``endpoint``), during which command (``command``, its name only: never
/// its arguments, which may hold keys, values or passwords), and what to do about it (``description``).
public struct RedisClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Extensible: new codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionRefused = "connection-refused"
            case connectTimeout = "connect-timeout"
            case dnsFailure = "dns-failure"
            case connectFailed = "connect-failed"
            case tls = "tls"
            case authentication = "authentication"
            case handshake = "handshake"
            case commandTimeout = "command-timeout"
            case connectionClosed = "connection-closed"
            case protocolError = "protocol"
            case errorReply = "error-reply"
            case unresponsive = "unresponsive"
            case backlogFull = "backlog-full"
            case notConnected = "not-connected"
            case configuration = "configuration"
            case socket = "socket"
            case tooManyRedirects = "too-many-redirects"
            case disallowedEndpoint = "disallowed-endpoint"
            case clusterTopology = "cluster-topology"
            case cancelled = "cancelled"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The peer actively refused the TCP connection (nothing listens on that port).
        public static let connectionRefused = Code(.connectionRefused)
        /// The TCP connection was not established within the connect timeout.
        public static let connectTimeout = Code(.connectTimeout)
        /// The host name could not be resolved.
        public static let dnsFailure = Code(.dnsFailure)
        /// Any other failure to establish the TCP connection (unreachable network, …).
        public static let connectFailed = Code(.connectFailed)
        /// TLS handshake or TLS record failure (certificate not trusted, name mismatch, …).
        public static let tls = Code(.tls)
        /// The server refused our credentials (WRONGPASS, NOAUTH, …).
        public static let authentication = Code(.authentication)
        /// The connection handshake (HELLO / CLIENT SETNAME) failed for another reason.
        public static let handshake = Code(.handshake)
        /// A command got no reply within its timeout.
        public static let commandTimeout = Code(.commandTimeout)
        /// The connection closed (EOF, reset, or closed by us) while a command was in flight.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server sent bytes that are not valid RESP, or a reply nobody asked for.
        public static let protocolError = Code(.protocolError)
        /// The server answered the command with an error reply.
        public static let errorReply = Code(.errorReply)
        /// The connection was declared dead: it stopped answering.
        public static let unresponsive = Code(.unresponsive)
        /// Too many commands are waiting for a connection.
        public static let backlogFull = Code(.backlogFull)
        /// No connection is available and the policy is to fail fast.
        public static let notConnected = Code(.notConnected)
        /// The configuration is invalid (a file cannot be read, a value is out of range).
        public static let configuration = Code(.configuration)
        /// A socket-level error on an established connection (reset, broken pipe, …).
        public static let socket = Code(.socket)
        /// A cluster command was redirected (MOVED/ASK) more often than allowed: the topology keeps changing.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// The node that serves a slot announces an endpoint the dial policy forbids (allowed ports/networks).
        public static let disallowedEndpoint = Code(.disallowedEndpoint)
        /// The cluster's topology could not be read, or does not cover a slot.
        public static let clusterTopology = Code(.clusterTopology)
        /// The caller's task was cancelled while the command waited (for a connection, or its reply).
        public static let cancelled = Code(.cancelled)

        /// A short, stable name for logs and metrics labels ("command-timeout").
        public var description: String { self.base.rawValue }
    }

    public var code: Code
    /// `host:port` of the server, when known.
    public var endpoint: String?
    /// The command's name (never its arguments), when the error belongs to one.
    public var command: String?
    /// What happened, for humans; for error replies, the server's message.
    public var message: String
    /// The error that caused this one, if any.
    public var underlying: (any Error)?

    public init(
        _ code: Code, endpoint: String? = nil, command: String? = nil, message: String, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.endpoint = endpoint
        self.command = command
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        var text = ""
        if let command { text += "\(command) " }
        if let endpoint { text += (command == nil ? "" : "to ") + "\(endpoint): " } else if command != nil { text += ": " }
        text += self.message
        return text
    }
}
