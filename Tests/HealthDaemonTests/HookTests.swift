import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

private func firing(_ target: String, _ event: HookEvent, reason: String = "") -> HookFiring {
    HookFiring(
        target: target, event: event, state: event.rawValue, previousState: "healthy", reason: reason,
        endpoint: "127.0.0.1:6379", since: 0)
}

@Suite("Hook schedule (pure, time passed in)")
struct HookScheduleTests {
    @Test("min_interval: a flap down → healthy → down → healthy runs the hook twice (the first and the last), not four times")
    func flap() {
        var schedule = HookSchedule(minInterval: .seconds(60))
        schedule.arrived(firing("a", .down))
        #expect(schedule.next(now: 0) == .run(firing("a", .down)))
        schedule.finished()
        schedule.arrived(firing("a", .healthy))
        #expect(schedule.next(now: 1) == .wait(until: 60))
        schedule.arrived(firing("a", .down))
        #expect(schedule.next(now: 2) == .idle, "back where the last run was: nothing to tell")
        schedule.arrived(firing("a", .healthy))
        #expect(schedule.next(now: 3) == .wait(until: 60))
        #expect(schedule.next(now: 59.9) == .wait(until: 60))
        #expect(schedule.next(now: 60) == .run(firing("a", .healthy)))
        schedule.finished()
        #expect(schedule.next(now: 61) == .idle)
        #expect(schedule.coalesced == 1 && schedule.suppressed == 1)
    }

    @Test("a flap that ends where it began is suppressed: the last run already said so")
    func flapBack() {
        var schedule = HookSchedule(minInterval: .seconds(60))
        schedule.arrived(firing("a", .down))
        _ = schedule.next(now: 0)
        schedule.finished()
        schedule.arrived(firing("a", .healthy))
        schedule.arrived(firing("a", .down))
        #expect(schedule.next(now: 60) == .idle)
        #expect(schedule.suppressed == 1)
    }

    @Test("at most one run at a time; min_interval is per target")
    func oneAtATime() {
        var schedule = HookSchedule(minInterval: .seconds(60))
        schedule.arrived(firing("a", .down))
        schedule.arrived(firing("b", .down))
        #expect(schedule.next(now: 0) == .run(firing("a", .down)))
        #expect(schedule.next(now: 0) == .idle, "a run is going")
        schedule.finished()
        #expect(schedule.next(now: 1) == .run(firing("b", .down)), "another target is not held back by a's interval")
        schedule.finished()
        #expect(schedule.next(now: 2) == .idle)
    }
}

@Suite("Hook processes")
struct HookProcessTests {
    @Test("the command gets exactly the REDIS_HEALTHD_* environment and a PATH; output and exit status come back")
    func environment() async throws {
        let event = HookFiring(
            target: "cache-a", event: .down, state: "down", previousState: "healthy", reason: "127.0.0.1:1: connection refused",
            endpoint: "127.0.0.1:1", since: 1_800_000_000)
        let outcome = try await HookProcess.run(["/usr/bin/env"], environment: event.environment, timeout: .seconds(5))
        #expect(outcome.status == 0 && !outcome.timedOut)
        let lines = Set(outcome.output.split(separator: "\n").map(String.init))
        #expect(
            lines == [
                "REDIS_HEALTHD_TARGET=cache-a", "REDIS_HEALTHD_EVENT=down", "REDIS_HEALTHD_STATE=down",
                "REDIS_HEALTHD_PREVIOUS_STATE=healthy", "REDIS_HEALTHD_REASON=127.0.0.1:1: connection refused",
                "REDIS_HEALTHD_ENDPOINT=127.0.0.1:1", "REDIS_HEALTHD_SINCE=2027-01-15T08:00:00Z",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ], "\(lines)")
        let failing = try await HookProcess.run(["/bin/sh", "-c", "echo oops >&2; exit 3"], environment: [:], timeout: .seconds(5))
        #expect(failing.status == 3 && failing.output == "oops\n")
    }

    @Test("a hook that hangs is killed at its timeout, with what it started")
    func hangingHookKilled() async throws {
        let start = ContinuousClock.now
        let outcome = try await HookProcess.run(
            ["/bin/sh", "-c", "echo started; sleep 30 & sleep 30"], environment: [:], timeout: .milliseconds(500))
        let elapsed = ContinuousClock.now - start
        print("hanging hook: killed after \(elapsed)")
        #expect(outcome.timedOut && outcome.signal == 9)
        #expect(outcome.output == "started\n")
        #expect(elapsed < .seconds(10), "killed at the timeout, not after the 30 s sleeps: the background one included (its process group)")
        #expect(outcome.summary(timeout: .milliseconds(500)) == "killed at its timeout (500ms)")
    }

    @Test("a command that cannot start says so")
    func cannotStart() async {
        await #expect(throws: HookProcess.SpawnError.self) {
            try await HookProcess.run(["/nonexistent/hook"], environment: [:], timeout: .seconds(1))
        }
    }
}

@Suite("Hooks in the configuration")
struct HookConfigurationTests {
    @Test("hooks: parsed with defaults; mistakes reported with their key paths")
    func parse() throws {
        let loader = ConfigurationLoader(credentialsDirectory: nil)
        let good = try loader.parse(
            """
            targets:
              - {name: cache-a, host: h}
            hooks:
              - on: [down, healthy]
                run: ["/usr/local/bin/notify", "--to", "ops"]
              - on: [anomaly]
                targets: [cache-a]
                run: ["/bin/true"]
                timeout: 2s
                min_interval: 0s
            """)
        #expect(good.hooks.count == 2)
        #expect(good.hooks[0].events == [.down, .healthy] && good.hooks[0].timeout == .seconds(10) && good.hooks[0].minInterval == .seconds(60))
        #expect(good.hooks[0].label == "hooks[0] (notify)")
        #expect(good.hooks[1].targets == ["cache-a"] && good.hooks[1].minInterval == .zero)
        do {
            _ = try loader.parse(
                """
                targets:
                  - {name: cache-a, host: h}
                hooks:
                  - on: [down, sideways]
                    targets: [cache-z]
                    run: ["notify.sh"]
                """)
            Issue.record("should fail")
        } catch {
            let text = error.description
            #expect(text.contains("hooks[0].on: \"sideways\" is not one of down, degraded"), "\(text)")
            #expect(text.contains("hooks[0].targets: \"cache-z\" is not a configured target"), "\(text)")
            #expect(text.contains("hooks[0].run: \"notify.sh\" is not an absolute path"), "\(text)")
        }
    }
}

@Suite("Hooks on a real server's outage", .serialized)
struct HookDaemonTests {
    @Test("down → healthy: the hook runs with the right environment, never the password; its output is logged")
    func downThenHealthy() async throws {
        let password = "pw-\(UUID().uuidString.prefix(8))"
        try await withRedisServer(RedisServer.Options(password: password)) { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-hook-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let record = directory.appendingPathComponent("hook.log").path
            let passwordFile = directory.appendingPathComponent("password").path
            try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            let script = "env | grep -v '^PWD=' | sort >> \(record); echo --- >> \(record); echo ran $REDIS_HEALTHD_EVENT"
            let quoted = String(decoding: try JSONEncoder().encode(script), as: UTF8.self)
            let hooks = "hooks:\n  - on: [down, healthy]\n    run: [\"/bin/sh\", \"-c\", \(quoted)]\n    min_interval: 0s\n"
            let target = """
                  - name: cache-a
                    host: 127.0.0.1
                    port: \(server.port)
                    password_file: \(passwordFile)
                    probe_interval: 200ms
                    probe_timeout: 200ms

                """
            let logs = LogRecords()
            try await withDaemon(targetsYAML: target, topYAML: hooks, logs: logs) { _, _, _ in
                func blocks() -> [[String: String]] {
                    let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
                    return text.components(separatedBy: "---\n").filter { !$0.isEmpty }.map { block in
                        Dictionary(
                            block.split(separator: "\n").compactMap { line in
                                line.firstIndex(of: "=").map { (String(line[..<$0]), String(line[line.index(after: $0)...])) }
                            }, uniquingKeysWith: { $1 })
                    }
                }
                #expect(await eventually(within: .seconds(10)) { blocks().contains { $0["REDIS_HEALTHD_EVENT"] == "healthy" } })
                await server.stop()
                #expect(await eventually(within: .seconds(10)) { blocks().contains { $0["REDIS_HEALTHD_EVENT"] == "down" } })
                try await server.restart()
                #expect(await eventually(within: .seconds(10)) { blocks().filter { $0["REDIS_HEALTHD_EVENT"] == "healthy" }.count == 2 })
                let all = blocks()
                print("hook runs: \(all.map { "\($0["REDIS_HEALTHD_PREVIOUS_STATE"] ?? "?") → \($0["REDIS_HEALTHD_EVENT"] ?? "?")" })")
                #expect(all.map { $0["REDIS_HEALTHD_EVENT"] } == ["healthy", "down", "healthy"])
                let down = all[1]
                #expect(down["REDIS_HEALTHD_TARGET"] == "cache-a" && down["REDIS_HEALTHD_STATE"] == "down")
                #expect(["healthy", "reconnecting", "degraded"].contains(down["REDIS_HEALTHD_PREVIOUS_STATE"] ?? ""), "\(down)")
                #expect(down["REDIS_HEALTHD_REASON"]?.contains("connection refused") == true, "\(down)")
                #expect(down["REDIS_HEALTHD_ENDPOINT"] == "127.0.0.1:\(server.port)")
                #expect(down["REDIS_HEALTHD_SINCE"].flatMap { ISO8601DateFormatter().date(from: $0) } != nil)
                #expect(all[2]["REDIS_HEALTHD_STATE"] == "healthy" && all[2]["REDIS_HEALTHD_PREVIOUS_STATE"] != "healthy")
                for block in all {
                    #expect(Set(block.keys).subtracting(["PATH", "SHLVL", "_"]).allSatisfy { $0.hasPrefix("REDIS_HEALTHD_") }, "\(block.keys)")
                }
                let written = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
                #expect(!written.contains(password), "the password reached a hook")
                #expect(await eventually(within: .seconds(5)) { logs.with(event: "hook-run").count >= 3 })
                let outputs = logs.with(event: "hook-run").compactMap { $0.metadata["redis.hook_output"] }
                #expect(outputs.contains("ran down") && outputs.contains("ran healthy"), "\(outputs)")
                #expect(logs.with(event: "hook-run").allSatisfy { $0.metadata["redis.hook_result"] == "exit 0" })
            }
        }
    }
}
