import Foundation
import RedisTestSupport
import Testing

@testable import HealthDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("export -o writes a new file only")
struct ExportFileTests {
    func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-ex-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("a new file is created with mode 0600")
    func newFile() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bundle.json").path
        try writeNewFile(path, contents: Data("{}".utf8))
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{}")
    }

    @Test("an existing file is refused and left as it was")
    func existingFile() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bundle.json").path
        try "precious".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: NewFileError.self) { try writeNewFile(path, contents: Data("{}".utf8)) }
        do {
            try writeNewFile(path, contents: Data("{}".utf8))
        } catch {
            #expect(error.description == "\(path) exists; choose another name or remove it")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
    }

    @Test("a symbolic link planted at the path is not followed: its target keeps its content and mode")
    func plantedLink() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let victim = directory.appendingPathComponent("victim").path
        try "precious".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o644)
        let link = directory.appendingPathComponent("bundle.json").path
        #expect(symlink(victim, link) == 0)
        #expect(throws: NewFileError.self) { try writeNewFile(link, contents: Data("{}".utf8)) }
        // A dangling link (to a file that does not exist yet) is not followed either.
        let dangling = directory.appendingPathComponent("dangling.json").path
        let created = directory.appendingPathComponent("created-through-link").path
        #expect(symlink(created, dangling) == 0)
        #expect(throws: NewFileError.self) { try writeNewFile(dangling, contents: Data("{}".utf8)) }
        #expect(!FileManager.default.fileExists(atPath: created))
        var info = stat()
        #expect(stat(victim, &info) == 0 && info.st_mode & 0o777 == 0o644)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
    }

    @Test("redis-healthd export -o on an existing file fails with a clear message and leaves the file alone")
    func cli() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bundle.json").path
        try "precious".write(toFile: path, atomically: false, encoding: .utf8)
        do {
            let (binary, socket) = (try daemonBinary(), directory.appendingPathComponent("none.sock").path)
            _ = try await run(binary, ["export", "-o", path, "--socket", socket])
            Issue.record("export should refuse an existing file")
        } catch {
            #expect("\(error)".contains("\(path) exists; choose another name or remove it"), "\(error)")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
    }
}
