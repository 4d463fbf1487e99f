import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import RedisMultiplexer

/// TLS handshakes made by doctor to see what a server presents and whether it passes verification: one that
/// accepts any chain (to read the certificates and the protocol version even when verification would fail), one
/// that verifies the chain but not the name, and one that verifies both, as the daemon does.
struct TLSInspection: Sendable {
    /// A presented certificate: its description (serial, common name) and when it expires.
    struct Certificate: Sendable {
        var summary: String
        var notValidAfter: Date
    }

    struct Presented: Sendable {
        var version: String
        var chain: [Certificate]
    }

    var address: SocketAddress
    var tls: RedisConnectionConfiguration.TLS
    var serverName: String?
    var timeout: TimeAmount
    var eventLoopGroup: any EventLoopGroup

    /// The certificates the server presents (leaf first) and the negotiated version; no verification.
    func presented() async throws -> Presented {
        let collected = NIOLockedValueBox<[Certificate]>([])
        let (_, version) = try await self.handshake(verification: .fullVerification) { certificates, promise in
            collected.withLockedValue { list in
                list = certificates.map {
                    Certificate(summary: $0.description, notValidAfter: Date(timeIntervalSince1970: TimeInterval($0.notValidAfter)))
                }
            }
            promise.succeed(.certificateVerified)
        }
        return Presented(version: version, chain: collected.withLockedValue { $0 })
    }

    /// Throws when the chain does not verify against the trust roots (`.noHostnameVerification`) or, with
    /// `.fullVerification`, when the name does not match either.
    func verify(_ verification: CertificateVerification) async throws {
        _ = try await self.handshake(verification: verification, callback: nil)
    }

    private func handshake(
        verification: CertificateVerification,
        callback: (@Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void)?
    ) async throws -> (Void, String) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verification
        configuration.shutdownTimeout = .milliseconds(100)
        if let caFile = self.tls.caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        if let certificateFile = self.tls.certificateFile, let keyFile = self.tls.keyFile {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        }
        let context = try NIOSSLContext(configuration: configuration)
        let serverName = self.serverName
        let completed = self.eventLoopGroup.any().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: completed.futureResult.eventLoop)
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
                .connect(to: self.address).get()
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
        try await completed.futureResult.get()
        let version = try await channel.nioSSL_tlsVersion().get()
        return ((), version.map(Self.name) ?? "unknown")
    }

    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLSv1.0"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}

struct TLSInspectionError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
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
