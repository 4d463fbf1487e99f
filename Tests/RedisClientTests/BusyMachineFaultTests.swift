import Foundation
import RESP
import RedisTestSupport
import Testing

@testable import RedisClient

#if canImport(Glibc)
    import Glibc
#endif

/// Processes that spin on the CPU (`while :; do :; done`) for the duration of `body`, killed and reaped after;
/// `body` gets their pids.
func withCPUHogs<T>(_ count: Int, _ body: ([pid_t]) async throws -> T) async throws -> T {
    let shell = try which("sh")
    var hogs: [ChildProcess] = []
    do {
        for _ in 0..<count { hogs.append(try ChildProcess.spawn(shell, ["-c", "while :; do :; done"])) }
        let result = try await body(hogs.map(\.pid))
        for hog in hogs { await hog.terminate(signal: SIGKILL, grace: .zero) }
        return result
    } catch {
        for hog in hogs { await hog.terminate(signal: SIGKILL, grace: .zero) }
        throw error
    }
}

/// CPU time a process has used so far (user + system, from /proc/PID/stat).
func cpuTime(of pid: pid_t) -> Duration? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)": state is field 3, utime 14, stime 15.
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
    let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
    return .milliseconds((user + system) * 1000 / max(ticks, 1))
}

@Suite("Multiplexer faults on a busy machine", .serialized)
struct BusyMachineFaultTests {
    @Test("SIGSTOP while 2 CPU hogs spin: unresponsive within twice the probe deadline, and back after SIGCONT")
    func stopWhileBusy() async throws {
        try await withRedisServer { server in
            let config = multiplexerConfiguration(server)
            let probeInterval = try #require(config.probeInterval)
            // When a stopped server must be reported: probe interval + probe failures × probe timeout (3 s).
            let deadline = probeInterval + config.probeTimeout * config.probeFailures
            try await withClient(config) { client, events in
                #expect(await eventually(within: .seconds(5)) { client.current.isConnected })
                #expect(
                    await events.first(within: .seconds(5)) {
                        if case .probe = $0 { return true }
                        return false
                    } != nil)

                try await withCPUHogs(2) { hogs in
                    let cpuBefore = hogs.map { cpuTime(of: $0) ?? .zero }
                    // Let the hogs take the cores before the fault.
                    try await Task.sleep(for: .milliseconds(500))
                    let stopped = ContinuousClock.now
                    server.pause()
                    let unresponsive = await events.first(after: stopped, within: deadline * 4) { $0.isUnresponsive }
                    let unresponsiveAfter = unresponsive.map { stopped.duration(to: $0) }
                    let elapsed = stopped.duration(to: .now) + .milliseconds(500)
                    let hogCPU = zip(hogs, cpuBefore).map { (cpuTime(of: $0.0) ?? .zero) - $0.1 }
                    print(
                        "SIGSTOP with 2 CPU hogs: unresponsive after \(String(describing: unresponsiveAfter)) (deadline \(deadline)); hogs used \(hogCPU) of CPU in \(elapsed)"
                    )
                    // The hogs really competed for the cores.
                    // (At least a tenth of a core each: other work on the machine competes with them too.)
                    #expect(hogCPU.allSatisfy { $0 >= elapsed * 0.1 }, "hogs used \(hogCPU) in \(elapsed)")
                    #expect(unresponsiveAfter != nil, "never reported unresponsive")
                    if let unresponsiveAfter {
                        #expect(unresponsiveAfter >= config.probeTimeout, "reported before a probe could time out")
                        #expect(
                            unresponsiveAfter <= deadline * 2,
                            "reported after \(unresponsiveAfter), deadline \(deadline)")
                    }

                    let continued = ContinuousClock.now
                    server.resume()
                    let answered = await eventually(within: .seconds(15)) {
                        (try? await client.send(RESPCommand("PING"), timeout: .seconds(1))) == .simpleString("PONG")
                    }
                    print("SIGCONT with 2 CPU hogs: PING answered again after \(continued.duration(to: .now))")
                    #expect(answered)
                }
            }
        }
    }
}
