import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with posix_spawn.
///
/// A dedicated thread per child sits in a blocking `waitpid` and reaps it the moment it exits, so waiting for
/// the exit (``waitForExit()``, ``terminate(signal:grace:)``) suspends a task without holding a thread of the
/// Swift cooperative pool. (Foundation's `Process` did not always notice its child's exit here, and blocking
/// waits in tests starved the code under test when `swift test` ran suites in parallel.)
public final class ChildProcess: Sendable {
    /// How a child ended.
    public struct Exit: Sendable, Hashable {
        /// The exit code (WEXITSTATUS) when it exited, nil when a signal ended it.
        public var status: Int32?
        /// The signal that ended it, if one did.
        public var signal: Int32?
    }

    public let pid: pid_t
    private let exit = StateWatch<Exit?>(nil)

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable`; `environment` entries are added to this process's environment. Standard output goes
    /// to `output` and standard error to `errors` (the same file unless given), both appended to.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], output: String = "/dev/null",
        errors: String? = nil
    ) throws -> ChildProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&fileActions, 2, errors ?? output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        // Nothing else is inherited. NIO's sockets are not close-on-exec: a connection's descriptor inherited by
        // a child (a redis-server started by a test running in parallel) keeps the connection open after its
        // owner closed it, so the peer never sees the FIN.
        closeInheritedDescriptors(&fileActions)
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
        ProcessRegistry.shared.add(pid)
        let child = ChildProcess(pid: pid)
        child.startReaper()
        return child
    }

    /// The thread that waits for the child (blocking `waitpid`, which a stop/continue does not end).
    private func startReaper() {
        let pid = self.pid
        let exit = self.exit
        let thread = Thread {
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
            ProcessRegistry.shared.remove(pid)
            let signal = status & 0x7f
            let ended =
                result == pid
                ? Exit(status: signal == 0 ? (status >> 8) & 0xff : nil, signal: signal == 0 ? nil : signal)
                : Exit(status: nil, signal: nil)
            exit.update { $0 = ended }
        }
        thread.name = "reaper-\(pid)"
        thread.stackSize = 64 * 1024
        thread.start()
    }

    /// Sends a signal, unless the child has already been reaped (its pid may belong to another process by now).
    public func signal(_ signal: Int32) {
        self.exit.read { exited in
            if exited == nil { _ = kill(self.pid, signal) }
        }
    }

    /// Whether the child still runs.
    public var isRunning: Bool { self.exit.value == nil }

    /// The exit code once the child has exited normally, else nil.
    public var exitStatus: Int32? { self.exit.value?.status }

    /// How the child ended, once it has.
    public var ended: Exit? { self.exit.value }

    /// Waits (suspending, no thread held) until the child has exited and been reaped.
    @discardableResult
    public func waitForExit() async -> Exit? {
        _ = await self.exit.wait { $0 != nil }
        return self.exit.value
    }

    /// Waits at most `timeout` for the child to exit; returns whether it did.
    public func waitForExit(within timeout: Duration) async -> Bool {
        await self.exit.wait(until: { $0 != nil }, within: timeout)
    }

    /// Sends `signal`, waits up to `grace`, then SIGKILLs; returns once the child is reaped.
    public func terminate(signal: Int32, grace: Duration) async {
        guard self.isRunning else { return }
        self.signal(signal)
        if await self.waitForExit(within: grace) { return }
        self.signal(SIGKILL)
        // SIGKILL always ends a process: wait for the reaper, also when this task is cancelled (an unstructured
        // task does not inherit the cancellation).
        _ = await Task { await self.waitForExit() }.value
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: AddCloseFrom.self)
}

/// Makes the child close every descriptor from 3 on. Without `addclosefrom` (an older glibc), marks this
/// process's descriptors close-on-exec instead, which misses those opened concurrently.
private func closeInheritedDescriptors(_ fileActions: inout posix_spawn_file_actions_t) {
    if let addCloseFrom, addCloseFrom(&fileActions, 3) == 0 { return }
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        guard let fd = Int32(entry), fd >= 3 else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}

/// Kills child processes that a crashed or failed test left running, when the test process exits.
final class ProcessRegistry: Sendable {
    static let shared: ProcessRegistry = {
        let registry = ProcessRegistry()
        atexit {
            for pid in ProcessRegistry.shared.pids.withLock({ $0 }) {
                kill(pid, SIGKILL)
            }
        }
        return registry
    }()

    private let pids = Mutex(Set<Int32>())

    func add(_ pid: Int32) { self.pids.withLock { _ = $0.insert(pid) } }
    func remove(_ pid: Int32) { self.pids.withLock { _ = $0.remove(pid) } }
}
