import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` process on a free loopback port, for integration tests.
///
/// The test starts it, injects faults into it (kill -9, SIGSTOP/SIGCONT, restart on the same port) and
/// always stops it: use ``withRedisServer(_:_:)``, which stops it however the body ends. Servers still running
/// when the test process exits are killed by an `atexit` hook.
public final class RedisServer: @unchecked Sendable {
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
    private let lock = NSLock()
    private var process: ChildProcess?
    private var paused = false

    private init(port: Int, options: Options, directory: URL) {
        self.port = port
        self.options = options
        self.directory = directory
    }

    /// Starts a server on a free port and waits until it accepts connections.
    public static func start(_ options: Options = Options()) throws -> RedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-healthd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = RedisServer(port: try freePort(), options: options, directory: directory)
        try server.writeConfig()
        try server.launch()
        return server
    }

    /// The process id, while running.
    public var pid: Int32? { self.lock.withLock { self.process?.pid } }

    private func writeConfig() throws {
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
            let certificates = try TestCertificates.shared()
            lines += [
                "port 0",
                "tls-port \(self.port)",
                "tls-cert-file \(self.options.tlsDNSOnlyCertificate ? certificates.dnsOnlyServerCertificate : certificates.serverCertificate)",
                "tls-key-file \(self.options.tlsDNSOnlyCertificate ? certificates.dnsOnlyServerKey : certificates.serverKey)",
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

    private func launch() throws {
        let config = self.directory.appendingPathComponent("redis.conf").path
        let process: ChildProcess
        if let namespace = self.options.networkNamespace {
            // `ip netns exec` execs redis-server in place: the pid is the server's.
            process = try ChildProcess.spawn(try which("ip"), ["netns", "exec", namespace, try which("redis-server"), config])
        } else {
            process = try ChildProcess.spawn(try which("redis-server"), [config])
        }
        self.lock.withLock {
            self.process = process
            self.paused = false
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard process.isRunning else {
                throw TestFixtureError("redis-server exited at start; its log: \(self.log().suffix(2000))")
            }
            if canConnect(host: self.options.bindAddress, port: self.port) { return }
            usleep(10_000)
        }
        throw TestFixtureError("redis-server did not accept connections on port \(self.port) within 10 s")
    }

    /// The server's log file.
    public func log() -> String {
        (try? String(contentsOf: self.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    /// `kill -9`: the server vanishes; the kernel resets its connections.
    public func kill9() {
        self.signalAndWait(SIGKILL)
    }

    /// Starts the server again on the same port (after ``kill9()`` or ``stop()``).
    public func restart() throws {
        try self.launch()
    }

    /// `SIGSTOP`: the server freezes; its sockets stay open and connects still succeed, replies never come.
    public func pause() {
        guard let pid = self.pid else { return }
        kill(pid, SIGSTOP)
        self.lock.withLock { self.paused = true }
    }

    /// `SIGCONT` after ``pause()``.
    public func resume() {
        guard let pid = self.pid else { return }
        kill(pid, SIGCONT)
        self.lock.withLock { self.paused = false }
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    public func stop() {
        let paused = self.lock.withLock { self.paused }
        self.signalAndWait(paused ? SIGKILL : SIGTERM)
    }

    /// Stops the server and removes its directory.
    public func destroy() {
        self.stop()
        try? FileManager.default.removeItem(at: self.directory)
    }

    private func signalAndWait(_ signal: Int32) {
        guard let process = self.lock.withLock({ self.process }) else { return }
        process.terminate(signal: signal, grace: 5)
        self.lock.withLock {
            self.process = nil
            self.paused = false
        }
    }

    /// Runs `redis-cli` against this server and returns its output (for checks independent of our client).
    @discardableResult
    public func cli(_ arguments: String...) throws -> String {
        var all = ["-h", self.options.bindAddress, "-p", "\(self.port)"]
        if self.options.tls {
            let certificates = try TestCertificates.shared()
            all += ["--tls", "--cacert", certificates.caCertificate, "--sni", "localhost"]
            if self.options.tlsAuthClients {
                all += ["--cert", certificates.clientCertificate, "--key", certificates.clientKey]
            }
        }
        if let password = self.options.password { all += ["--no-auth-warning", "-a", password] }
        return try run(try which("redis-cli"), all + arguments)
    }
}

/// Names of the clients connected to `server`, from CLIENT LIST (as seen by redis-cli, not by our client).
public func clientNames(_ server: RedisServer) throws -> [String] {
    try server.cli("CLIENT", "LIST").split(separator: "\n").compactMap { line in
        line.split(separator: " ").first { $0.hasPrefix("name=") }.map { String($0.dropFirst(5)) }
    }.filter { !$0.isEmpty }
}

/// Starts a server, runs `body`, and always destroys the server.
public func withRedisServer<T>(
    _ options: RedisServer.Options = .init(), _ body: (RedisServer) async throws -> T
) async throws -> T {
    let server = try RedisServer.start(options)
    do {
        let result = try await body(server)
        server.destroy()
        return result
    } catch {
        server.destroy()
        throw error
    }
}

public struct TestFixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A child process started with posix_spawn and reaped with waitpid (Foundation's Process did not always
/// notice its child's exit here).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var exited = false
    /// The exit status once reaped (WEXITSTATUS), or nil.
    public private(set) var exitStatus: Int32?

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable`; `environment` entries are added to this process's environment.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], output: String = "/dev/null"
    ) throws -> ChildProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&fileActions, 2, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The child must not inherit this process's blocked signals (the test runner's threads block some),
        // or SIGTERM would never reach redis-server.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &fileActions, &attributes, argv, envp)
        guard result == 0 else { throw TestFixtureError("posix_spawn \(executable) failed: \(result)") }
        ServerRegistry.shared.add(pid)
        return ChildProcess(pid: pid)
    }

    /// Sends a signal.
    public func signal(_ signal: Int32) { kill(self.pid, signal) }

    /// Whether the child still runs (reaps it when it has exited).
    public var isRunning: Bool {
        self.lock.withLock {
            if self.exited { return false }
            var status: Int32 = 0
            let result = waitpid(self.pid, &status, WNOHANG)
            if result == self.pid || result < 0 {
                self.exited = true
                if result == self.pid, status & 0x7f == 0 { self.exitStatus = (status >> 8) & 0xff }
                ServerRegistry.shared.remove(self.pid)
                return false
            }
            return true
        }
    }

    /// Sends `signal`, waits up to `grace` seconds, then SIGKILLs; returns once the child is reaped.
    public func terminate(signal: Int32, grace: TimeInterval) {
        guard self.isRunning else { return }
        kill(self.pid, signal)
        let deadline = Date().addingTimeInterval(grace)
        while self.isRunning && Date() < deadline { usleep(2_000) }
        if self.isRunning {
            kill(self.pid, SIGKILL)
            while self.isRunning { usleep(2_000) }
        }
    }
}

/// Kills servers that a crashed or failed test left running, when the test process exits.
final class ServerRegistry: @unchecked Sendable {
    static let shared: ServerRegistry = {
        let registry = ServerRegistry()
        atexit {
            for pid in ServerRegistry.shared.lock.withLock({ ServerRegistry.shared.pids }) {
                kill(pid, SIGKILL)
            }
        }
        return registry
    }()

    private let lock = NSLock()
    private var pids = Set<Int32>()

    func add(_ pid: Int32) { self.lock.withLock { _ = self.pids.insert(pid) } }
    func remove(_ pid: Int32) { self.lock.withLock { _ = self.pids.remove(pid) } }
}

/// A TCP port on 127.0.0.1 that was free a moment ago, below 55535 so that port + 10000 (the cluster bus) fits.
public func freePort() throws -> Int {
    for _ in 0..<100 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFixtureError("socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { continue }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        if port < 55535 && !canConnect(port: port) && !canConnect(port: port + 10000) { return port }
    }
    throw TestFixtureError("no free port found")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(host: String = "127.0.0.1", port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr(host)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// The absolute path of an executable on PATH (or the usual sbin folders).
public func which(_ name: String) throws -> String {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestFixtureError("\(name) not found on PATH; install it (apt-get install redis-server redis-tools openssl)")
}

/// Runs a program to completion and returns its standard output; throws with its stderr when it fails.
@discardableResult
public func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFixtureError(
            "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errorData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}
