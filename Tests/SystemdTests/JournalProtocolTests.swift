import Foundation
import Testing

@testable import Systemd

/// The journal's native protocol and the watchdog variables, spoken without libsystemd.
@Suite("journald's native protocol and the watchdog variables")
struct JournalProtocolTests {
    @Test("one-line values as NAME=value, a value with a newline in the binary-safe form, bad fields skipped")
    func encoding() {
        let datagram = JournalDatagram.encode(["MESSAGE=hello", "PRIORITY=6", "=nameless", "no equals sign", "EMPTY=", "TWO=a\nb"])
        var expected = Array("MESSAGE=hello\nPRIORITY=6\nEMPTY=\nTWO\n".utf8)
        expected += [3, 0, 0, 0, 0, 0, 0, 0]
        expected += Array("a\nb\n".utf8)
        #expect(datagram == expected)
    }

    @Test("a value longer than the limit is cut, the entry kept")
    func longValues() {
        let datagram = JournalDatagram.encode(["MESSAGE=" + String(repeating: "x", count: JournalDatagram.maximumValueLength + 100)])
        #expect(datagram.count == "MESSAGE=".utf8.count + JournalDatagram.maximumValueLength + 1)
    }

    @Test("an entry reaches a datagram socket as one datagram, the handler's fields in it")
    func roundTrip() throws {
        let listener = try DatagramListener(prefix: "rh-journal")
        defer { listener.close() }
        let path = listener.path, fd = listener.descriptor
        let sender = try #require(UnixDatagramSender(path: path, sendTimeout: .milliseconds(100)))
        let fields = JournalLogHandler.fields(
            message: "line one\nforged", level: .warning, metadata: ["redis.target": "cache"], identifier: "redis-healthd",
            file: "F.swift", line: 7, function: "f()")
        sender.send(JournalDatagram.encode(fields))
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        try #require(count > 0)
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        #expect(text.hasPrefix("MESSAGE=line one\\nforged\nPRIORITY=4\nSYSLOG_IDENTIFIER=redis-healthd\n"))
        #expect(text.contains("\nREDIS_TARGET=cache\n"))
    }

    @Test("an address too long for AF_UNIX is refused, not truncated")
    func longPath() {
        #expect(UnixDatagramSender(path: "/" + String(repeating: "d", count: 200), sendTimeout: .seconds(1)) == nil)
    }

    @Test("the watchdog interval: $WATCHDOG_USEC, honoured when $WATCHDOG_PID is unset or this process")
    func watchdog() {
        #expect(SystemdNotifier.watchdogInterval(microseconds: "30000000", pid: nil, ownPID: 42) == .seconds(30))
        #expect(SystemdNotifier.watchdogInterval(microseconds: "30000000", pid: "42", ownPID: 42) == .seconds(30))
        #expect(SystemdNotifier.watchdogInterval(microseconds: "30000000", pid: "43", ownPID: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: nil, pid: nil, ownPID: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "0", pid: nil, ownPID: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "soon", pid: nil, ownPID: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "-5", pid: nil, ownPID: 42) == nil)
    }
}
