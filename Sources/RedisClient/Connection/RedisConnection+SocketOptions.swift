import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// TCP socket options: the keepalive and user timeout set on the bootstrap, and reading them back from the
/// kernel.
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

func applyKeepalive(
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
