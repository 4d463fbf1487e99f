import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// Opening a connection: the bootstrap and its pipeline (TLS, the command handler), the Redis handshake run on
/// it, and the TLS context the connections of one endpoint share.
extension RedisConnection {
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
}
