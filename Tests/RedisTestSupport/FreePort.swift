import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago, below 55535 so that port + 10000 (the cluster bus) fits.
public func freePort() throws -> Int {
    for _ in 0..<100 {
        let hold = try PortHold()
        hold.release()
        if !loopbackAccepts(port: hold.port) && !loopbackAccepts(port: hold.port + 10000) { return hold.port }
    }
    throw TestFixtureError("no free port found")
}

/// Whether something listens on 127.0.0.1:`port`. A loopback connect is answered by the kernel at once (accepted
/// or refused, even for a stopped listener), so this blocking probe never waits.
private func loopbackAccepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return result == 0
}

/// Whether something accepts TCP connections on `host`:`port` within `timeout`. The connect runs on a NIO event
/// loop; the task suspends meanwhile.
public func canConnect(host: String = "127.0.0.1", port: Int, timeout: Duration = .seconds(1)) async -> Bool {
    let milliseconds = Int64(timeout / .milliseconds(1))
    do {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(max(1, milliseconds)))
            .connect(host: host, port: port).get()
        try? await channel.close()
        return true
    } catch {
        return false
    }
}

/// A TCP port on 127.0.0.1 held by a socket that is bound but does not listen: a connect to it is refused at once,
/// as to a port where nothing runs, yet no other test's server can be given the port meanwhile (a port chosen
/// "free" and left unbound could go to the next server any test starts, which the dialer would then reach).
public final class PortHold: Sendable {
    public let port: Int
    private let descriptor: Mutex<Int32>

    /// Holds `port` (SO_REUSEADDR: a server just killed there may leave connections in TIME_WAIT); nil when
    /// something else has it.
    public init?(port: Int) {
        guard let descriptor = Self.bind(port: port) else { return nil }
        self.port = port
        self.descriptor = Mutex(descriptor)
    }

    /// A new port, held.
    public init() throws {
        for _ in 0..<100 {
            guard let descriptor = Self.bind(port: 0) else { continue }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            let port = Int(UInt16(bigEndian: address.sin_port))
            if port < 55535 {
                self.port = port
                self.descriptor = Mutex(descriptor)
                return
            }
            close(descriptor)
        }
        throw TestFixtureError("no free port found")
    }

    /// Lets the port go (before a server starts on it again). Idempotent.
    public func release() {
        self.descriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    deinit { self.release() }

    private static func bind(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        if port != 0 { _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}

/// Runs `body` with a port where nothing listens (connects are refused), held for `body`'s whole run.
public func withClosedPort<T>(_ body: (Int) async throws -> T) async throws -> T {
    let hold = try PortHold()
    defer { hold.release() }
    return try await body(hold.port)
}
