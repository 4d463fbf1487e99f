import RedisTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Child processes")
struct ChildProcessTests {
    @Test("a child inherits no descriptor but its standard ones: an open socket of this process stays ours")
    func noInheritedDescriptors() async throws {
        try await withFakeRedisServer { server in
            // An open connection of this process (NIO's sockets are not close-on-exec).
            let connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(connection) }
            #expect(connection >= 3)
            // ls's own listing descriptor is the only one above 2.
            let listing = try await run(try which("ls"), ["/proc/self/fd"])
            let descriptors = listing.split(separator: "\n").compactMap { Int($0) }.sorted()
            #expect(descriptors.count == 4, "\(descriptors)")
            #expect(server.port > 0)
        }
    }

    @Test("run: output, failure with stderr, and a timeout that kills")
    func runOutcomes() async throws {
        #expect(try await run(try which("sh"), ["-c", "echo out; echo err >&2"]) == "out\n")
        do {
            try await run(try which("sh"), ["-c", "echo broken >&2; exit 3"])
            Issue.record("exit 3 did not throw")
        } catch {
            #expect("\(error)".contains("exited 3: broken"))
        }
        let started = ContinuousClock.now
        await #expect(throws: TestFixtureError.self) {
            try await run(try which("sleep"), ["30"], timeout: .milliseconds(200))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("terminate: SIGTERM, then SIGKILL after the grace; the exit is reaped")
    func terminate() async throws {
        let stubborn = try ChildProcess.spawn(try which("sh"), ["-c", "trap '' TERM; while :; do sleep 0.05; done"])
        #expect(stubborn.isRunning)
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await stubborn.terminate(signal: SIGTERM, grace: .milliseconds(300))
        #expect(!stubborn.isRunning)
        #expect(stubborn.ended?.signal == SIGKILL)
        #expect(ContinuousClock.now - started >= .milliseconds(300))
    }
}
