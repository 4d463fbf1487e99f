import Foundation
import Logging
import NIOCore
import RESP
import RedisTestSupport
import Testing

@testable import RedisClient

func configuration(
    _ server: RedisServer, username: String? = nil, password: String? = nil, clientName: String? = "redis-healthd-test",
    tls: RedisConnectionConfiguration.TLS? = nil, commandTimeout: Duration = .seconds(5)
) -> RedisConnectionConfiguration {
    RedisConnectionConfiguration(
        endpoint: RedisEndpoint(host: tls == nil ? "127.0.0.1" : "localhost", port: server.port),
        tls: tls, username: username, password: password.map(RedisSecret.init), clientName: clientName,
        commandTimeout: commandTimeout)
}

/// Expects `body` to throw a ``RedisClientError`` with `code`, and returns it.
func expectRedisError<T>(
    _ codes: RedisClientError.Code..., sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> RedisClientError? {
    do {
        _ = try await body()
        Issue.record("expected a \(codes) error, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as RedisClientError {
        #expect(codes.contains(error.code), "got \(error.code): \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a RedisClientError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("Connection against a real redis-server", .serialized)
struct RedisConnectionTests {
    @Test("PING, SET and GET over RESP3, with the client name set")
    func basicCommandsRESP3() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server))
            #expect(connection.protocolVersion == .resp3)
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            #expect(try await connection.send(RESPCommand("SET", "greeting", "hello\r\nworld")) == .simpleString("OK"))
            #expect(try await connection.send(RESPCommand("GET", "greeting")) == .bulkString("hello\r\nworld"))
            #expect(try await connection.send(RESPCommand("GET", "missing")) == .null)
            // RESP3 types come through: HGETALL is a map.
            _ = try await connection.send(RESPCommand("HSET", "h", "f", "v"))
            #expect(
                try await connection.send(RESPCommand("HGETALL", "h"))
                    == .map([RESPMapEntry(key: .bulkString("f"), value: .bulkString("v"))]))
            #expect(try await server.cli("CLIENT", "LIST").contains("name=redis-healthd-test"))
            await connection.close()
            #expect(!connection.isActive)
        }
    }

    @Test("1,000 pipelined commands get their own replies, in order")
    func pipelined() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server))
            defer { Task { await connection.close() } }
            // Concurrent callers: each gets its own reply.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<1_000 {
                    group.addTask {
                        let reply = try await connection.send(RESPCommand("ECHO", "value-\(index)"))
                        #expect(reply == .bulkString("value-\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            // One batch: one write, replies in order, error replies returned in place.
            let commands = (0..<1_000).map { _ in RESPCommand("INCR", "counter") } + [RESPCommand("NOSUCHCOMMAND")]
            let replies = try await connection.pipeline(commands)
            #expect(replies.count == 1_001)
            #expect(replies.prefix(1_000) == ArraySlice((1...1_000).map { RESPValue.integer(Int64($0)) }))
            #expect(replies.last?.isError == true)
            #expect(try await server.cli("GET", "counter").trimmingCharacters(in: .whitespacesAndNewlines) == "1000")
        }
    }

    @Test("without HELLO, it falls back to RESP2: AUTH and CLIENT SETNAME")
    func resp2Fallback() async throws {
        try await withRedisServer(.init(password: "pa55", extraConfig: ["rename-command HELLO \"\""])) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server, password: "pa55"))
            #expect(connection.protocolVersion == .resp2)
            #expect(try await connection.send(RESPCommand("SET", "k", "v")) == .simpleString("OK"))
            #expect(try await connection.send(RESPCommand("HSET", "h", "f", "v")) == .integer(1))
            // RESP2: a map comes back as a flat array.
            #expect(try await connection.send(RESPCommand("HGETALL", "h")) == .array([.bulkString("f"), .bulkString("v")]))
            #expect(try await server.cli("CLIENT", "LIST").contains("name=redis-healthd-test"))
            await connection.close()
        }
    }

    @Test("RESP2 when asked, with an ACL user")
    func resp2ByPreferenceWithACLUser() async throws {
        try await withRedisServer(.init(aclUser: ("healthd", "s3cret-acl"))) { server in
            var config = configuration(server, username: "healthd", password: "s3cret-acl")
            config.protocolPreference = .resp2
            let connection = try await RedisConnection.connect(configuration: config)
            #expect(connection.protocolVersion == .resp2)
            #expect(try await connection.send(RESPCommand("ACL", "WHOAMI")) == .bulkString("healthd"))
            await connection.close()
        }
    }

    @Test("RESP3 with an ACL user authenticates through HELLO")
    func resp3WithACLUser() async throws {
        try await withRedisServer(.init(aclUser: ("healthd", "s3cret-acl"))) { server in
            let connection = try await RedisConnection.connect(
                configuration: configuration(server, username: "healthd", password: "s3cret-acl"))
            #expect(connection.protocolVersion == .resp3)
            #expect(try await connection.send(RESPCommand("ACL", "WHOAMI")) == .bulkString("healthd"))
            await connection.close()
        }
    }

    @Test(
        "a wrong password is a clear authentication error that never shows the password",
        arguments: [false, true])
    func wrongPassword(resp2Server: Bool) async throws {
        let extra = resp2Server ? ["rename-command HELLO \"\""] : []
        try await withRedisServer(.init(password: "right-pass", extraConfig: extra)) { server in
            let error = await expectRedisError(.authentication) {
                try await RedisConnection.connect(configuration: configuration(server, password: "wrong-pass-xyz"))
            }
            let text = "\(String(describing: error)) \(String(reflecting: error))"
            #expect(text.contains("authentication failed"))
            #expect(text.contains("127.0.0.1:\(server.port)"))
            #expect(!text.contains("wrong-pass-xyz"))
            // No password at all against a server that wants one.
            _ = await expectRedisError(.authentication) {
                try await RedisConnection.connect(configuration: configuration(server))
            }
        }
    }

    @Test("TLS with the right CA works; the certificate is verified by name")
    func tlsRightCA() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(.init(tls: true)) { server in
            let connection = try await RedisConnection.connect(
                configuration: configuration(server, tls: .init(caFile: certificates.caCertificate)))
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            await connection.close()
            // By IP address: no SNI, verified against the certificate's IP SAN.
            var byIP = configuration(server, tls: .init(caFile: certificates.caCertificate))
            byIP.endpoint.host = "127.0.0.1"
            let viaIP = try await RedisConnection.connect(configuration: byIP)
            #expect(try await viaIP.send(RESPCommand("PING")) == .simpleString("PONG"))
            await viaIP.close()
        }
    }

    @Test("TLS with a client certificate when the server requires one")
    func tlsClientCertificate() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(.init(tls: true, tlsAuthClients: true)) { server in
            let connection = try await RedisConnection.connect(
                configuration: configuration(
                    server,
                    tls: .init(
                        caFile: certificates.caCertificate, certificateFile: certificates.clientCertificate,
                        keyFile: certificates.clientKey)))
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            await connection.close()
            // Without one, the server refuses us.
            let error = await expectRedisError(.tls) {
                try await RedisConnection.connect(
                    configuration: configuration(server, tls: .init(caFile: certificates.caCertificate)))
            }
            #expect(error != nil)
        }
    }

    @Test("TLS with a wrong CA or a wrong name fails with a clear TLS error")
    func tlsWrongCA() async throws {
        let certificates = try await TestCertificates.shared()
        var options = RedisServer.Options(tls: true)
        options.tlsDNSOnlyCertificate = true
        try await withRedisServer(options) { server in
            let error = await expectRedisError(.tls) {
                try await RedisConnection.connect(
                    configuration: configuration(server, tls: .init(caFile: certificates.otherCACertificate)))
            }
            #expect(String(describing: error).contains("TLS failed"))
            #expect(String(describing: error).contains("localhost:\(server.port)"))
            _ = await expectRedisError(.tls) {
                try await RedisConnection.connect(
                    configuration: configuration(
                        server, tls: .init(caFile: certificates.caCertificate, serverName: "not-the-server.example")))
            }
            // By IP address, against a certificate that names only "localhost".
            var byIP = configuration(server, tls: .init(caFile: certificates.caCertificate))
            byIP.endpoint.host = "127.0.0.1"
            _ = await expectRedisError(.tls) { try await RedisConnection.connect(configuration: byIP) }
            // The system roots do not trust our test CA either.
            _ = await expectRedisError(.tls) {
                try await RedisConnection.connect(configuration: configuration(server, tls: .init()))
            }
        }
    }

    @Test("unreadable TLS files are a configuration error naming the problem")
    func tlsMissingFiles() async throws {
        _ = await expectRedisError(.configuration) {
            try RedisConnection.makeSSLContext(.init(caFile: "/nonexistent/ca.pem"))
        }
    }

    @Test("a closed port fails fast with connection refused")
    func closedPort() async throws {
        let hold = try PortHold()  // nothing listens there, and no other test's server is given the port
        defer { hold.release() }
        let port = hold.port
        let started = ContinuousClock.now
        let error = await expectRedisError(.connectionRefused) {
            try await RedisConnection.connect(
                configuration: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "127.0.0.1", port: port)))
        }
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(String(describing: error).contains("connection refused"))
    }

    @Test("an unknown host name is a DNS error")
    func unknownHost() async throws {
        _ = await expectRedisError(.dnsFailure) {
            try await RedisConnection.connect(
                configuration: RedisConnectionConfiguration(endpoint: RedisEndpoint(host: "no-such-host.invalid", port: 6379)))
        }
    }

    @Test("a command to a SIGSTOPped server times out on time, and nothing hangs")
    func commandTimeoutOnStoppedServer() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(
                configuration: configuration(server, commandTimeout: .milliseconds(500)))
            #expect(try await connection.send(RESPCommand("PING")) == .simpleString("PONG"))
            server.pause()
            let started = ContinuousClock.now
            let error = await expectRedisError(.commandTimeout) { try await connection.send(RESPCommand("PING")) }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(490) && elapsed < .milliseconds(1_500), "took \(elapsed)")
            #expect(error?.command == "PING")
            // Many callers at once: all fail within the timeout.
            let batchStarted = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask { _ = await expectRedisError(.commandTimeout) { try await connection.send(RESPCommand("GET", "x")) } }
                }
            }
            #expect(ContinuousClock.now - batchStarted < .milliseconds(1_500))
            // A new connection to a frozen server: TCP connects (the kernel accepts), the handshake times out.
            let handshakeStarted = ContinuousClock.now
            _ = await expectRedisError(.commandTimeout) {
                try await RedisConnection.connect(configuration: configuration(server, commandTimeout: .milliseconds(500)))
            }
            #expect(ContinuousClock.now - handshakeStarted < .milliseconds(1_500))
            server.resume()
            // The late replies are dropped in order: the next command gets its own reply.
            #expect(try await connection.send(RESPCommand("ECHO", "after")) == .bulkString("after"))
            await connection.close()
        }
    }

    @Test("socket options are really set on the socket (getsockopt)")
    func socketOptions() async throws {
        try await withRedisServer { server in
            var config = configuration(server)
            config.tcp = .init(
                keepaliveIdle: .seconds(15), keepaliveProbeInterval: .seconds(5), keepaliveCount: 3,
                userTimeout: .seconds(30), noDelay: true)
            let connection = try await RedisConnection.connect(configuration: config)
            let readings = try await connection.readSocketOptions()
            #expect(readings.keepalive)
            #expect(readings.keepaliveIdleSeconds == 15)
            #expect(readings.keepaliveIntervalSeconds == 5)
            #expect(readings.keepaliveCount == 3)
            #expect(readings.userTimeoutMilliseconds == 30_000)
            #expect(readings.noDelay)
            await connection.close()

            config.tcp = .init(keepaliveIdle: .seconds(7), keepaliveProbeInterval: .seconds(2), keepaliveCount: 4, userTimeout: .milliseconds(2_500))
            let other = try await RedisConnection.connect(configuration: config)
            let otherReadings = try await other.readSocketOptions()
            #expect(otherReadings.keepaliveIdleSeconds == 7)
            #expect(otherReadings.keepaliveIntervalSeconds == 2)
            #expect(otherReadings.keepaliveCount == 4)
            #expect(otherReadings.userTimeoutMilliseconds == 2_500)
            await other.close()
        }
    }

    @Test("commands in flight when the server dies fail with a typed error, and later ones too")
    func serverKilled() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server))
            server.pause()
            async let inFlight = expectRedisError(.connectionClosed, .socket) { try await connection.send(RESPCommand("PING")) }
            try await Task.sleep(for: .milliseconds(100))
            await server.kill9()
            _ = await inFlight
            // Later commands fail at once with why the connection ended (here the reset).
            _ = await expectRedisError(.connectionClosed, .socket) { try await connection.send(RESPCommand("PING")) }
            #expect(!connection.isActive)
        }
    }

    @Test("an error reply is thrown with the server's message")
    func errorReply() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server))
            _ = try await connection.send(RESPCommand("SET", "s", "x"))
            let error = await expectRedisError(.errorReply) { try await connection.send(RESPCommand("INCR", "s")) }
            #expect(error?.message.contains("not an integer") == true)
            #expect(error?.command == "INCR")
            await connection.close()
        }
    }

    @Test("a command with a completion (the probes' way) gets its reply, or its error reply as a failure, secrets scrubbed")
    func completionErrorReply() async throws {
        let password = "completion-secret-83b1"
        try await withRedisServer(.init(password: password)) { server in
            let connection = try await RedisConnection.connect(configuration: configuration(server, password: password))
            func sent(_ command: RESPCommand) async -> Result<RESPValue, RedisClientError> {
                await withCheckedContinuation { continuation in
                    connection.send(command, timeout: .seconds(5)) { continuation.resume(returning: $0) }
                }
            }
            #expect(try await sent(RESPCommand("PING")).get().string == "PONG")
            // Redis echoes an unknown command's arguments in its error: the password among them must not survive.
            guard case .failure(let error) = await sent(RESPCommand("NOSUCHCOMMAND", password)) else {
                Issue.record("an error reply was taken for a reply")
                return
            }
            #expect(error.code == .errorReply)
            #expect(error.command == "NOSUCHCOMMAND")
            #expect(error.message.contains("unknown command"))
            #expect(!error.description.contains(password))
            #expect(!error.message.contains(password))
            await connection.close()
        }
    }
}
