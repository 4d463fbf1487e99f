import Foundation
import NIOCore
import NIOPosix
import RESP
import RedisClient
import RedisTestSupport
import Testing

@testable import HealthDaemon

/// Operator experience (17): common mistakes get errors that say what is wrong and what to do.
@Suite("Clear errors for common mistakes")
struct ClearErrorsTests {
    func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rh-err-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("a directory as --config, a missing file, an empty or missing password file, a mistyped key")
    func configurationMistakes() async throws {
        let directory = try self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let asDirectory = try await runCLI(["check-config", "--config", directory])
        #expect(asDirectory.status == 1 && asDirectory.errors.contains("\(directory) is a directory; give the file itself"), "\(asDirectory.errors)")
        let missing = try await runCLI(["check-config", "--config", "\(directory)/nope.yaml"])
        #expect(missing.errors.contains("\(directory)/nope.yaml does not exist"), "\(missing.errors)")

        try "".write(toFile: "\(directory)/empty.pw", atomically: true, encoding: .utf8)
        let yaml = """
            control: {socket: \(directory)/control.sock}
            targets:
              - {name: a, host: h, password_file: \(directory)/empty.pw}
              - {name: b, host: h, password_file: \(directory)/missing.pw}
              - {name: c, host: h, probe_intervall: 1s}
            """
        try yaml.write(toFile: "\(directory)/c.yaml", atomically: true, encoding: .utf8)
        let result = try await runCLI(["check-config", "--config", "\(directory)/c.yaml"])
        #expect(result.status == 1)
        #expect(result.errors.contains("targets[0].password_file: \(directory)/empty.pw is empty: put the password in it"), "\(result.errors)")
        #expect(result.errors.contains("targets[1].password_file: cannot read the password: \(directory)/missing.pw does not exist"), "\(result.errors)")
        #expect(result.errors.contains("targets[2].probe_intervall: unknown key; did you mean probe_interval?"), "\(result.errors)")
    }

    @Test("a mistyped command gets a suggestion")
    func mistypedCommand() async throws {
        let result = try await runCLI(["statuss"])
        #expect(result.status == 64)
        #expect(result.errors.contains("unknown command 'statuss'; did you mean status?"), "\(result.errors)")
    }

    @Test("TLS against a plain port, and plain against a TLS port: is this a TLS port?")
    func tlsMismatch() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer { plain in
            var configuration = RedisConnectionConfiguration(
                endpoint: RedisEndpoint(host: "localhost", port: plain.port), tls: .init(caFile: certificates.caCertificate),
                connectTimeout: .seconds(5), commandTimeout: .seconds(5))
            configuration.clientName = nil
            do {
                _ = try await RedisConnection.connect(configuration: configuration)
                Issue.record("TLS to a plain port connected")
            } catch {
                #expect((error as? RedisClientError)?.message.contains("is this a TLS port?") == true, "\(error)")
            }
        }
        try await withRedisServer(.init(tls: true)) { tls in
            let configuration = RedisConnectionConfiguration(
                endpoint: RedisEndpoint(host: "127.0.0.1", port: tls.port), connectTimeout: .seconds(5), commandTimeout: .seconds(5))
            do {
                _ = try await RedisConnection.connect(configuration: configuration)
                Issue.record("plain to a TLS port connected")
            } catch {
                #expect((error as? RedisClientError)?.message.contains("is this a TLS port? Then set tls.enabled: true") == true, "\(error)")
            }
        }
    }

    @Test("a metrics port already in use is said, and the daemon carries on")
    func metricsPortInUse() async throws {
        let squatter = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { squatter.close(promise: nil) }
        let port = try #require(squatter.localAddress?.port)
        let logs = LogRecords()
        try await withRedisServer { server in
            try await withDaemon(targetsYAML: quickTarget(server.port), topYAML: "metrics:\n  listen: \"127.0.0.1:\(port)\"\n", logs: logs) { _, client, _ in
                let answer = try? await client.send("GET", "/status")
                #expect(answer?.status == 200)
                // The metrics listener is tried after the control socket listens: wait for its word.
                let logged = await eventually(within: .seconds(15)) {
                    logs.all.contains { $0.message == "Cannot listen for metrics; carrying on without" }
                }
                #expect(logged)
                let message = logs.all.first { $0.message == "Cannot listen for metrics; carrying on without" }?.metadata["error.message"]
                #expect(message?.contains("port \(port) on 127.0.0.1 is already in use by another program") == true, "\(message ?? "not logged")")
            }
        }
    }
}
