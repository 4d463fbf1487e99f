import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// DNS look-ups for doctor: getaddrinfo on NIO's thread pool, never on the cooperative pool.
enum AddressResolution {
    /// Every address `host` resolves to (IPv4 and IPv6, in the resolver's order, without duplicates), or what
    /// went wrong.
    static func resolve(_ host: String, port: Int) async -> Result<[SocketAddress], ResolutionError> {
        do {
            return try await NIOThreadPool.singleton.runIfActive { Self.resolveBlocking(host, port: port) }
        } catch {
            return .failure(ResolutionError(message: "the resolver thread pool is not running: \(error)"))
        }
    }

    struct ResolutionError: Error, Sendable {
        var message: String
    }

    private static func resolveBlocking(_ host: String, port: Int) -> Result<[SocketAddress], ResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            return .failure(ResolutionError(message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr {
                var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(socketAddress, entry.pointee.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST) == 0,
                    let address = try? SocketAddress(
                        ipAddress: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: port),
                    !addresses.contains(address)
                {
                    addresses.append(address)
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(ResolutionError(message: "no addresses")) : .success(addresses)
    }
}

extension SocketAddress {
    /// `10.0.0.5:6379`, `[fd00::1]:6379`.
    var hostAndPort: String {
        let ip = self.ipAddress ?? "?"
        return ip.contains(":") ? "[\(ip)]:\(self.port ?? 0)" : "\(ip):\(self.port ?? 0)"
    }
}
