import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: it records every sd_notify message with the
/// time it arrived.
///
/// A dedicated thread reads the socket (blocking `recv` with a 100 ms timeout); tests wait with
/// ``waitFor(_:after:within:)``, which suspends until the message arrives.
public final class NotifySocket: Sendable {
    /// One datagram and when it arrived.
    public typealias Message = (at: ContinuousClock.Instant, message: String)

    public let path: String
    private let received = StateWatch<[Message]>([])
    /// Set by close(): the reading thread stops and closes the socket.
    private let stopped = StateWatch(false)

    public init() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rh-notify-\(UUID().uuidString.prefix(8)).sock"
        ).path
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFixtureError("socket(AF_UNIX, SOCK_DGRAM) failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let error = errno
            Glibc.close(fd)
            throw TestFixtureError("bind \(path) failed: errno \(error)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // The thread owns the descriptor and closes it when cancelled, so close() never waits for it.
        let thread = Thread { [received, stopped] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stopped.value {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 {
                    let message = String(decoding: buffer[0..<count], as: UTF8.self)
                    received.update { $0.append((.now, message)) }
                }
            }
            Glibc.close(fd)
        }
        thread.name = "notify-socket"
        thread.start()
    }

    /// Every message so far, with arrival times.
    public var messages: [Message] { self.received.value }

    /// Waits for a message containing `text` that arrived at or after `since`.
    public func waitFor(
        _ text: String, after since: ContinuousClock.Instant = .now - .seconds(3600), within timeout: Duration
    ) async -> ContinuousClock.Instant? {
        let matches: @Sendable (Message) -> Bool = { $0.at >= since && $0.message.contains(text) }
        guard await self.received.wait(until: { $0.contains(where: matches) }, within: timeout) else { return nil }
        return self.messages.first(where: matches)?.at
    }

    /// Removes the socket file; the reading thread closes the socket within 100 ms. Never waits.
    public func close() {
        self.stopped.update { $0 = true }
        unlink(self.path)
    }
}
