import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Classifying why a connect failed (refused, not permitted, timeout, DNS, TLS, …) into a ``RedisClientError``
/// that says what to check.
func classifyConnectError(_ error: any Error, configuration: RedisConnectionConfiguration) -> RedisClientError {
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
