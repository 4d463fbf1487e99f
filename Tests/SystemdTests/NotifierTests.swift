import Foundation
import Testing

@testable import Systemd

/// sd_notify never holds the daemon: messages are queued, STATUS= lines folded, sends bounded.
@Suite("Service manager notifications")
struct NotifierTests {
    @Test("a STATUS= line waiting to go out is replaced by a newer one; other messages keep their order")
    func statusLinesFold() {
        var queue = NotificationQueue()
        var starts: [Bool] = []
        for message in ["READY=1\nSTATUS=starting", "STATUS=1/3 healthy", "STATUS=2/3 healthy", "WATCHDOG=1", "WATCHDOG=1", "STATUS=3/3 healthy"] {
            starts.append(queue.enqueue(message))
        }
        #expect(starts == [true, false, false, false, false, false], "only the first starts the sender")
        var sent: [String] = []
        while let message = queue.next() { sent.append(message) }
        #expect(sent == ["READY=1\nSTATUS=starting", "WATCHDOG=1", "STATUS=3/3 healthy"])
        let restarts = queue.enqueue("STOPPING=1")
        #expect(restarts, "drained: the next message starts the sender again")
    }

    @Test("the queue is bounded: the oldest message goes")
    func bounded() {
        var queue = NotificationQueue(capacity: 3)
        for index in 0..<5 { _ = queue.enqueue("X=\(index)") }
        #expect(queue.count == 3)
        let first = queue.next()
        #expect(first == "X=2")
    }

    @Test("a socket nobody reads never blocks the caller; messages reach one that reads")
    func neverBlocks() async throws {
        let listener = try DatagramListener(prefix: "rh-notify")
        defer { listener.close() }
        let path = listener.path, fd = listener.descriptor
        let notifier = SystemdNotifier(socketPath: path, sendTimeout: .milliseconds(50))
        // Far more than the socket's queue holds, never read: each call returns at once.
        let started = ContinuousClock.now
        for index in 0..<5000 { notifier.send("STATUS=\(index) \(String(repeating: "x", count: 200))") }
        #expect(started.duration(to: .now) < .seconds(1), "send() waited: \(started.duration(to: .now))")
        await notifier.flush()
        #expect(notifier.droppedCount > 0, "the full socket made the sender drop messages after its timeout")
        // Once the manager reads again, messages flow.
        var buffer = [UInt8](repeating: 0, count: 4096)
        func readAll() -> [String] {
            var received: [String] = []
            while true {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count <= 0 { return received }
                received.append(String(decoding: buffer[0..<count], as: UTF8.self))
            }
        }
        let backlog = readAll()
        #expect(!backlog.isEmpty && backlog.count < 5000, "some went out before the socket was full, the rest were folded or dropped")
        notifier.send("STOPPING=1")
        await notifier.flush()
        #expect(readAll() == ["STOPPING=1"])
    }
}
