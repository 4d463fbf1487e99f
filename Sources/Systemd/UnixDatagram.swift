#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket that sends to one `AF_UNIX` address: what `sd_notify(3)` and the journal's native protocol
/// both use. Each send waits at most `sendTimeout` on a receiver whose queue is full, then fails.
final class UnixDatagramSender: Sendable {
    private let descriptor: Int32
    private let address: sockaddr_un
    private let addressLength: socklen_t

    /// `path`: a file system path, or an abstract socket name starting with `@`. Nil when the path does not fit an
    /// `AF_UNIX` address or no socket can be made.
    init?(path: String, sendTimeout: Duration, sendBuffer: Int32? = nil) {
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        var address = sockaddr_un()
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        self.address = address
        self.addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        let components = sendTimeout.components
        var timeout = timeval(tv_sec: Int(components.seconds), tv_usec: Int(components.attoseconds / 1_000_000_000_000))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = sendBuffer {
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    deinit { close(self.descriptor) }

    /// Sends `bytes` as one datagram; whether it went.
    func send(_ bytes: UnsafeRawBufferPointer) -> Bool {
        withUnsafePointer(to: self.address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                sendto(self.descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, self.addressLength) >= 0
            }
        }
    }
}
