import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real `redis-server` process on a free loopback port, for integration tests.
///
/// The test starts it, injects faults into it (kill -9, SIGSTOP/SIGCONT, restart on the same port) and
/// always stops it: use ``withRedisServer(_:_:)``, which stops it however the body ends. Servers still running
/// when the test process exits are killed by an `atexit` hook.
///
/// Every method that waits (start, stop, kill -9, restart, redis-cli) suspends the calling task instead of
/// blocking a thread, so tests can run in parallel without starving the Swift cooperative pool.
public final class RedisServer: Sendable {
    /// How to start the server.
    public struct Options: Sendable {
        /// `requirepass` for the default user.
        public var password: String?
        /// An extra ACL user with full access: (name, password).
        public var aclUser: (name: String, password: String)?
        /// Serve TLS only (plain TCP off), with certificates from ``TestCertificates``.
        public var tls: Bool
        /// Serve the certificate without an IP SAN (``TestCertificates/dnsOnlyServerCertificate``).
        public var tlsDNSOnlyCertificate: Bool = false
        /// Serve this certificate and key instead of the shared server certificate (e.g. a short-lived one).
        public var tlsCertificate: (certificate: String, key: String)? = nil
        /// Require client certificates (`tls-auth-clients yes`).
        public var tlsAuthClients: Bool
        /// Run inside this network namespace (`ip netns exec`), bound to `bindAddress`.
        public var networkNamespace: String?
        /// The address to listen on. [127.0.0.1]
        public var bindAddress: String = "127.0.0.1"
        /// Extra lines for redis.conf, e.g. `rename-command HELLO ""`, `timeout 3`.
        public var extraConfig: [String]

        public init(
            password: String? = nil, aclUser: (name: String, password: String)? = nil, tls: Bool = false,
            tlsAuthClients: Bool = false, extraConfig: [String] = []
        ) {
            self.password = password
            self.aclUser = aclUser
            self.tls = tls
            self.tlsAuthClients = tlsAuthClients
            self.extraConfig = extraConfig
        }
    }

    public let port: Int
    public let options: Options
    public let directory: URL
    private struct State {
        var process: ChildProcess?
        var paused = false
        /// While the server is down (killed or stopped), its port is held, so that no other test's server is
        /// given it and reached by this test's clients; let go when it starts again and when it is destroyed.
        var hold: PortHold?
    }
    private let state = Mutex(State())

    private init(port: Int, options: Options, directory: URL) {
        self.port = port
        self.options = options
        self.directory = directory
    }

    /// Starts a server on a free port and waits until it accepts connections.
    public static func start(_ options: Options = Options()) async throws -> RedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-healthd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = RedisServer(port: try freePort(), options: options, directory: directory)
        do {
            try await server.writeConfig()
            try await server.launch()
        } catch {
            await server.destroy()
            throw error
        }
        return server
    }

    /// The process id, while running.
    public var pid: Int32? { self.state.withLock { $0.process?.pid } }

    private func writeConfig() async throws {
        var lines = [
            "bind \(self.options.bindAddress)",
            "dir \(self.directory.path)",
            "save \"\"",
            "appendonly no",
            "daemonize no",
            "logfile \(self.directory.appendingPathComponent("redis.log").path)",
            "protected-mode no",
        ]
        if self.options.tls {
            let certificates = try await TestCertificates.shared()
            lines += [
                "port 0",
                "tls-port \(self.port)",
                "tls-cert-file \(self.options.tlsCertificate?.certificate ?? (self.options.tlsDNSOnlyCertificate ? certificates.dnsOnlyServerCertificate : certificates.serverCertificate))",
                "tls-key-file \(self.options.tlsCertificate?.key ?? (self.options.tlsDNSOnlyCertificate ? certificates.dnsOnlyServerKey : certificates.serverKey))",
                "tls-ca-cert-file \(certificates.caCertificate)",
                "tls-auth-clients \(self.options.tlsAuthClients ? "yes" : "no")",
            ]
        } else {
            lines.append("port \(self.port)")
        }
        if let password = self.options.password { lines.append("requirepass \(password)") }
        if let user = self.options.aclUser { lines.append("user \(user.name) on >\(user.password) ~* &* +@all") }
        lines += self.options.extraConfig
        try lines.joined(separator: "\n").appending("\n").write(
            to: self.directory.appendingPathComponent("redis.conf"), atomically: true, encoding: .utf8)
    }

    private func launch() async throws {
        self.state.withLock { $0.hold.take()?.release() }
        let config = self.directory.appendingPathComponent("redis.conf").path
        let process: ChildProcess
        if let namespace = self.options.networkNamespace {
            // `ip netns exec` execs redis-server in place: the pid is the server's.
            process = try ChildProcess.spawn(
                try which("ip"), ["netns", "exec", namespace, try which("redis-server"), config])
        } else {
            process = try ChildProcess.spawn(try which("redis-server"), [config])
        }
        self.state.withLock {
            $0.process = process
            $0.paused = false
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw TestFixtureError("redis-server exited at start; its log: \(self.log().suffix(2000))")
            }
            if await canConnect(host: self.options.bindAddress, port: self.port, timeout: .milliseconds(500)) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFixtureError("redis-server did not accept connections on port \(self.port) within 10 s")
    }

    /// The server's log file.
    public func log() -> String {
        (try? String(contentsOf: self.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    /// `kill -9`: the server vanishes; the kernel resets its connections.
    public func kill9() async {
        await self.signalAndWait(SIGKILL)
    }

    /// Starts the server again on the same port (after ``kill9()`` or ``stop()``).
    public func restart() async throws {
        try await self.launch()
    }

    /// `SIGSTOP`: the server freezes; its sockets stay open and connects still succeed, replies never come.
    public func pause() {
        self.state.withLock { state in
            state.process?.signal(SIGSTOP)
            state.paused = true
        }
    }

    /// `SIGCONT` after ``pause()``.
    public func resume() {
        self.state.withLock { state in
            state.process?.signal(SIGCONT)
            state.paused = false
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    public func stop() async {
        let paused = self.state.withLock { $0.paused }
        await self.signalAndWait(paused ? SIGKILL : SIGTERM)
    }

    /// Stops the server and removes its directory.
    public func destroy() async {
        await self.stop()
        self.state.withLock { $0.hold.take()?.release() }
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func signalAndWait(_ signal: Int32) async {
        guard let process = self.state.withLock({ $0.process }) else { return }
        await process.terminate(signal: signal, grace: .seconds(5))
        // Held at once (TCP on loopback, unless the server ran in a network namespace of its own).
        let hold = self.options.networkNamespace == nil && self.options.bindAddress == "127.0.0.1" ? PortHold(port: self.port) : nil
        self.state.withLock { state in
            if state.process === process {
                state.process = nil
                state.paused = false
                state.hold = hold
            } else {
                hold?.release()
            }
        }
    }

    /// Runs `redis-cli` against this server and returns its output (for checks independent of our client).
    @discardableResult
    public func cli(_ arguments: String...) async throws -> String {
        var all = ["-h", self.options.bindAddress, "-p", "\(self.port)"]
        if self.options.tls {
            let certificates = try await TestCertificates.shared()
            all += ["--tls", "--cacert", certificates.caCertificate, "--sni", "localhost"]
            if self.options.tlsAuthClients {
                all += ["--cert", certificates.clientCertificate, "--key", certificates.clientKey]
            }
        }
        if let password = self.options.password { all += ["--no-auth-warning", "-a", password] }
        return try await run(try which("redis-cli"), all + arguments)
    }
}

/// Names of the clients connected to `server`, from CLIENT LIST (as seen by redis-cli, not by our client).
public func clientNames(_ server: RedisServer) async throws -> [String] {
    try await server.cli("CLIENT", "LIST").split(separator: "\n").compactMap { line in
        line.split(separator: " ").first { $0.hasPrefix("name=") }.map { String($0.dropFirst(5)) }
    }.filter { !$0.isEmpty }
}

/// Starts a server, runs `body`, and always destroys the server.
public func withRedisServer<T>(
    _ options: RedisServer.Options = .init(), _ body: (RedisServer) async throws -> T
) async throws -> T {
    let server = try await RedisServer.start(options)
    do {
        let result = try await body(server)
        await server.destroy()
        return result
    } catch {
        await server.destroy()
        throw error
    }
}
