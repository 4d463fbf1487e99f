import Foundation
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The built `redis-healthd` binary, next to the test bundle.
func daemonBinary() throws -> String {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("redis-healthd").path }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw TestFixtureError("redis-healthd binary not found next to \(directory.path); run `swift build --build-tests`")
    }
    return found
}

@Suite("sd_notify from the real binary on a real NOTIFY_SOCKET", .serialized)
struct NotifyTests {
    @Test("READY, STATUS on state changes, WATCHDOG cadence, RELOADING/READY on SIGHUP, STOPPING on SIGTERM and exit 0")
    func notifyLifecycle() async throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        try await withRedisServer { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-run-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("redis-healthd.yaml").path
            let yaml = """
                control:
                  socket: \(directory.path)/control.sock
                targets:
                  - name: cache-a
                    host: 127.0.0.1
                    port: \(server.port)
                """
            try yaml.write(toFile: config, atomically: true, encoding: .utf8)
            let started = ContinuousClock.now
            let daemon = try ChildProcess.spawn(
                try daemonBinary(), ["run", "--config", config],
                environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"],
                output: directory.appendingPathComponent("daemon.log").path)
            defer { daemon.signal(SIGKILL) }  // its reaper thread collects it

            let ready = await notify.waitFor("READY=1", within: .seconds(10))
            #expect(ready != nil, "READY=1 never came")
            if let ready { print("start → READY=1: \(started.duration(to: ready))") }
            #expect(await notify.waitFor("STATUS=1/1 targets healthy; cache-a", within: .seconds(10)) != nil)

            // The CLI against the running daemon.
            let binary = try daemonBinary()
            let table = try await run(binary, ["status", "--socket", "\(directory.path)/control.sock"])
            #expect(table.hasPrefix("TARGET   STATE    SINCE"), "\(table)")
            #expect(table.contains("cache-a  healthy"), "\(table)")
            let jsonText = try await run(binary, ["status", "cache-a", "--json", "--socket", "\(directory.path)/control.sock"])
            #expect(jsonText.contains("\"state\":\"healthy\""))
            let events = try await run(binary, ["events", "--socket", "\(directory.path)/control.sock"])
            #expect(events.contains("cache-a\tinteractive connection up to 127.0.0.1:\(server.port) (RESP3)"), "\(events)")
            do {
                _ = try await run(binary, ["status", "--socket", "\(directory.path)/nothing.sock"])
                Issue.record("status against a missing socket should fail")
            } catch {
                #expect("\(error)".contains("redis-healthd is not running"), "\(error)")
            }

            // Watchdog: WATCHDOG_USEC=1 s → a ping every 0.5 s.
            let watchdogFrom = ContinuousClock.now
            try await Task.sleep(for: .seconds(2))
            let watchdogUntil = ContinuousClock.now
            let pings = notify.messages.filter {
                $0.at >= watchdogFrom && $0.at <= watchdogUntil && $0.message.contains("WATCHDOG=1")
            }.count
            // One ping every 0.5 s; a busy machine may stretch the 2 s sleep, so compare with the time that passed.
            let expected = Int(seconds(watchdogFrom.duration(to: watchdogUntil)) / 0.5)
            #expect(pings >= expected - 2 && pings <= expected + 2, "\(pings) watchdog pings, about \(expected) expected")

            // Redis dies and returns: STATUS follows.
            let killed = ContinuousClock.now
            await server.kill9()
            #expect(await notify.waitFor("STATUS=0/1 targets healthy; cache-a down", after: killed, within: .seconds(10)) != nil)
            let restarted = ContinuousClock.now
            try await server.restart()
            #expect(await notify.waitFor("STATUS=1/1 targets healthy", after: restarted, within: .seconds(10)) != nil)

            // SIGHUP with a valid file: RELOADING=1 with MONOTONIC_USEC, then READY=1.
            let hup = ContinuousClock.now
            daemon.signal(SIGHUP)
            #expect(await notify.waitFor("RELOADING=1\nMONOTONIC_USEC=", after: hup, within: .seconds(5)) != nil)
            #expect(await notify.waitFor("READY=1", after: hup, within: .seconds(5)) != nil)
            // SIGHUP with an invalid file: still RELOADING → READY, the daemon keeps running on the old config.
            try "targets: 3\n".write(toFile: config, atomically: true, encoding: .utf8)
            let badHup = ContinuousClock.now
            daemon.signal(SIGHUP)
            #expect(await notify.waitFor("READY=1", after: badHup, within: .seconds(5)) != nil)
            #expect(daemon.isRunning)
            let log = (try? String(contentsOf: directory.appendingPathComponent("daemon.log"), encoding: .utf8)) ?? ""
            #expect(log.contains("Configuration reload rejected"))

            // SIGTERM: STOPPING=1, then a clean exit.
            let term = ContinuousClock.now
            daemon.signal(SIGTERM)
            #expect(await notify.waitFor("STOPPING=1", after: term, within: .seconds(5)) != nil)
            #expect(await eventually(within: .seconds(10)) { !daemon.isRunning })
            #expect(daemon.exitStatus == 0)
            #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/control.sock"))
            // The service group's graceful shutdown ran to its end: the notifier flushed, then "Stopped".
            let finalLog = (try? String(contentsOf: directory.appendingPathComponent("daemon.log"), encoding: .utf8)) ?? ""
            #expect(finalLog.contains("Stopping: closing connections"), "\(finalLog)")
            #expect(finalLog.contains("Stopped"), "\(finalLog)")
        }
    }
}
