import NIOCore
import NIOSSL
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
    let submitter: CommandSubmitter
    /// `endpoint.description`, made once: errors name it, and building it per command showed in profiles.
    let endpointDescription: String
    /// Completes with the terminal error the moment the connection fails or closes.
    private let terminated: EventLoopFuture<RedisClientError>
    /// Whether the server took `CLIENT MAINT_NOTIFICATIONS ON` (asked for only on RESP3 connections).
    public let maintenanceNotificationsEnabled: Bool
    /// The server's refusal of `CLIENT MAINT_NOTIFICATIONS` (scrubbed of secrets), when it refused.
    public let maintenanceNotificationsRefusal: String?

    init(
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
    struct HandlerReference: Sendable {
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

    /// The address the connection is made to (nil once closed).
    public var remoteAddress: SocketAddress? { self.channel.remoteAddress }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { self.channel.closeFuture }

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

    /// When the last reply or push arrived on this connection, asked on its event loop (nil elsewhere).
    var lastReadAtOnEventLoop: NIODeadline? {
        guard self.channel.eventLoop.inEventLoop else { return nil }
        return self.handler.value.lastReadAt
    }
}
