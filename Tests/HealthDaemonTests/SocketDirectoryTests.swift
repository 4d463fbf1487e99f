import Foundation
import Logging
import RedisTestSupport
import Testing

@testable import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("The control socket's folder, and its mode set without following links", .serialized)
struct SocketDirectoryTests {
    let loader = ConfigurationLoader(credentialsDirectory: nil)

    func scratch(mode: mode_t) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-sd-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, mode)
        return directory
    }

    func yaml(_ directory: String) -> String {
        "control:\n  socket: \(directory)/control.sock\ntargets:\n  - {name: a, host: 127.0.0.1}\n"
    }

    @Test("check-config refuses a folder others can write (0777, 1777 sticky, 0770), with a clear message", arguments: [0o777, 0o1777, 0o770] as [mode_t])
    func writableFolder(mode: mode_t) throws {
        let directory = try scratch(mode: mode)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = loader.check(yaml(directory), file: "x.yaml")
        let who = mode & 0o002 != 0 ? "every user" : "its group"
        #expect(report.problems.map(\.description) == [
            "control.socket: the folder \(directory) can be written by \(who) (mode \(String(format: "%04o", mode))): another user could "
                + "replace or remove the socket. Put the socket in a folder only root and the daemon's user can write, such as "
                + "/run/redis-healthd (RuntimeDirectory= in the unit)"
        ])
        #expect(report.configuration == nil)
        // The daemon refuses it too, when it reads the file and when it binds.
        let file = "\(directory)/c.yaml"
        try yaml(directory).write(toFile: file, atomically: false, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try loader.load(file: file) }
    }

    @Test("a folder that does not exist yet is judged by the parent it would be created in")
    func missingFolder() throws {
        let directory = try scratch(mode: 0o777)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let problem = SocketDirectory.problem(socketPath: "\(directory)/sub/control.sock")
        #expect(problem?.hasPrefix("\(directory), where the folder \(directory)/sub would be created, can be written by every user") == true, "\(problem ?? "")")
        chmod(directory, 0o755)
        #expect(SocketDirectory.problem(socketPath: "\(directory)/sub/control.sock") == nil)
    }

    @Test("check-config refuses a folder owned by another user (nobody), naming the user")
    func foreignOwner() throws {
        guard getuid() == 0 else {
            print("SKIPPED foreign-owner test: needs root to chown")
            return
        }
        let directory = try scratch(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chown(directory, 65534, 65534) == 0)
        let report = loader.check(yaml(directory))
        let message = report.problems.map(\.description).joined(separator: "\n")
        #expect(message.hasPrefix("control.socket: the folder \(directory) belongs to "), "\(message)")
        #expect(message.contains("(uid 65534), neither root nor the daemon's user: that user could replace or remove the socket"), "\(message)")
        // Root and our own user are fine.
        #expect(chown(directory, 0, 0) == 0)
        #expect(loader.check(yaml(directory)).problems.isEmpty)
    }

    @Test("the daemon refuses to bind in an unsafe folder")
    func bindRefused() async throws {
        let directory = try scratch(mode: 0o777)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let server = try await ControlServer.start(
                path: "\(directory)/control.sock", mode: 0o660, backend: StubBackend(), logger: Logger(label: "test"))
            await server.stop()
            Issue.record("the control socket was bound in a world-writable folder")
        } catch {
            #expect("\(error)".contains("refusing the control socket \(directory)/control.sock: the folder \(directory) can be written by every user"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/control.sock"))
    }

    @Test("the socket has its configured mode as soon as it is there; no staging folder is left")
    func mode() async throws {
        let directory = try scratch(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/control.sock"
        for wanted in [0o640, 0o600, 0o660] as [UInt32] {
            let server = try await ControlServer.start(path: path, mode: wanted, backend: StubBackend(), logger: Logger(label: "test"))
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(UInt32(info.st_mode & 0o777) == wanted)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["control.sock"])
            await server.stop()
        }
    }

    @Test("a symbolic link planted at the temporary path the daemon once used does not change its target's mode")
    func plantedLink() async throws {
        let directory = try scratch(mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = "\(directory)/victim"
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o600)
        let path = "\(directory)/control.sock"
        // The earlier name: "<socket>.<pid>.tmp", bound, then chmod-ed by name.
        #expect(symlink(victim, "\(path).\(getpid()).tmp") == 0)
        let server = try await ControlServer.start(path: path, mode: 0o666 & ~0o002, backend: StubBackend(), logger: Logger(label: "test"))
        var info = stat()
        #expect(stat(victim, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600, "the victim's mode changed to \(String(info.st_mode & 0o777, radix: 8))")
        #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o777 == 0o664)
        let response = try await ControlClient(socketPath: path, timeout: 3).send("GET", "/status")
        #expect(response.status == 200)
        await server.stop()
    }
}
