#if canImport(Glibc)
import Glibc
#endif

/// One journal entry in journald's native protocol: each field `NAME=value\n`, or, for a value holding a newline,
/// `NAME\n`, its length as a 64-bit little-endian number, the value and `\n`. Values longer than
/// ``maximumValueLength`` are cut there (a log line that long is a defect, not something to lose the entry for).
enum JournalDatagram {
    static let maximumValueLength = 48 * 1024

    /// `fields`: `NAME=value` each.
    static func encode(_ fields: [String]) -> [UInt8] {
        var datagram: [UInt8] = []
        datagram.reserveCapacity(fields.reduce(0) { $0 + $1.utf8.count + 1 })
        for field in fields {
            let utf8 = Array(field.utf8)
            guard let equals = utf8.firstIndex(of: UInt8(ascii: "=")), equals > 0 else { continue }
            let name = utf8[..<equals]
            var value = utf8[(equals + 1)...]
            if value.count > Self.maximumValueLength {
                value = value.prefix(Self.maximumValueLength)
            }
            if value.contains(UInt8(ascii: "\n")) {
                datagram += name
                datagram.append(UInt8(ascii: "\n"))
                var length = UInt64(value.count).littleEndian
                withUnsafeBytes(of: &length) { datagram += $0 }
                datagram += value
            } else {
                datagram += utf8[...equals]
                datagram += value
            }
            datagram.append(UInt8(ascii: "\n"))
        }
        return datagram
    }
}

extension UnixDatagramSender {
    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { self.send($0) }
    }
}

/// The journal's socket, opened at first use; nil where it cannot be (no `AF_UNIX` socket). A send waits at most
/// 250 ms on a journald whose queue is full, then the entry is dropped: logging never stalls the daemon for long.
/// The send buffer is raised to 8 MiB (as libsystemd does, within the system's `wmem_max`).
let journalSocket = UnixDatagramSender(
    path: "/run/systemd/journal/socket", sendTimeout: .milliseconds(250), sendBuffer: 8 * 1024 * 1024)
