import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// TLS handshakes that only look at what a server presents, and whether it passes verification: one that accepts
/// any chain (to read the certificates and the protocol version even when verification would fail), one that
/// verifies the chain but not the name, and one that verifies both, as connections do. No Redis command is sent.
/// `doctor` makes all three; the multiplexer makes the first to read the expiry of the chain a server presents
/// (a verified connection exposes its leaf only).
public struct TLSInspection: Sendable {
    /// A presented certificate: its description (serial, common name) and when it expires (seconds since 1970).
    public struct Certificate: Sendable {
        public var summary: String
        public var notValidAfter: Double
    }

    public struct Presented: Sendable {
        public var version: String
        /// Leaf first, as presented.
        public var chain: [Certificate]
    }

    public var address: SocketAddress
    public var tls: RedisConnectionConfiguration.TLS
    public var serverName: String?
    public var timeout: TimeAmount
    public var eventLoopGroup: any EventLoopGroup

    public init(
        address: SocketAddress, tls: RedisConnectionConfiguration.TLS, serverName: String?, timeout: TimeAmount,
        eventLoopGroup: any EventLoopGroup
    ) {
        self.address = address
        self.tls = tls
        self.serverName = serverName
        self.timeout = timeout
        self.eventLoopGroup = eventLoopGroup
    }

    /// The certificates the server presents (leaf first) and the negotiated version; no verification. Ends early,
    /// with an error, when the task is cancelled.
    public func presented() async throws -> Presented {
        let collected = NIOLockedValueBox<[Certificate]>([])
        let (_, version) = try await self.handshake(verification: .fullVerification) { certificates, promise in
            collected.withLockedValue { list in
                list = certificates.map {
                    Certificate(summary: String($0.description.prefix(200)), notValidAfter: Double($0.notValidAfter))
                }
            }
            promise.succeed(.certificateVerified)
        }
        return Presented(version: version, chain: collected.withLockedValue { $0 })
    }

    /// Throws when the chain does not verify against the trust roots (`.noHostnameVerification`) or, with
    /// `.fullVerification`, when the name does not match either.
    public func verify(_ verification: CertificateVerification) async throws {
        _ = try await self.handshake(verification: verification, callback: nil)
    }

    private func handshake(
        verification: CertificateVerification,
        callback: (@Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void)?
    ) async throws -> (Void, String) {
        let tls = self.tls
        let acceptsAnyChain = callback != nil
        // Reading PEM files (and the system's roots) blocks: done on NIO's thread pool, not the task pool. A
        // handshake that accepts any chain needs no trust roots at all.
        let context = try await NIOThreadPool.singleton.runIfActive {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = verification
            configuration.shutdownTimeout = .milliseconds(100)
            if acceptsAnyChain {
                configuration.trustRoots = .certificates([])
            } else if let caFile = tls.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            if let certificateFile = tls.certificateFile, let keyFile = tls.keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        }
        let serverName = self.serverName
        let completed = self.eventLoopGroup.any().makePromise(of: Void.self)
        let channel: any Channel
        do {
            let connecting = ClientBootstrap(group: completed.futureResult.eventLoop)
                .connectTimeout(self.timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler: NIOSSLClientHandler
                        if let callback {
                            handler = try NIOSSLClientHandler(context: context, serverHostname: serverName, customVerificationCallback: callback)
                        } else {
                            handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: completed))
                    }
                }
                .connect(to: self.address)
            // The connect itself ends early when the task is cancelled (a channel that still connects is closed).
            let connected = completed.futureResult.eventLoop.makePromise(of: (any Channel).self)
            connecting.cascade(to: connected)
            channel = try await withTaskCancellationHandler {
                try await connected.futureResult.get()
            } onCancel: {
                connected.fail(TLSInspectionError(message: "cancelled"))
                connecting.whenSuccess { $0.close(promise: nil) }
            }
        } catch {
            completed.fail(error)
            throw error
        }
        let timeout = channel.eventLoop.scheduleTask(in: self.timeout) {
            completed.fail(TLSInspectionError(message: "no TLS handshake within \(self.timeout.nanoseconds / 1_000_000) ms"))
        }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        try await withTaskCancellationHandler {
            try await completed.futureResult.get()
        } onCancel: {
            completed.fail(TLSInspectionError(message: "cancelled"))
        }
        let version = try await channel.nioSSL_tlsVersion().get()
        return ((), version.map(Self.name) ?? "unknown")
    }

    public static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1.0"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}

public struct TLSInspectionError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

/// Completes its promise when the TLS handshake completes, fails it on an error or a close before that.
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    private func finish(_ result: Result<Void, any Error>) {
        guard !self.done else { return }
        self.done = true
        self.promise.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { self.finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish(.failure(TLSInspectionError(message: "the server closed the connection during the TLS handshake")))
        context.fireChannelInactive()
    }
}
