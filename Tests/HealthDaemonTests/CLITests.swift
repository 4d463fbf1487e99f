import Foundation
import HealthDaemon
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a run of the CLI gave: exit status, standard output, standard error.
struct CLIResult: Sendable {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs the `redis-healthd` binary as a process (never blocking the task pool) and returns what it gave.
func runCLI(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> CLIResult {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("rh-cli-\(UUID().uuidString.prefix(10))").path
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let child = try ChildProcess.spawn(
        try daemonBinary(), arguments, environment: environment, output: base + ".out", errors: base + ".err")
    guard await child.waitForExit(within: timeout) else {
        await child.terminate(signal: SIGKILL, grace: .zero)
        throw TestFixtureError("redis-healthd \(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    func read(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
    return CLIResult(status: child.exitStatus ?? -1, output: read(base + ".out"), errors: read(base + ".err"))
}

func quickTarget(_ port: Int, probeTimeout: String = "200ms") -> String {
    """
      - name: cache-a
        host: 127.0.0.1
        port: \(port)
        probe_interval: 200ms
        probe_timeout: \(probeTimeout)
        reconnect: {min_interval: 0s}

    """
}

@Suite("The CLI as a process: exit codes, finding the socket, events")
struct CLITests {
    /// Operator experience (9): `status` exit codes for monitoring and scripts.
    @Test("status exits 0 when healthy, 2 when a target is down, 3 when the daemon cannot be asked")
    func statusExitCodes() async throws {
        try await withRedisServer { server in
            try await withDaemon(targetsYAML: quickTarget(server.port)) { _, client, socket in
                #expect(await eventually(within: .seconds(10)) {
                    (try? await runCLI(["status", "--socket", socket]))?.status == 0
                })
                let healthy = try await runCLI(["status", "cache-a", "--socket", socket])
                #expect(healthy.status == 0 && healthy.output.contains("healthy"), "\(healthy)")
                await server.kill9()
                #expect(await eventually(within: .seconds(10)) {
                    (try? await runCLI(["status", "--socket", socket]))?.status == 2
                })
                let down = try await runCLI(["status", "--json", "--socket", socket])
                #expect(down.status == 2 && down.output.contains("\"down\""), "\(down)")
            }
        }
        let missing = try await runCLI(["status", "--socket", "/nonexistent/control.sock"])
        #expect(missing.status == 3)
        #expect(missing.errors.contains("there is no socket at /nonexistent/control.sock"), "\(missing.errors)")
        #expect(missing.errors.contains("socket from --socket"), "\(missing.errors)")
    }

    /// Operator experience (10): the socket comes from --socket, $REDIS_HEALTHD_SOCKET or the configuration file;
    /// the error says which socket was tried, where that came from, and what is wrong with it.
    @Test("the socket is found from the environment or the configuration; errors say what is wrong")
    func findingTheSocket() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-sock-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withRedisServer { server in
            try await withDaemon(targetsYAML: quickTarget(server.port)) { _, _, socket in
                let byEnvironment = try await runCLI(["status"], environment: ["REDIS_HEALTHD_SOCKET": socket])
                #expect(byEnvironment.output.contains("cache-a"), "\(byEnvironment)")
                let config = directory.appendingPathComponent("client.yaml").path
                try "control:\n  socket: \(socket)\ntargets: []\n".write(toFile: config, atomically: true, encoding: .utf8)
                let byConfig = try await runCLI(["status", "--config", config])
                #expect(byConfig.output.contains("cache-a"), "\(byConfig)")
            }
        }
        // Not a socket.
        let file = directory.appendingPathComponent("plain-file").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let notSocket = try await runCLI(["status"], environment: ["REDIS_HEALTHD_SOCKET": file])
        #expect(notSocket.errors.contains("\(file) is not a socket"), "\(notSocket.errors)")
        #expect(notSocket.errors.contains("socket from REDIS_HEALTHD_SOCKET"), "\(notSocket.errors)")
        // A socket a stopped daemon left behind: nothing listens.
        let stale = directory.appendingPathComponent("stale.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in stale.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        let staleResult = try await runCLI(["status", "--socket", stale])
        #expect(staleResult.errors.contains("nothing listens on \(stale)"), "\(staleResult.errors)")
        #expect(staleResult.status == 3)
    }

    /// Operator experience (11): `events --json` (one object a line, with kind and target) and `--target`.
    @Test("events --json prints one JSON object a line with kind and target; --target filters")
    func eventsJSON() async throws {
        try await withRedisServer { server in
            try await withRedisServer { other in
                let targets = quickTarget(server.port) + quickTarget(other.port).replacingOccurrences(of: "cache-a", with: "cache-b")
                try await withDaemon(targetsYAML: targets) { _, _, socket in
                    #expect(await eventually(within: .seconds(10)) {
                        (try? await runCLI(["status", "--socket", socket]))?.status == 0
                    })
                    let all = try await runCLI(["events", "--json", "--socket", socket])
                    let objects = all.output.split(separator: "\n").compactMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    }
                    #expect(objects.count == all.output.split(separator: "\n").count, "every line is one JSON object")
                    #expect(objects.contains { $0["kind"] as? String == "state-changed" && $0["target"] as? String == "cache-b" })
                    #expect(objects.allSatisfy { $0["sequence"] is Int && $0["time"] is String && $0["event"] is String })
                    let onlyA = try await runCLI(["events", "--json", "--target", "cache-a", "--socket", socket])
                    let targetsSeen = Set(onlyA.output.split(separator: "\n").compactMap {
                        (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["target"] as? String
                    })
                    #expect(targetsSeen == ["cache-a"])
                    // Past the end: said, not silent.
                    let past = try await runCLI(["events", "--since", "100000", "--socket", socket])
                    #expect(past.status == 0 && past.output.isEmpty)
                    #expect(past.errors.contains("numbers start again at 1 with every start"), "\(past.errors)")
                }
            }
        }
    }

    /// Operator experience (13): `--version` names the commit and the build date.
    @Test("--version names the commit and when it was built")
    func version() async throws {
        let result = try await runCLI(["--version"])
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.wholeMatch(of: /\d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown), built \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)/) != nil, "\(text)")
    }

    /// Operator experience (11): `events --follow` used to exit 1 when the daemon restarted.
    @Test("events --follow waits for a restarted daemon and follows it, saying that numbers start again")
    func followAcrossRestart() async throws {
        try await withRedisServer { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-follow-\(UUID().uuidString.prefix(6))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let socket = "\(directory)/control.sock"
            let config = "\(directory)/follow.yaml"
            try "control:\n  socket: \(socket)\ntargets:\n\(quickTarget(server.port))".write(toFile: config, atomically: true, encoding: .utf8)
            let binary = try daemonBinary()
            let first = try ChildProcess.spawn(binary, ["run", "--config", config])
            defer { first.signal(SIGKILL) }
            let client = ControlClient(socketPath: socket, timeout: 5)
            #expect(await eventually(within: .seconds(10)) { (try? await client.send("GET", "/status"))?.status == 200 })
            let follower = try ChildProcess.spawn(
                binary, ["events", "--follow", "--socket", socket], output: "\(directory)/out", errors: "\(directory)/err")
            defer { follower.signal(SIGKILL) }
            func read(_ name: String) -> String {
                String(decoding: FileManager.default.contents(atPath: "\(directory)/\(name)") ?? Data(), as: UTF8.self)
            }
            #expect(await eventually(within: .seconds(10)) { read("out").contains("cache-a") })
            await first.terminate(signal: SIGTERM, grace: .seconds(10))
            #expect(await eventually(within: .seconds(10)) { read("err").contains("waiting for it") })
            let second = try ChildProcess.spawn(binary, ["run", "--config", config])
            defer { second.signal(SIGKILL) }
            #expect(await eventually(within: .seconds(15)) { read("err").contains("event numbers start again at 1") }, "\(read("err"))")
            #expect(follower.isRunning, "the follower kept going")
            await second.terminate(signal: SIGTERM, grace: .seconds(10))
        }
    }

    /// Operator experience (14): a second `run` with the same control socket used to take it over silently.
    @Test("a second daemon on the same control socket refuses to start")
    func secondDaemonRefused() async throws {
        try await withRedisServer { server in
            try await withDaemon(targetsYAML: quickTarget(server.port)) { _, client, socket in
                let config = (socket as NSString).deletingLastPathComponent + "/second.yaml"
                try "control:\n  socket: \(socket)\ntargets:\n\(quickTarget(server.port))".write(
                    toFile: config, atomically: true, encoding: .utf8)
                let second = try await runCLI(["run", "--config", config], timeout: .seconds(20))
                #expect(second.status == 1)
                #expect(second.errors.contains("another redis-healthd is running on \(socket)"), "\(second.errors)")
                // The first one still answers.
                #expect(try await client.send("GET", "/status").status == 200)
            }
        }
    }

    /// Operator experience (15): `run … 2>&1 | head -1` used to kill the daemon (SIGILL) once the pipe closed.
    @Test("a closed stderr does not stop the daemon")
    func closedStandardError() async throws {
        try await withRedisServer { server in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-pipe-\(UUID().uuidString.prefix(6))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let socket = directory.appendingPathComponent("control.sock").path
            let config = directory.appendingPathComponent("pipe.yaml").path
            try "control:\n  socket: \(socket)\ntargets:\n\(quickTarget(server.port))".write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try ChildProcess.spawn(
                "/bin/sh", ["-c", "\"$0\" run --config \"$1\" 2>&1 | head -c 1 >/dev/null", try daemonBinary(), config])
            defer { daemon.signal(SIGKILL) }
            let client = ControlClient(socketPath: socket, timeout: 5)
            #expect(await eventually(within: .seconds(10)) { (try? await client.send("GET", "/status"))?.status == 200 })
            // Failures are logged on every attempt: writes to the closed pipe.
            await server.kill9()
            try await Task.sleep(for: .seconds(2))
            #expect(try await client.send("GET", "/status").status == 200, "the daemon died when its stderr closed")
            try await server.restart()
            #expect(await eventually(within: .seconds(10)) {
                ((try? await client.send("GET", "/status/cache-a")).map(json)?["state"] as? String) == "healthy"
            })
            _ = try? await run("/usr/bin/pkill", ["-f", "run --config \(config)"])
        }
    }
}
