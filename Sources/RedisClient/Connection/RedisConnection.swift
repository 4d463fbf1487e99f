import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import RESP

#if canImport(Glibc)
import Glibc
#endif

/// One connection to one Redis server: TCP (optionally TLS), handshake done, commands pipelined.
///
/// Many tasks may call ``send(_:timeout:)`` at once: their commands share the socket and each gets its own
/// reply. Nothing awaits longer than its timeout. Once closed, a connection stays closed; reconnecting is the
/// multiplexer's job.
public final class RedisConnection: Sendable {
    /// The negotiated protocol.
    public enum ProtocolVersion: Int, Sendable {
        case resp2 = 2
        case resp3 = 3
    }

    public let endpoint: RedisEndpoint
    public let protocolVersion: ProtocolVersion
    public let configuration: RedisConnectionConfiguration
    /// What the handshake authenticated with, when the credentials came from a provider.
    public let credentials: RedisCredentials?
    let channel: any Channel
    private let handler: NIOLoopBound<RedisCommandHandler>
    private let shared: ConnectionSharedState
    private let submitter: CommandSubmitter
    /// `endpoint.description`, made once: errors name it, and building it per command showed in profiles.
    private let endpointDescription: String
    /// Completes with the terminal error the moment the connection fails or closes.
    private let terminated: EventLoopFuture<RedisClientError>
    /// Whether the server took `CLIENT MAINT_NOTIFICATIONS ON` (asked for only on RESP3 connections).
    public let maintenanceNotificationsEnabled: Bool
    /// The server's refusal of `CLIENT MAINT_NOTIFICATIONS` (scrubbed of secrets), when it refused.
    public let maintenanceNotificationsRefusal: String?

    private init(
        channel: any Channel, handler: HandlerReference, protocolVersion: ProtocolVersion,
        configuration: RedisConnectionConfiguration, credentials: RedisCredentials? = nil,
        maintenanceNotificationsEnabled: Bool = false, maintenanceNotificationsRefusal: String? = nil
    ) {
        self.credentials = credentials
        self.maintenanceNotificationsEnabled = maintenanceNotificationsEnabled
        self.maintenanceNotificationsRefusal = maintenanceNotificationsRefusal
        self.channel = channel
        self.handler = handler.handler
        self.shared = handler.shared
        self.submitter = CommandSubmitter(shared: handler.shared, handler: handler.handler, eventLoop: channel.eventLoop)
        self.terminated = handler.terminated
        self.protocolVersion = protocolVersion
        self.configuration = configuration
        self.endpoint = configuration.endpoint
        self.endpointDescription = configuration.endpoint.description
    }

    /// What the connection keeps of its handler, captured on the event loop when the pipeline is set up.
    private struct HandlerReference: Sendable {
        var handler: NIOLoopBound<RedisCommandHandler>
        var shared: ConnectionSharedState
        var terminated: EventLoopFuture<RedisClientError>
    }

    /// Whether the connection can carry commands: open, and not failing. A connection that has met a terminal
    /// error (even one still closing, such as TLS waiting for close_notify) is never handed out.
    public var isActive: Bool { self.channel.isActive && !self.shared.failed.load(ordering: .acquiring) }

    /// The leaf certificate the server presented and the handshake verified (TLS only): its description and when
    /// it expires (seconds since 1970). Nil for a plain connection or one that has closed.
    public func peerCertificate() async -> (summary: String, notValidAfter: Double)? {
        guard self.configuration.tls != nil, let certificate = try? await self.channel.nioSSL_peerCertificate().get() else {
            return nil
        }
        // Server text: the description lists the serial number and names; bounded like other server text.
        return (String(certificate.description.prefix(200)), Double(certificate.notValidAfter))
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

    /// The address the connection is made to (nil once closed).
    public var remoteAddress: SocketAddress? { self.channel.remoteAddress }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

    // MARK: connecting

    /// Connects, sets socket options, runs the TLS and Redis handshakes.
    ///
    /// - Parameters:
    ///   - sslContext: a context made once with ``makeSSLContext(_:)`` and reused across reconnects; made
    ///     here when `nil` and TLS is configured.
    ///   - onPush: receives RESP3 push messages (pub/sub, invalidations), on the connection's event loop.
    ///   - maintenanceEndpointType: when set and the connection speaks RESP3, `CLIENT MAINT_NOTIFICATIONS ON
    ///     moving-endpoint-type <type>` is sent after the handshake; a refusal is recorded, not thrown.
    /// - Throws: ``RedisClientError`` saying what failed: refused, timeout, DNS, TLS, authentication, handshake.
    public static func connect(
        configuration: RedisConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        sslContext: NIOSSLContext? = nil,
        logger: Logger = Logger(label: "redis-healthd.connection"),
        subscriber: Bool = false,
        deadAfterSilence: Duration? = nil,
        onPush: (@Sendable (RESPValue) -> Void)? = nil,
        maintenanceEndpointType: MaintenanceNotificationSettings.EndpointType? = nil
    ) async throws(RedisClientError) -> RedisConnection {
        var configuration = configuration
        // Credentials that may change are asked for at every connect (never an expired one: the provider throws).
        let credentials = try await configuration.credentials?()
        if let credentials {
            if let username = credentials.username { configuration.username = username }
            configuration.password = credentials.password
        }
        let endpoint = configuration.endpoint
        let tlsContext: NIOSSLContext?
        if let tls = configuration.tls {
            if let sslContext {
                tlsContext = sslContext
            } else {
                tlsContext = try makeSSLContext(tls)
            }
        } else {
            tlsContext = nil
        }
        let serverName = configuration.tls?.serverName ?? (endpoint.hostIsIPAddress ? nil : endpoint.host)
        let limits = configuration.parserLimits
        let description = endpoint.description

        var bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(configuration.connectTimeout.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: configuration.tcp.noDelay ? 1 : 0)
        bootstrap = applyKeepalive(configuration.tcp, to: bootstrap)
        let channel: any Channel
        // The handler is kept from the initializer: looked up later, it may already be gone from a pipeline
        // that a failed TLS handshake has closed. The initializer runs once per address tried (a name resolving to
        // several): each channel's handler is kept under the channel's identity, and the winner's is taken.
        let handlerBox = NIOLockedValueBox<[ObjectIdentifier: HandlerReference]>([:])
        let silenceRule = SilenceRule(limit: deadAfterSilence?.timeAmount)
        do {
            channel = try await bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let ssl = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(ssl)
                    }
                    let shared = ConnectionSharedState()
                    let handler = RedisCommandHandler(
                        endpoint: description, logger: logger, subscriber: subscriber, silenceRule: silenceRule,
                        parserLimits: limits,
                        shared: shared, eventLoop: channel.eventLoop, onPush: onPush)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    let reference = HandlerReference(
                        handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), shared: shared,
                        terminated: handler.terminated.futureResult)
                    handlerBox.withLockedValue { $0[ObjectIdentifier(channel)] = reference }
                }
            }.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            throw classifyConnectError(error, configuration: configuration)
        }
        guard let handler = handlerBox.withLockedValue({ $0[ObjectIdentifier(channel)] }) else {
            channel.close(promise: nil)
            throw RedisClientError(.connectFailed, endpoint: description, message: "connection set-up failed")
        }

        let connection = RedisConnection(
            channel: channel, handler: handler, protocolVersion: .resp2, configuration: configuration)
        let version: ProtocolVersion
        var maintenanceEnabled = false
        var maintenanceRefusal: String?
        do {
            version = try await connection.handshake()
            if version == .resp3, let type = maintenanceEndpointType {
                let reply: RESPValue
                do {
                    reply = try await connection.sendRaw(
                        RESPCommand("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", type.rawValue),
                        timeout: configuration.commandTimeout)
                } catch where error.code == .commandTimeout {
                    // Best effort: a server (or proxy) that never answers it keeps the connection, without notifications.
                    reply = .simpleError(ByteBuffer(string: "no reply within \(configuration.commandTimeout.humanReadable)"))
                }
                if reply.isError {
                    maintenanceRefusal = String(configuration.scrubbingSecrets(reply.withoutAttributes.string ?? "error").prefix(200))
                } else {
                    maintenanceEnabled = true
                }
            }
        } catch {
            channel.close(promise: nil)
            var hinted = error
            if configuration.tls == nil, [.connectionClosed, .protocolError, .socket].contains(error.code) {
                // A TLS-only port drops, resets or answers with a TLS alert a plain handshake.
                hinted.message += "; is this a TLS port? Then set tls.enabled: true"
            } else if configuration.tls != nil, error.code == .commandTimeout {
                // A plain port reads a TLS ClientHello as the start of a command and waits for the rest.
                hinted.message += "; the TLS handshake got no answer: is this a TLS port? (a plain port does not answer TLS)"
            }
            throw hinted
        }
        let established = handler.handler
        channel.eventLoop.execute { established.value.handshakeCompleted() }
        logger.debug(
            "Connected",
            metadata: ["redis.endpoint": "\(description)", "redis.protocol": "RESP\(version.rawValue)"])
        return RedisConnection(
            channel: channel, handler: handler, protocolVersion: version, configuration: configuration,
            credentials: credentials, maintenanceNotificationsEnabled: maintenanceEnabled,
            maintenanceNotificationsRefusal: maintenanceRefusal)
    }

    /// Makes the TLS context for `tls`: verification on, the given CA or the system's, optional client cert.
    public static func makeSSLContext(_ tls: RedisConnectionConfiguration.TLS) throws(RedisClientError) -> NIOSSLContext {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.certificateVerification = .fullVerification
        // A connection is closed because it failed or is no longer wanted: waiting NIOSSL's default 5 s for the
        // peer's close_notify only keeps a dead socket around.
        tlsConfiguration.shutdownTimeout = .milliseconds(100)
        do {
            if let caFile = tls.caFile {
                tlsConfiguration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            if let certificateFile = tls.certificateFile {
                tlsConfiguration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
                guard let keyFile = tls.keyFile else {
                    throw RedisClientError(.configuration, message: "tls.cert_file is set but tls.key_file is not")
                }
                tlsConfiguration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
            return try NIOSSLContext(configuration: tlsConfiguration)
        } catch let error as RedisClientError {
            throw error
        } catch {
            throw RedisClientError(
                .configuration,
                message: "cannot load TLS files (ca_file, cert_file, key_file): \(error); check the paths and that they hold PEM",
                underlying: error)
        }
    }

    /// `HELLO 3 [AUTH user pass] [SETNAME name]`, or RESP2's `AUTH` + `CLIENT SETNAME` when HELLO is rejected.
    private func handshake() async throws(RedisClientError) -> ProtocolVersion {
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

    // MARK: commands

    /// Sends `command` and returns its reply.
    /// - Throws: ``RedisClientError``: `.errorReply` with the server's message when Redis answered with an
    ///   error; `.commandTimeout` when no reply came within `timeout` (default: the configured command
    ///   timeout); `.connectionClosed`, `.socket`, `.tls`, `.protocolError` when the connection failed.
    public func send(_ command: RESPCommand, timeout: Duration? = nil) async throws(RedisClientError) -> RESPValue {
        let reply = try await self.sendRaw(command, timeout: timeout ?? self.configuration.commandTimeout)
        if let error = Self.errorReply(reply, to: command, endpoint: self.endpointDescription, configuration: self.configuration) {
            throw error
        }
        return reply
    }

    /// The error `reply` stands for when the server answered `command` with an error (secrets scrubbed).
    private static func errorReply(
        _ reply: RESPValue, to command: RESPCommand, endpoint: String, configuration: RedisConnectionConfiguration
    ) -> RedisClientError? {
        guard reply.isError else { return nil }
        return RedisClientError(
            .errorReply, endpoint: endpoint, command: command.name,
            message: configuration.scrubbingSecrets(reply.withoutAttributes.string ?? "error"))
    }

    /// Sends `command` and returns its reply, error replies included (not thrown).
    ///
    /// The command joins the batch that the event loop writes at its next turn, with the commands of every other
    /// caller that came meanwhile; the reply resumes this task straight from the event loop.
    public func sendRaw(_ command: RESPCommand, timeout: Duration) async throws(RedisClientError) -> RESPValue {
        let submitter = self.submitter
        let timeAmount = timeout.timeAmount
        do {
            return try await withCheckedThrowingContinuation { continuation in
                submitter.submit(command, sink: .continuation(continuation), timeout: timeAmount)
            }
        } catch {
            throw RedisClientError.classify(error, endpoint: self.endpointDescription).forCommand(command.name)
        }
    }

    /// Sends all `commands` in one write and returns their replies in order; error replies are returned, not
    /// thrown, so one failing command does not hide the others' results.
    public func pipeline(_ commands: [RESPCommand], timeout: Duration? = nil) async throws(RedisClientError) -> [RESPValue] {
        let timeout = timeout ?? self.configuration.commandTimeout
        // The cluster client sends most commands as a pipeline of one: no futures for those.
        if commands.count == 1 { return [try await self.sendRaw(commands[0], timeout: timeout)] }
        let timeAmount = timeout.timeAmount
        let promises = commands.map { _ in self.channel.eventLoop.makePromise(of: RESPValue.self) }
        // Submitted together: nothing another caller sends can come between these commands.
        self.submitter.submit(together: zip(commands, promises).map { ($0, .promise($1)) }, timeout: timeAmount)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for (command, promise) in zip(commands, promises) {
            do {
                replies.append(try await promise.futureResult.get())
            } catch {
                throw RedisClientError.classify(error, endpoint: self.endpointDescription).forCommand(command.name)
            }
        }
        return replies
    }

    /// Sends `command` and calls `completion` with its reply (an error reply as a failure, as ``send(_:timeout:)``
    /// throws it) on the connection's event loop, where it is read: no task waits for it.
    func send(
        _ command: RESPCommand, timeout: Duration,
        completion: @escaping @Sendable (Result<RESPValue, RedisClientError>) -> Void
    ) {
        let endpoint = self.endpointDescription
        let configuration = self.configuration
        self.submitter.submit(
            command,
            sink: .callback { result in
                if case .success(let reply) = result,
                    let error = Self.errorReply(reply, to: command, endpoint: endpoint, configuration: configuration)
                {
                    completion(.failure(error))
                } else {
                    completion(result)
                }
            },
            timeout: timeout.timeAmount)
    }

    /// Sends `command` without waiting for its reply, which is read and dropped (an UNSUBSCRIBE nobody awaits).
    func sendDetached(_ command: RESPCommand) {
        self.submitter.submit(command, sink: .discard, timeout: self.configuration.commandTimeout.timeAmount)
    }

    /// Closes the connection; commands in flight fail with `.connectionClosed`. Returns once it is closed.
    public func close() async {
        let handler = self.handler
        let endpoint = self.endpoint.description
        self.channel.eventLoop.execute {
            handler.value.closeWithError(
                RedisClientError(.connectionClosed, endpoint: endpoint, message: "connection closed by the client"))
        }
        try? await self.channel.closeFuture.get()
    }

    /// Closes the connection because it is deemed dead; commands in flight fail with `error`.
    public func close(failingWith error: RedisClientError) {
        let handler = self.handler
        self.channel.eventLoop.execute { handler.value.closeWithError(error) }
    }

    /// Waits until the connection has failed or closed and returns why. Returns at the moment of the failure,
    /// not when the socket has finished closing (TLS may still wait briefly for close_notify). Cancelling the
    /// waiting task closes the connection.
    public func closed() async -> RedisClientError {
        let endpoint = self.endpoint.description
        return await withTaskCancellationHandler {
            (try? await self.terminated.get())
                ?? RedisClientError(.connectionClosed, endpoint: endpoint, message: "the server closed the connection")
        } onCancel: {
            self.close(failingWith: RedisClientError(.connectionClosed, endpoint: endpoint, message: "connection closed by the client"))
        }
    }

    /// Waits until no command awaits its reply on this connection (or it has ended), at most `timeout`.
    public func waitUntilIdle(within timeout: Duration) async {
        let handler = self.handler
        let deadline = NIODeadline.now() + timeout.timeAmount
        try? await self.channel.eventLoop.flatSubmit { handler.value.whenIdle(by: deadline) }.get()
    }

    /// Commands written and still awaiting their replies (not counting those that timed out).
    public func commandsInFlight() async -> Int {
        let handler = self.handler
        return (try? await self.channel.eventLoop.submit { handler.value.commandsInFlight }.get()) ?? 0
    }

    /// When the last reply or push arrived on this connection, asked on its event loop (nil elsewhere).
    var lastReadAtOnEventLoop: NIODeadline? {
        guard self.channel.eventLoop.inEventLoop else { return nil }
        return self.handler.value.lastReadAt
    }

    /// When the last reply or push arrived on this connection.
    public func lastReadAt() async -> NIODeadline {
        let handler = self.handler
        return (try? await self.channel.eventLoop.submit { handler.value.lastReadAt }.get()) ?? .now()
    }
}

// MARK: socket options

extension RedisConnection {
    /// Socket options as the kernel reports them (getsockopt), to prove they are really set.
    public struct SocketOptionReadings: Sendable, Hashable {
        public var keepalive: Bool
        public var keepaliveIdleSeconds: Int32
        public var keepaliveIntervalSeconds: Int32
        public var keepaliveCount: Int32
        public var userTimeoutMilliseconds: Int32
        public var noDelay: Bool
    }

    /// Reads the socket options back from the kernel.
    public func readSocketOptions() async throws -> SocketOptionReadings {
        #if os(Linux)
        let channel = self.channel
        func tcp(_ name: Int32) async throws -> Int32 {
            Int32(
                try await channel.getOption(
                    ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
                ).get())
        }
        return SocketOptionReadings(
            keepalive: try await channel.getOption(ChannelOptions.socketOption(.so_keepalive)).get() != 0,
            keepaliveIdleSeconds: try await tcp(TCP_KEEPIDLE),
            keepaliveIntervalSeconds: try await tcp(TCP_KEEPINTVL),
            keepaliveCount: try await tcp(TCP_KEEPCNT),
            userTimeoutMilliseconds: try await tcp(Int32(TCP_USER_TIMEOUT)),
            noDelay: try await tcp(TCP_NODELAY) != 0
        )
        #else
        throw RedisClientError(.socket, message: "reading TCP options is supported on Linux only")
        #endif
    }
}

private func applyKeepalive(
    _ tcp: RedisConnectionConfiguration.TCPOptions, to bootstrap: ClientBootstrap
) -> ClientBootstrap {
    var bootstrap = bootstrap
    #if os(Linux)
    func option(_ name: Int32) -> ChannelOptions.Types.SocketOption {
        ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
    }
    if let idle = tcp.keepaliveIdle {
        bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(option(TCP_KEEPIDLE), value: SocketOptionValue(max(1, idle.wholeSecondsRoundedUp)))
            .channelOption(
                option(TCP_KEEPINTVL), value: SocketOptionValue(max(1, tcp.keepaliveProbeInterval.wholeSecondsRoundedUp)))
            .channelOption(option(TCP_KEEPCNT), value: SocketOptionValue(max(1, tcp.keepaliveCount)))
    }
    if let userTimeout = tcp.userTimeout, userTimeout > .zero {
        let milliseconds = min(Int64(Int32.max), userTimeout.components.seconds * 1000 + userTimeout.components.attoseconds / 1_000_000_000_000_000)
        bootstrap = bootstrap.channelOption(option(Int32(TCP_USER_TIMEOUT)), value: SocketOptionValue(milliseconds))
    }
    #endif
    return bootstrap
}

extension Duration {
    var wholeSecondsRoundedUp: Int {
        let (seconds, attoseconds) = self.components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }
}

private func classifyConnectError(_ error: any Error, configuration: RedisConnectionConfiguration) -> RedisClientError {
    let endpoint = configuration.endpoint.description
    func isRefused(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
        return false
    }
    func isNotPermitted(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == EPERM || io.errnoCode == EACCES }
        return false
    }
    if let error = error as? ChannelError, case .connectTimeout = error {
        let timeout = configuration.connectTimeout.humanReadable
        if let restriction = configuration.addressRestriction {
            // A restriction such as systemd's IPAddressAllow= drops packets, so this is how it looks.
            return RedisClientError(
                .connectTimeout, endpoint: endpoint,
                message: "connect timed out after \(timeout); \(restriction); "
                    + "otherwise is the host reachable and the port open in the firewall?",
                underlying: error)
        }
        return RedisClientError(
            .connectTimeout, endpoint: endpoint,
            message: "connect timed out after \(timeout); is the host reachable and the port open in the firewall?",
            underlying: error)
    }
    if let error = error as? NIOConnectionError {
        if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
            return RedisClientError(
                .dnsFailure, endpoint: endpoint,
                message: "cannot resolve host name \(configuration.endpoint.host); check the name and DNS",
                underlying: error)
        }
        if let first = error.connectionErrors.first {
            if error.connectionErrors.allSatisfy({ isRefused($0.error) }) {
                return RedisClientError(
                    .connectionRefused, endpoint: endpoint,
                    message: "connection refused; is redis-server running and listening on this port?", underlying: error)
            }
            if error.connectionErrors.allSatisfy({ isNotPermitted($0.error) }) {
                return RedisClientError(
                    .connectFailed, endpoint: endpoint,
                    message: "connect failed: Operation not permitted; is the address allowed by IPAddressAllow= in the unit, "
                        + "and by the host's firewall?",
                    underlying: error)
            }
            return RedisClientError(.connectFailed, endpoint: endpoint, message: "connect failed: \(first.error)", underlying: error)
        }
    }
    if isRefused(error) {
        return RedisClientError(
            .connectionRefused, endpoint: endpoint,
            message: "connection refused; is redis-server running and listening on this port?", underlying: error)
    }
    if error is NIOSSLError || error is NIOSSLExtraError {
        return RedisClientError.classify(error, endpoint: endpoint)
    }
    return RedisClientError(.connectFailed, endpoint: endpoint, message: "connect failed: \(error)", underlying: error)
}
