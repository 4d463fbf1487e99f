import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: it records every sd_notify message with the
/// time it arrived.
public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(at: ContinuousClock.Instant, message: String)] = []
    private var reader: Thread?

    public init() throws {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("rh-notify-\(UUID().uuidString.prefix(8)).sock").path
        self.fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard self.fd >= 0 else { throw TestFixtureError("socket(AF_UNIX, SOCK_DGRAM) failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in self.path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFixtureError("bind \(self.path) failed: errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while let self, !Thread.current.isCancelled {
                let count = recv(self.fd, &buffer, buffer.count, 0)
                if count > 0 {
                    let message = String(decoding: buffer[0..<count], as: UTF8.self)
                    self.lock.withLock { self.received.append((.now, message)) }
                }
            }
        }
        self.reader = thread
        thread.start()
    }

    /// Every message so far, with arrival times.
    public var messages: [(at: ContinuousClock.Instant, message: String)] { self.lock.withLock { self.received } }

    /// Waits for a message containing `text` that arrived at or after `since`.
    public func waitFor(_ text: String, after since: ContinuousClock.Instant = .now - .seconds(3600), within timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let hit = self.messages.first(where: { $0.at >= since && $0.message.contains(text) }) { return hit.at }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    public func close() {
        self.reader?.cancel()
        usleep(150_000)
        Glibc.close(self.fd)
        unlink(self.path)
    }
}
