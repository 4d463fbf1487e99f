import Foundation
import Testing

/// A datagram socket bound at a fresh path in the temporary directory, standing in for systemd's end (the
/// manager's `$NOTIFY_SOCKET`, the journal's socket); closed and unlinked by ``close()``.
struct DatagramListener {
    let path: String
    let descriptor: Int32

    init(prefix: String) throws {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8)).sock").path
        self.descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(self.descriptor >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(self.path.utf8)) }
        let descriptor = self.descriptor
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
    }

    func close() {
        _ = Foundation.close(self.descriptor)
        unlink(self.path)
    }
}
