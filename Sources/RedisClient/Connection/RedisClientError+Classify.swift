import NIOCore
import NIOSSL
import RESP

extension RedisClientError {
    /// The same error, attributed to `command`.
    func forCommand(_ command: String) -> RedisClientError {
        var copy = self
        copy.command = command
        return copy
    }

    /// Turns whatever NIO, NIOSSL or the parser threw into a typed error that says what to do.
    ///
    /// - Parameters:
    ///   - tlsEstablished: the TLS handshake had completed. A peer that then goes away without close_notify
    ///     (kill -9, a proxy) has closed the connection; nothing is misconfigured.
    ///   - established: the Redis handshake had completed too: any TLS error is a failure of the connection.
    static func classify(
        _ error: any Error, endpoint: String, tlsEstablished: Bool = false, established: Bool = false
    ) -> RedisClientError {
        switch error {
        case let error as RedisClientError:
            return error
        case is CancellationError:
            return RedisClientError(.cancelled, endpoint: endpoint, message: "cancelled by the caller")
        case let error as RESPParsingError:
            return RedisClientError(
                .protocolError, endpoint: endpoint, message: "\(error); is this port really a Redis server?",
                underlying: error)
        case NIOSSLError.uncleanShutdown where tlsEstablished:
            return RedisClientError(
                .connectionClosed, endpoint: endpoint,
                message: "the server closed the connection (without TLS close_notify)", underlying: error)
        case let error as NIOSSLError where established:
            return RedisClientError(
                .socket, endpoint: endpoint, message: "TLS error on an established connection: \(error)", underlying: error)
        case let error as NIOSSLError:
            return RedisClientError(
                .tls, endpoint: endpoint,
                message: "TLS failed: \(error); is this a TLS port? (a plain port does not answer TLS) Else check tls.ca_file and tls.server_name",
                underlying: error)
        case let error as NIOSSLExtraError:
            return RedisClientError(.tls, endpoint: endpoint, message: "TLS failed: \(error)", underlying: error)
        case let error as BoringSSLError where established:
            return RedisClientError(
                .socket, endpoint: endpoint, message: "TLS error on an established connection: \(error)", underlying: error)
        case let error as BoringSSLError:
            return RedisClientError(.tls, endpoint: endpoint, message: "TLS failed: \(error)", underlying: error)
        case let error as IOError:
            return RedisClientError(.socket, endpoint: endpoint, message: "socket error: \(error)", underlying: error)
        case let error as ChannelError where error == .eof || error == .ioOnClosedChannel || error == .alreadyClosed:
            return RedisClientError(.connectionClosed, endpoint: endpoint, message: "connection closed", underlying: error)
        default:
            return RedisClientError(.socket, endpoint: endpoint, message: "\(error)", underlying: error)
        }
    }
}
