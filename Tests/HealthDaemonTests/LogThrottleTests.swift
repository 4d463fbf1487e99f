import Foundation
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience (7): quiet, lasting evidence in the journal.
@Suite("What of a run of failures reaches the log")
struct LogThrottleTests {
    @Test("a five-minute outage with an attempt a second: the first failure, a summary a minute, the recovery")
    func fiveMinuteOutage() {
        var throttle = LogThrottle(summaryInterval: 60)
        var logged = 0
        var summaries: [Int] = []
        for second in 0..<300 {
            switch throttle.failure(kind: "connection-refused", now: Double(second)) {
            case .log: logged += 1
            case .summary(let count, let seconds):
                summaries.append(count)
                #expect(seconds == 60)
            case .quiet: break
            }
        }
        #expect(logged == 1)
        #expect(summaries == [60, 60, 60, 60])
        let run = throttle.recovered(now: 300)
        #expect(run?.failures == 300 && run?.seconds == 300)
        #expect(!throttle.isFailing)
        // The next outage starts afresh.
        #expect(throttle.failure(kind: "connection-refused", now: 400) == .log)
    }

    @Test("a new kind of failure during a run is logged")
    func newKind() {
        var throttle = LogThrottle(summaryInterval: 60)
        #expect(throttle.failure(kind: "connection-refused", now: 0) == .log)
        #expect(throttle.failure(kind: "connection-refused", now: 1) == .quiet)
        #expect(throttle.failure(kind: "connect-timeout", now: 2) == .log)
        #expect(throttle.failure(kind: "connect-timeout", now: 3) == .quiet)
        #expect(throttle.recovered(now: 4)?.failures == 4)
        #expect(throttle.recovered(now: 5) == nil, "no run, nothing to report")
    }

    @Test("a daemon whose target is down logs one warning, not one per attempt")
    func daemonQuietDuringOutage() async throws {
        let hold = try PortHold()  // nothing listens: every attempt is refused (and no other test's server gets it)
        defer { hold.release() }
        let port = hold.port
        let logs = LogRecords()
        let yaml = """
              - name: nowhere
                host: 127.0.0.1
                port: \(port)
                probe_interval: 200ms
                probe_timeout: 200ms
                reconnect: {backoff_base: 10ms, backoff_cap: 50ms}

            """
        try await withDaemon(targetsYAML: yaml, logs: logs) { daemon, _, _ in
            #expect(await eventually(within: .seconds(30)) {
                daemon.events.entries(since: 0, target: "nowhere").filter { $0.kind == "connection-failed" }.count >= 10
            })
            let attempts = daemon.events.entries(since: 0, target: "nowhere").filter { $0.kind == "connection-failed" }.count
            let warnings = logs.all.filter { $0.level == .warning && $0.message == "Connection failed" }.count
            print("outage: \(attempts) failed attempts, \(warnings) warnings")
            #expect(warnings == 1, "one warning for the run, not one per attempt (\(attempts) attempts)")
        }
    }
}
